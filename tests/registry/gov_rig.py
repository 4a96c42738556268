"""Shared pieces of the registry tests: clock, spans, zones, the signing key."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from carbontrail.provenance import ComponentEnergy
from carbontrail.registry import ZoneIntensity
from carbontrail.span import SpanRecord

POLICY = Path(__file__).parents[2] / "examples" / "policies" / "deploy-carbon.yaml"
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
KEY = Ed25519PrivateKey.generate()


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


def span(kind: str, energy_j: float, intensity: float | None, *, model: str = "resnet-lite") -> SpanRecord:
    rec = SpanRecord(
        span_id=uuid.uuid4().hex,
        run_id="r1",
        name=f"{kind} step",
        kind=kind,
        started_at=T0,
        ended_at=T0 + timedelta(hours=1),
        duration_s=3600.0,
        energy_j=energy_j,
        components=[ComponentEnergy("gpu:0", energy_j, "nvml", 0.05)],
        buckets=[(T0.timestamp(), energy_j)],
        model=model,
        zone="DE",
    )
    if intensity is not None:
        rec = rec.with_emissions(
            energy_j / 3.6e6 * intensity,
            intensity,
            {"zone": "DE", "source": "static-factors", "dataset": "Ember", "vintage": "2023"},
        )
    return rec


ZONES = {
    "DE": ZoneIntensity(
        "DE", intensity_g_per_kwh=380.0, provenance={"source": "stated", "dataset": "Ember 2023"}, uncertainty_rel=0.1
    ),
    "FR": ZoneIntensity(
        "FR", intensity_g_per_kwh=56.0, provenance={"source": "stated", "dataset": "Ember 2023"}, uncertainty_rel=0.1
    ),
}
