"""A small, hand-computable set of spans shared by the report tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from carbontrail.provenance import ComponentEnergy
from carbontrail.span import SpanRecord

T0 = datetime(2026, 1, 5, tzinfo=UTC)
R1, C1, R3, R2 = "a" * 32, "b" * 32, "c" * 32, "d" * 32


def span(
    span_id: str,
    kind: str,
    energy_j: float,
    *,
    start: datetime = T0,
    duration_s: float = 600.0,
    parent_id: str | None = None,
    emissions_g: float | None = None,
    zone: str | None = None,
    model: str | None = None,
    team: str | None = None,
    method: str = "rapl",
    component: str = "cpu:package-0",
    unc: float = 0.05,
    buckets: list[tuple[float, float]] | None = None,
    snapshot: str | None = "snap-de",
    intensity_unc: float = 0.1,
) -> SpanRecord:
    prov = None
    intensity = None
    if emissions_g is not None:
        intensity = emissions_g / (energy_j / 3.6e6)
        prov = {
            "snapshot_id": snapshot,
            "zone": zone,
            "source": "series",
            "dataset": "test",
            "vintage": "2026",
            "signal": "average",
            "basis": "lifecycle",
            "resolution_s": 3600.0,
            "uncertainty_rel": intensity_unc,
            "pue": 1.0,
            "intensity_g_per_kwh": intensity,
        }
    return SpanRecord(
        span_id=span_id,
        run_id="run-1",
        name=f"{kind}-{span_id[:4]}",
        kind=kind,
        started_at=start,
        ended_at=start + timedelta(seconds=duration_s),
        duration_s=duration_s,
        energy_j=energy_j,
        components=[ComponentEnergy(component, energy_j, method, unc)],
        buckets=buckets if buckets is not None else [(start.timestamp(), energy_j)],
        parent_id=parent_id,
        zone=zone,
        model=model,
        team=team,
        emissions_g=emissions_g,
        intensity_g_per_kwh=intensity,
        provenance=prov,
    )


@pytest.fixture
def sample_spans() -> list[SpanRecord]:
    """R1 train 1 kWh (400 g) in DE with child C1 data-prep 0.25 kWh (100 g); R2 inference 2 kWh (100 g) in FR
    the next day (modelled); R3 retrain 0.5 kWh in DE with no grid factor."""
    t0 = T0.timestamp()
    return [
        span(
            R1,
            "train",
            3.6e6,
            emissions_g=400.0,
            zone="DE",
            model="m1",
            team="a",
            buckets=[(t0, 1.8e6), (t0 + 300, 1.8e6)],
        ),
        span(C1, "data-prep", 0.9e6, parent_id=R1, emissions_g=100.0, duration_s=200.0),
        span(
            R2,
            "inference",
            7.2e6,
            start=T0 + timedelta(days=1),
            emissions_g=100.0,
            zone="FR",
            model="m1",
            team="b",
            method="cpu-time-model",
            component="cpu",
            unc=0.2,
            snapshot="snap-fr",
            intensity_unc=0.0,
        ),
        span(
            R3,
            "retrain",
            1.8e6,
            zone="DE",
            model="m2",
            team="a",
            method="constant",
            component="constant:rack",
            unc=0.1,
        ),
    ]
