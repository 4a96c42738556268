"""Per-process span journals: cheap, crash-safe span commits.

A closing span is appended to its process's journal with one ``os.write`` on an ``O_APPEND``
descriptor (microseconds; the kernel keeps it even if the process is killed a moment later).
Records are moved into the ledger in batches by the process's flusher and, for journals left
behind by dead processes, by :func:`ingest_orphans`. Ingestion is idempotent (``span_id``).

Format (JSON lines): a header line ``{"journal": 1, "run_id", "host", "pid", "components": [...],
"attribution", "zone", "bucket_s"}`` then one compact array per span, decoded by :func:`decode`.
Each live journal is held under an exclusive ``flock``, so an ingester can tell a dead
process's journal (lock free) from a live one (lock held) without trusting pids.
"""

from __future__ import annotations

import fcntl
import itertools
import json
import logging
import math
import os
import socket
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from carbontrail.provenance import ComponentEnergy
from carbontrail.span import SpanRecord, utc_from_epoch

__all__ = ["JournalWriter", "decode", "ingest_orphans", "split_buckets"]

log = logging.getLogger(__name__)

# fields of one compact span line, in order
_FIELDS = (
    "span_id", "parent_id", "name", "kind", "status", "start_s", "end_s",
    "start_reading", "end_reading", "boundaries", "zone", "pipeline", "model", "team", "tags", "error",
)


def split_buckets(
    start_s: float,
    end_s: float,
    start_total_j: float,
    end_total_j: float,
    boundaries: Sequence[tuple[float, float]],
    bucket_s: float,
) -> list[tuple[float, float]]:
    """Energy per aligned bucket of ``bucket_s`` seconds.

    ``boundaries`` are ``(t_s, cumulative_total_j)`` readings taken inside ``(start_s, end_s)``
    (at bucket edges by the tracker's timeline, or any profile of the work); energy between two
    readings is spread uniformly in time. The result sums to ``end_total_j - start_total_j``.
    """
    total = max(0.0, end_total_j - start_total_j)
    points = [(start_s, start_total_j)]
    points += sorted((t, v) for t, v in boundaries if start_s < t < end_s)
    points.append((end_s, end_total_j))
    out: dict[float, float] = {}
    for (t0, v0), (t1, v1) in itertools.pairwise(points):
        seg = max(0.0, v1 - v0)
        if t1 <= t0:
            b = math.floor(t0 / bucket_s) * bucket_s
            out[b] = out.get(b, 0.0) + seg
            continue
        b = math.floor(t0 / bucket_s) * bucket_s
        while b < t1:
            lo, hi = max(b, t0), min(b + bucket_s, t1)
            if hi > lo:
                out[b] = out.get(b, 0.0) + seg * (hi - lo) / (t1 - t0)
            b += bucket_s
    if not out:
        out[math.floor(start_s / bucket_s) * bucket_s] = 0.0
    # exact conservation: put the rounding residue in the largest bucket
    residue = total - sum(out.values())
    if out and residue:
        k = max(out, key=lambda key: out[key])
        out[k] = max(0.0, out[k] + residue)
    return sorted(out.items())


def decode(header: dict[str, Any], line: Sequence[Any]) -> SpanRecord:
    """Build a :class:`SpanRecord` from a journal header and one compact span line."""
    f = dict(zip(_FIELDS, line, strict=True))
    comps = header["components"]
    start_r, end_r = f["start_reading"], f["end_reading"]
    components = [
        ComponentEnergy(
            component=c["component"],
            energy_j=max(0.0, e - s),
            method=c["method"],
            uncertainty_rel=c["uncertainty_rel"],
            detail=c.get("detail") or {},
        )
        for c, s, e in zip(comps, start_r, end_r, strict=True)
    ]
    energy_j = sum(c.energy_j for c in components)
    start_total = sum(start_r)
    buckets = split_buckets(
        f["start_s"], f["end_s"], start_total, start_total + energy_j, f["boundaries"] or (), header["bucket_s"]
    )
    return SpanRecord(
        span_id=f["span_id"],
        run_id=header["run_id"],
        parent_id=f["parent_id"],
        name=f["name"],
        kind=f["kind"],
        status=f["status"],
        started_at=utc_from_epoch(f["start_s"]),
        ended_at=utc_from_epoch(f["end_s"]),
        duration_s=max(0.0, f["end_s"] - f["start_s"]),
        energy_j=energy_j,
        components=components,
        buckets=buckets,
        attribution=header["attribution"],
        zone=f["zone"] or header.get("zone"),
        pipeline=f["pipeline"],
        model=f["model"],
        team=f["team"],
        tags=f["tags"] or {},
        host=header["host"],
        pid=header["pid"],
        error=f["error"],
    )


class JournalWriter:
    """The append-only journal of one process, locked for the process's lifetime."""

    def __init__(self, directory: Path, header: dict[str, Any]) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.header = {"journal": 1, "host": socket.gethostname(), "pid": os.getpid(), **header}
        name = f"{self.header['host']}-{self.header['pid']}-{time.time_ns()}.jsonl"
        self.path = directory / name
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        self._header_bytes = (json.dumps(self.header) + "\n").encode()
        os.write(self._fd, self._header_bytes)

    def append(self, line: Sequence[Any]) -> None:
        """Append one compact span line (a single write)."""
        os.write(self._fd, (json.dumps(line, separators=(",", ":")) + "\n").encode())

    def reset(self) -> None:
        """Drop every span line (all of them are in the ledger); keep the header."""
        os.ftruncate(self._fd, 0)
        os.write(self._fd, self._header_bytes)

    def close(self, *, remove: bool) -> None:
        """Release the lock; delete the file when everything in it reached the ledger."""
        if self._fd < 0:
            return
        if remove:
            try:
                self.path.unlink()
            except FileNotFoundError:
                pass
        os.close(self._fd)
        self._fd = -1


def _read_journal(path: Path) -> tuple[dict[str, Any] | None, list[SpanRecord], list[str]]:
    header: dict[str, Any] | None = None
    records: list[SpanRecord] = []
    bad: list[str] = []
    with path.open("r", encoding="utf-8", errors="replace") as fh:
        for n, raw in enumerate(fh):
            text = raw.strip()
            if not text:
                continue
            try:
                obj = json.loads(text)
                if n == 0:
                    if not isinstance(obj, dict) or obj.get("journal") != 1:
                        raise ValueError("missing journal header")
                    header = obj
                    continue
                if header is None:
                    raise ValueError("span line before header")
                records.append(decode(header, obj))
            except (ValueError, TypeError, KeyError) as exc:
                bad.append(f"{path.name}:{n + 1}: {exc}: {text[:200]}")
    return header, records, bad


def ingest_orphans(ledger: Any, directory: Path, attribute: Any = None) -> int:
    """Move journals of dead processes into the ledger; return the number of spans ingested.

    A journal whose lock is held belongs to a live process and is left alone. Lines that do not
    parse (a torn write, a foreign file) are kept in ``<directory>/rejected/`` with the reason,
    never silently dropped.
    """
    if not directory.is_dir():
        return 0
    count = 0
    for path in sorted(directory.glob("*.jsonl")):
        try:
            fd = os.open(path, os.O_RDWR)
        except FileNotFoundError:
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a live process owns it
            if not path.exists():
                continue  # its owner finished and removed it while we waited
            _header, records, bad = _read_journal(path)
            if records:
                if attribute is not None:
                    records = attribute(records)
                ledger.add_spans(records)
                count += len(records)
            if bad:
                rej = directory / "rejected"
                rej.mkdir(exist_ok=True)
                with (rej / (path.stem + ".txt")).open("a") as fh:
                    fh.write("\n".join(bad) + "\n")
                log.warning("%d unreadable journal lines kept in %s", len(bad), rej)
            path.unlink()
        finally:
            os.close(fd)
    return count
