"""Serving-zone intensities from the grid package: annual factors and hour-of-day profiles."""

from __future__ import annotations

import numpy as np
import pytest

from carbontrail.errors import UnknownZoneError
from carbontrail.grid.series import IntensitySeries
from carbontrail.provenance import IntensityProvenance
from carbontrail.registry.footprint import FootprintInputs, project
from carbontrail.registry.grid_intensity import grid_lookup, grid_zone_intensity, hourly_profile


def _series(values, step_s=1800.0, start_s=0.0):
    return IntensitySeries(
        start_s,
        step_s,
        np.asarray(values, dtype=float),
        IntensityProvenance(zone="XX", source="series", dataset="test", vintage="2020"),
    )


def test_hourly_profile_by_hand():
    # two days of half-hourly values: hour h gets values 10h and 10h+2 on day one, +100 on day two
    day1 = [v for h in range(24) for v in (10.0 * h, 10.0 * h + 2)]
    day2 = [v + 100.0 for v in day1]
    prof = hourly_profile(_series(day1 + day2))
    assert prof == pytest.approx([10.0 * h + 1 + 50.0 for h in range(24)])
    with pytest.raises(ValueError, match="every hour"):
        hourly_profile(_series([1.0] * 10))
    with pytest.raises(ValueError, match="step"):
        hourly_profile(_series([1.0] * 10, step_s=7200.0))


def test_annual_factor_and_bundled_profile_with_provenance():
    de = grid_zone_intensity("DE")
    assert de.resolution == "annual" and de.intensity_g_per_kwh == de.provenance["intensity_g_per_kwh"]
    assert "Ember" in de.provenance["dataset"] and de.provenance["source"] == "static-factors"
    ciso = grid_zone_intensity("CISO", hourly=True)
    assert ciso.resolution == "hourly" and len(ciso.hourly_g_per_kwh) == 24
    assert ciso.provenance["profile"]["kind"] == "mean by UTC hour of day"
    # California's solar trough (about 20:00 UTC) is cleaner than its evening peak (about 04:00 UTC)
    assert ciso.hourly_g_per_kwh[20] < ciso.hourly_g_per_kwh[4]
    with pytest.raises(UnknownZoneError):
        grid_zone_intensity("NOPE")


def test_evening_traffic_costs_more_in_ciso():
    look = grid_lookup(hourly=True)
    z = look("CISO")
    assert look("CISO") is z  # cached
    base = FootprintInputs(horizon_days=30.0, traffic_per_day=1e6, inference_energy_j_per_1k=3600.0, zones=((z, 1.0),))
    evening = [0.0] * 24
    evening[4] = 1.0
    noon = [0.0] * 24
    noon[20] = 1.0
    e = project(FootprintInputs(**{**base.__dict__, "traffic_hourly_share": tuple(evening)})).total_g
    n = project(FootprintInputs(**{**base.__dict__, "traffic_hourly_share": tuple(noon)})).total_g
    assert e > n
    assert n == pytest.approx(1.0 * 30 * z.hourly_g_per_kwh[20])  # 1 kWh/day at hour 20
