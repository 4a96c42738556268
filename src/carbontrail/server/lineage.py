"""Optional OpenLineage emission: one run event per ingested root span, with an energy run facet.

When ``settings.openlineage_url`` is set, every root span the ingest endpoint stores is sent as an
OpenLineage ``RunEvent`` (``COMPLETE``, or ``FAIL`` for failed or killed spans) to
``{openlineage_url}/api/v1/lineage`` (the HTTP transport's endpoint, as Marquez serves it). The
run id is the span id as a UUID; the job is the span's pipeline (else its name) in
``settings.openlineage_namespace``; the custom run facet ``carbontrail`` carries energy (J),
emissions (g), intensity, kind, zone, model, methods and the factor snapshot id. Events are posted
from a background thread with a timeout; a failure is logged and never affects ingest.
"""

from __future__ import annotations

import logging
import queue
import threading
import uuid
from collections.abc import Iterable
from typing import Any

import httpx

from carbontrail import __version__
from carbontrail.span import SpanRecord

__all__ = ["FACET_SCHEMA_URL", "LineageEmitter", "run_event"]

log = logging.getLogger(__name__)

PRODUCER = f"https://github.com/carbontrail/carbontrail/tree/{__version__}"
EVENT_SCHEMA_URL = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
FACET_SCHEMA_URL = "https://carbontrail.dev/spec/facets/1-0-0/CarbontrailRunFacet.json"


def run_event(span: SpanRecord, namespace: str) -> dict[str, Any]:
    """The OpenLineage RunEvent of a root span (pure)."""
    prov = span.provenance or {}
    return {
        "eventType": "COMPLETE" if span.status == "ok" else "FAIL",
        "eventTime": span.ended_at.isoformat(),
        "producer": PRODUCER,
        "schemaURL": EVENT_SCHEMA_URL,
        "run": {
            "runId": str(uuid.UUID(hex=span.span_id)) if len(span.span_id) == 32 else span.span_id,
            "facets": {
                "carbontrail": {
                    "_producer": PRODUCER,
                    "_schemaURL": FACET_SCHEMA_URL,
                    "spanId": span.span_id,
                    "runId": span.run_id,
                    "kind": span.kind,
                    "startedAt": span.started_at.isoformat(),
                    "durationS": span.duration_s,
                    "energyJ": span.energy_j,
                    "emissionsG": span.emissions_g,
                    "intensityGPerKwh": span.intensity_g_per_kwh,
                    "zone": span.zone,
                    "model": span.model,
                    "team": span.team,
                    "methods": span.methods,
                    "factorSnapshotId": prov.get("snapshot_id"),
                }
            },
        },
        "job": {"namespace": namespace, "name": span.pipeline or span.name, "facets": {}},
        "inputs": [],
        "outputs": [],
    }


class LineageEmitter:
    """Posts run events from a background thread (bounded queue; events beyond it are dropped and logged)."""

    def __init__(
        self,
        url: str,
        namespace: str,
        *,
        timeout_s: float = 5.0,
        max_queue: int = 10_000,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.endpoint = url.rstrip("/") + "/api/v1/lineage"
        self.namespace = namespace
        self._q: queue.Queue[dict[str, Any] | None] = queue.Queue(maxsize=max_queue)
        self._http = httpx.Client(timeout=timeout_s, transport=transport)
        self.sent = 0
        self.failed = 0
        self._thread = threading.Thread(target=self._run, name="carbontrail-openlineage", daemon=True)
        self._thread.start()

    def emit(self, spans: Iterable[SpanRecord]) -> None:
        """Queue a run event for each root span among ``spans``."""
        for s in spans:
            if s.parent_id is not None:
                continue
            try:
                self._q.put_nowait(run_event(s, self.namespace))
            except queue.Full:
                self.failed += 1
                log.warning("OpenLineage queue full: run event of span %s dropped", s.span_id)

    def _run(self) -> None:
        while True:
            ev = self._q.get()
            if ev is None:
                return
            try:
                r = self._http.post(self.endpoint, json=ev)
                r.raise_for_status()
                self.sent += 1
            except httpx.HTTPError as exc:
                self.failed += 1
                log.warning("OpenLineage event for run %s not delivered: %s", ev["run"]["runId"], exc)
            finally:
                self._q.task_done()

    def flush(self) -> None:
        """Wait until every queued event was posted (or failed)."""
        self._q.join()

    def close(self) -> None:
        """Deliver what is queued, then stop the thread."""
        self._q.put(None)
        self._thread.join(timeout=30)
        self._http.close()
