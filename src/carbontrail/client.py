"""Remote ingest client with an on-disk offline buffer.

A remote worker sends its spans to ``carbontrail serve`` through :class:`IngestClient`. Every batch
is first written to the buffer directory (one JSON file per batch, written to a temporary name and
renamed, so a killed process leaves either a whole batch or nothing), then posted. A batch file is
deleted only after the server has stored it; while the server is unreachable or answers 5xx/429 the
files stay and are retried on the next :meth:`IngestClient.flush` (with back-off when asked to
wait). The server is idempotent on ``span_id``, so a batch sent twice (a crash between the server's
reply and the delete) is stored once. Batches the server rejects as invalid (422) are moved to
``rejected/`` with the server's problem detail, never silently dropped.
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from carbontrail.errors import RemoteError
from carbontrail.span import SpanRecord

__all__ = ["FlushResult", "IngestClient"]

log = logging.getLogger(__name__)

MAX_BATCH = 1000


@dataclass(frozen=True, slots=True)
class FlushResult:
    """Outcome of a flush: spans stored (new + already present), batches still pending, batches rejected."""

    sent_spans: int
    inserted: int
    pending_batches: int
    rejected_batches: int


class IngestClient:
    """Send spans to a carbontrail service, buffering on disk while it cannot be reached.

    Args:
        url: the service's base URL, e.g. ``http://127.0.0.1:8520``.
        token: an API token with the ``ingest`` role (or ``admin``).
        buffer_dir: where unsent batches wait (default ``.carbontrail/outbox``).
        batch_size: spans per request (at most 1000).
        timeout_s: per-request timeout in seconds.
        transport: an ``httpx`` transport (tests).
    """

    def __init__(
        self,
        url: str,
        token: str,
        *,
        buffer_dir: str | Path = ".carbontrail/outbox",
        batch_size: int = 500,
        timeout_s: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not 1 <= batch_size <= MAX_BATCH:
            raise ValueError(f"batch_size must be within 1..{MAX_BATCH}")
        self.url = url.rstrip("/")
        self.buffer_dir = Path(buffer_dir)
        self.rejected_dir = self.buffer_dir / "rejected"
        self.buffer_dir.mkdir(parents=True, exist_ok=True)
        self.batch_size = batch_size
        self._http = httpx.Client(
            base_url=self.url,
            timeout=timeout_s,
            transport=transport,
            headers={"Authorization": f"Bearer {token}", "User-Agent": "carbontrail-ingest-client"},
        )

    # -- buffer ---------------------------------------------------------------------------------
    def enqueue(self, records: Iterable[SpanRecord | dict[str, Any]]) -> int:
        """Write spans to the on-disk buffer (no network); return how many were buffered."""
        items = [r.to_dict() if isinstance(r, SpanRecord) else dict(r) for r in records]
        for i in range(0, len(items), self.batch_size):
            chunk = items[i : i + self.batch_size]
            name = f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.json"
            tmp = self.buffer_dir / f".{name}.tmp"
            with open(tmp, "w", encoding="utf-8") as fh:
                json.dump({"spans": chunk}, fh, default=str)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.buffer_dir / name)
        return len(items)

    def pending(self) -> list[Path]:
        """Batch files waiting to be sent, oldest first."""
        return sorted(p for p in self.buffer_dir.glob("*.json") if not p.name.startswith("."))

    def pending_spans(self) -> int:
        """Number of spans waiting in the buffer."""
        n = 0
        for p in self.pending():
            try:
                n += len(json.loads(p.read_text())["spans"])
            except (OSError, ValueError, KeyError):
                continue
        return n

    # -- sending --------------------------------------------------------------------------------
    def send(self, records: Iterable[SpanRecord | dict[str, Any]], *, wait_s: float = 0.0) -> FlushResult:
        """Buffer ``records`` and try to deliver everything pending (see :meth:`flush`)."""
        self.enqueue(records)
        return self.flush(wait_s=wait_s)

    def flush(self, *, wait_s: float = 0.0, backoff_s: float = 0.2) -> FlushResult:
        """Post pending batches in order until done or the server is unavailable.

        With ``wait_s > 0`` it keeps retrying with exponential back-off (capped at 5 s) for up to
        ``wait_s`` seconds. Raises :class:`RemoteError` on 401/403 (the batches stay buffered).
        """
        deadline = time.monotonic() + wait_s
        sent = inserted = rejected = 0
        delay = backoff_s
        while True:
            blocked = False
            for path in self.pending():
                try:
                    body = path.read_bytes()
                except FileNotFoundError:  # another flusher took it
                    continue
                try:
                    r = self._http.post(
                        "/api/v1/spans", content=body, headers={"Content-Type": "application/json"}
                    )
                except httpx.HTTPError as exc:
                    log.info("ingest server unreachable (%s); %d batch(es) kept", exc, len(self.pending()))
                    blocked = True
                    break
                if r.status_code == 200:
                    data = r.json()
                    sent += int(data.get("received", 0))
                    inserted += int(data.get("inserted", 0))
                    path.unlink(missing_ok=True)
                elif r.status_code in (401, 403):
                    raise RemoteError(
                        f"ingest refused ({r.status_code}): {_detail(r)}; batches kept in {self.buffer_dir}"
                    )
                elif r.status_code in (400, 413, 422):
                    self.rejected_dir.mkdir(exist_ok=True)
                    os.replace(path, self.rejected_dir / path.name)
                    (self.rejected_dir / (path.name + ".problem")).write_text(r.text)
                    log.error("ingest rejected batch %s: %s", path.name, _detail(r))
                    rejected += 1
                else:  # 429, 5xx: try again later
                    log.info("ingest server answered %d; batches kept", r.status_code)
                    blocked = True
                    break
            if not blocked or time.monotonic() + delay > deadline:
                break
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
        return FlushResult(sent, inserted, len(self.pending()), rejected)

    def close(self) -> None:
        """Close the HTTP connection pool (the buffer stays on disk)."""
        self._http.close()

    def __enter__(self) -> IngestClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _detail(r: httpx.Response) -> str:
    try:
        return str(r.json().get("detail") or r.text[:300])
    except ValueError:
        return r.text[:300]
