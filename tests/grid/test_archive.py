"""Forecast archives: the forecast known at a time, never a later one; files round-trip; bad lines refused."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np
import pytest

from carbontrail.errors import GridError
from carbontrail.grid.archive import ForecastArchive
from carbontrail.grid.series import IntensitySeries
from carbontrail.provenance import IntensityProvenance

T0 = datetime(2024, 3, 1, tzinfo=UTC).timestamp()
H = 3600.0


def _run(generated_s: float, level: float, zone: str = "AA", n: int = 24) -> IntensitySeries:
    prov = IntensityProvenance(zone=zone, source="test", dataset="runs", vintage="2024", signal="marginal",
                               basis="direct", retrieved_at=datetime.fromtimestamp(generated_s, UTC), estimated=True)
    return IntensitySeries(start_s=generated_s, step_s=H, values_g_per_kwh=np.full(n, level), provenance=prov)


def test_as_of_takes_the_newest_forecast_made_by_then() -> None:
    arc = ForecastArchive([_run(T0 + 6 * H, 300.0), _run(T0, 100.0), _run(T0 + 12 * H, 500.0)])
    assert arc.zones() == ["AA"] and len(arc) == 3
    assert arc.as_of("AA", T0 + 5 * H, T0 + 10 * H).values_g_per_kwh[0] == 100.0  # the 06:00 run is later
    got = arc.as_of("AA", T0 + 6 * H, T0 + 10 * H)
    assert got.values_g_per_kwh[0] == 300.0 and got.start_s == T0 + 6 * H and got.end_s == T0 + 10 * H
    with pytest.raises(GridError, match="first AA forecast was generated"):
        arc.as_of("AA", T0 - H, T0 + H)
    with pytest.raises(GridError, match="not up to"):
        arc.as_of("AA", T0 + 13 * H, T0 + 48 * H)  # the newest run ends at 12:00 + 24 h
    with pytest.raises(GridError, match="no forecasts for BB"):
        arc.as_of("BB", T0, T0 + H)
    with pytest.raises(GridError, match="generated_at"):
        ForecastArchive([IntensitySeries(start_s=T0, step_s=H, values_g_per_kwh=np.ones(3),
                                         provenance=IntensityProvenance(zone="AA", source="x", dataset="y",
                                                                        vintage="2024"))])


def test_files_round_trip_and_bad_lines_are_refused_with_their_number(tmp_path) -> None:
    arc = ForecastArchive([_run(T0, 100.0), _run(T0 + 6 * H, 300.0, zone="BB")])
    path = tmp_path / "past.jsonl"
    arc.save(path)
    back = ForecastArchive.load(path)
    assert back.zones() == ["AA", "BB"]
    s = back.as_of("BB", T0 + 7 * H, T0 + 9 * H)
    assert s.values_g_per_kwh.tolist() == [300.0, 300.0] and s.provenance.signal == "marginal"
    assert s.provenance.retrieved_at == datetime.fromtimestamp(T0 + 6 * H, UTC)
    good = path.read_text().splitlines()[0]
    d = json.loads(good)
    for bad, match in (
        ("{not json", "not a forecast line"),
        (json.dumps({**d, "generated_at": "2024-03-01T00:00:00"}), "no timezone"),
        (json.dumps({**d, "values_g_per_kwh": [1.0, float("nan")]}), "finite"),
        (json.dumps({**d, "step_s": 0}), "step_s"),
        (json.dumps({k: v for k, v in d.items() if k != "zone"}), "not a forecast line"),
    ):
        p = tmp_path / "bad.jsonl"
        p.write_text(good + "\n" + bad + "\n")
        with pytest.raises(GridError, match=match) as exc:
            ForecastArchive.load(p)
        assert ":2:" in str(exc.value)
    with pytest.raises(GridError, match="cannot read"):
        ForecastArchive.load(tmp_path / "missing.jsonl")
