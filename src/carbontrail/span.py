"""The span record: one measured window of pipeline work.

Pure data. A :class:`SpanRecord` is what :func:`carbontrail.track` produces when a window
closes, what the journal and the ledger store, and what every report aggregates. All energies
are joules, emissions grams CO2e, times tz-aware UTC.

Energy of a parent span covers its children (they are windows over the same cumulative
counters); reports that sum energy therefore sum *root* spans only (``parent_id is None``)
and use children as a breakdown.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from carbontrail.provenance import ComponentEnergy

KINDS: tuple[str, ...] = ("data-prep", "train", "retrain", "hpo-trial", "evaluate", "inference", "other")
STATUSES: tuple[str, ...] = ("ok", "failed", "killed")

__all__ = ["KINDS", "STATUSES", "SpanRecord", "utc_from_epoch"]


def utc_from_epoch(t_s: float) -> datetime:
    """A POSIX timestamp in seconds as a tz-aware UTC datetime."""
    return datetime.fromtimestamp(t_s, tz=UTC)


@dataclass(slots=True)
class SpanRecord:
    """One closed window of work and its energy.

    Attributes:
        span_id: 32-hex unique id.
        run_id: the run (one process, one ``carbontrail track`` command, or a name the user gave).
        parent_id: enclosing span, possibly in another process (passed through the environment).
        name: the span's name.
        kind: lifecycle stage, one of :data:`KINDS`.
        status: ``ok``, ``failed`` (an exception escaped) or ``killed`` (a signal ended the work).
        started_at, ended_at: tz-aware UTC.
        duration_s: wall-clock seconds.
        energy_j: sum of the components' joules (``unavailable`` components count 0 and say so).
        components: per-component energy with method and uncertainty.
        buckets: ``[(bucket_start_epoch_s, energy_j), ...]``, energy per aligned time bucket of
            ``bucket_s`` seconds; sums to ``energy_j``. Grid attribution multiplies each bucket by
            that bucket's intensity.
        attribution: ``process`` (tracked process tree) or ``machine``.
        zone: grid zone where the work ran, if known.
        pipeline, model, team: standard tags; ``tags`` holds any other labels.
        host, pid: where it ran.
        error: exception type and message for failed spans.
        emissions_g, intensity_g_per_kwh, provenance: filled by grid attribution (``None`` until then).
    """

    span_id: str
    run_id: str
    name: str
    kind: str
    started_at: datetime
    ended_at: datetime
    duration_s: float
    energy_j: float
    components: list[ComponentEnergy]
    buckets: list[tuple[float, float]]
    parent_id: str | None = None
    status: str = "ok"
    attribution: str = "process"
    zone: str | None = None
    pipeline: str | None = None
    model: str | None = None
    team: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    host: str = ""
    pid: int = 0
    error: str | None = None
    emissions_g: float | None = None
    intensity_g_per_kwh: float | None = None
    provenance: dict[str, Any] | None = None

    @property
    def uncertainty_j(self) -> float:
        """Absolute uncertainty of :attr:`energy_j`: components' bands added linearly (conservative)."""
        return sum(c.energy_j * c.uncertainty_rel for c in self.components)

    @property
    def methods(self) -> list[str]:
        """Distinct methods of the components, in order."""
        return list(dict.fromkeys(c.method for c in self.components))

    def with_emissions(
        self, emissions_g: float, intensity_g_per_kwh: float, provenance: dict[str, Any]
    ) -> SpanRecord:
        """A copy carrying grid-attributed emissions and their provenance."""
        return replace(
            self, emissions_g=emissions_g, intensity_g_per_kwh=intensity_g_per_kwh, provenance=provenance
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (ISO 8601 timestamps)."""
        return {
            "span_id": self.span_id,
            "run_id": self.run_id,
            "parent_id": self.parent_id,
            "name": self.name,
            "kind": self.kind,
            "status": self.status,
            "started_at": self.started_at.isoformat(),
            "ended_at": self.ended_at.isoformat(),
            "duration_s": self.duration_s,
            "energy_j": self.energy_j,
            "components": [c.to_dict() for c in self.components],
            "buckets": [list(b) for b in self.buckets],
            "attribution": self.attribution,
            "zone": self.zone,
            "pipeline": self.pipeline,
            "model": self.model,
            "team": self.team,
            "tags": self.tags,
            "host": self.host,
            "pid": self.pid,
            "error": self.error,
            "emissions_g": self.emissions_g,
            "intensity_g_per_kwh": self.intensity_g_per_kwh,
            "provenance": self.provenance,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SpanRecord:
        """Inverse of :meth:`to_dict`; accepts datetimes or ISO strings."""

        def ts(v: Any) -> datetime:
            t = v if isinstance(v, datetime) else datetime.fromisoformat(v)
            if t.tzinfo is None:
                raise ValueError(f"naive timestamp {v!r}: carbontrail needs tz-aware UTC")
            return t.astimezone(UTC)

        return cls(
            span_id=d["span_id"],
            run_id=d["run_id"],
            parent_id=d.get("parent_id"),
            name=d["name"],
            kind=d.get("kind", "other"),
            status=d.get("status", "ok"),
            started_at=ts(d["started_at"]),
            ended_at=ts(d["ended_at"]),
            duration_s=float(d["duration_s"]),
            energy_j=float(d["energy_j"]),
            components=[ComponentEnergy.from_dict(c) for c in d.get("components") or []],
            buckets=[(float(a), float(b)) for a, b in d.get("buckets") or []],
            attribution=d.get("attribution", "process"),
            zone=d.get("zone"),
            pipeline=d.get("pipeline"),
            model=d.get("model"),
            team=d.get("team"),
            tags=dict(d.get("tags") or {}),
            host=d.get("host", ""),
            pid=int(d.get("pid") or 0),
            error=d.get("error"),
            emissions_g=d.get("emissions_g"),
            intensity_g_per_kwh=d.get("intensity_g_per_kwh"),
            provenance=d.get("provenance"),
        )
