"""Footprint projection against hand-computed SCI examples."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from carbontrail.errors import UnitError
from carbontrail.registry.footprint import Embodied, FootprintInputs, ZoneIntensity, project, what_if

ZONE = ZoneIntensity("DE", intensity_g_per_kwh=400.0, provenance={"source": "static-factors"}, uncertainty_rel=0.2)
BASE = FootprintInputs(
    horizon_days=365.0,
    traffic_per_day=1_000_000.0,
    inference_energy_j_per_1k=36.0,  # 1e6/day -> 36,000 J/day = 0.01 kWh/day
    zones=((ZONE, 1.0),),
    training_emissions_g=100_000.0,
    training_share=0.5,
    retrain_every_days=90.0,  # 4 full runs in 365 days
    retraining_emissions_g=2_000.0,
    pue=1.5,
    embodied=Embodied(total_embodied_g=1_000_000.0, lifespan_days=1460.0, reserved_share=1 / 8),
)


def test_hand_computed_sci_example():
    fp = project(BASE)
    # inference: 0.01 kWh/day x PUE 1.5 x 400 g/kWh = 6 g/day; x 365 = 2190 g
    assert fp.term("inference").emissions_g == pytest.approx(2190.0)
    assert fp.term("inference").energy_j == pytest.approx(36_000 * 1.5 * 365)
    assert fp.term("training").emissions_g == pytest.approx(50_000.0)
    assert fp.term("retraining").emissions_g == pytest.approx(8_000.0)
    assert fp.term("retraining").provenance["runs"] == 4
    # M = TE x TiR/EL x RR/ToR = 1e6 x 365/1460 x 1/8 = 31,250 g
    assert fp.term("embodied").emissions_g == pytest.approx(31_250.0)
    assert fp.total_g == pytest.approx(91_440.0)
    assert fp.annual_g == pytest.approx(91_440.0)
    # SCI per R = 1,000 predictions: 91,440 g / 365,000
    assert fp.sci_g_per_1k == pytest.approx(91_440.0 / 365_000.0)
    inf_u = 2190.0 * math.hypot(0.1, 0.2)
    expected_u = math.sqrt(5000.0**2 + 800.0**2 + inf_u**2 + 15_625.0**2)
    assert fp.uncertainty_g == pytest.approx(expected_u)
    d = fp.to_dict()
    assert d["inference_g"] == pytest.approx(2190.0) and d["max_intensity_g_per_kwh"] == 400.0
    assert d["terms"][2]["provenance"]["zones"][0]["intensity_provenance"] == {"source": "static-factors"}


def test_hourly_profiles_follow_traffic():
    night_clean = ZoneIntensity("X", hourly_g_per_kwh=(100.0,) * 12 + (500.0,) * 12)
    inp = replace(
        BASE,
        zones=((night_clean, 1.0),),
        embodied=None,
        training_emissions_g=0.0,
        retrain_every_days=None,
        pue=1.0,
    )
    # uniform traffic sees the mean, 300 g/kWh: 0.01 kWh/day x 300 x 365
    assert project(inp).total_g == pytest.approx(0.01 * 300 * 365)
    # traffic only in hours 0-11 sees 100 g/kWh
    early = replace(inp, traffic_hourly_share=(1 / 12,) * 12 + (0.0,) * 12)
    assert project(early).total_g == pytest.approx(0.01 * 100 * 365)
    # two zones, half each: (400 + 300) / 2
    split = replace(inp, zones=((night_clean, 0.5), (ZoneIntensity("Y", intensity_g_per_kwh=400.0), 0.5)))
    fp = project(split)
    assert fp.total_g == pytest.approx(0.01 * 350 * 365)
    assert fp.max_intensity_g_per_kwh == 500.0 and fp.mean_intensity_g_per_kwh == pytest.approx(350.0)


def test_what_if_across_zones_and_cadences():
    zones = {
        "FR": ZoneIntensity("FR", intensity_g_per_kwh=50.0),
        "PL": ZoneIntensity("PL", intensity_g_per_kwh=700.0),
    }
    rows = what_if(BASE, zones=zones, cadences_days=[30.0, 180.0, None])
    assert len(rows) == 6
    assert rows[0]["zone"] == "FR" and rows[0]["retrain_every_days"] is None
    assert rows[-1]["zone"] == "PL" and rows[-1]["retrain_every_days"] == 30.0
    fr30 = next(r for r in rows if r["zone"] == "FR" and r["retrain_every_days"] == 30.0)
    # 12 runs x 2000 g; inference 0.015 kWh/day x 50 x 365
    assert fr30["total_g"] == pytest.approx(50_000 + 24_000 + 0.015 * 50 * 365 + 31_250)
    assert fr30["delta_g"] == pytest.approx(fr30["total_g"] - 91_440.0)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"horizon_days": 0.0}, "horizon"),
        ({"traffic_per_day": math.nan}, "traffic_per_day"),
        ({"pue": 0.9}, "pue"),
        ({"training_share": 1.5}, "training_share"),
        ({"zones": ((ZONE, 0.7),)}, "sum"),
        ({"zones": ()}, "zone"),
        ({"retrain_every_days": -1.0}, "retrain"),
        ({"traffic_hourly_share": (1.0,) * 24}, "sums"),
    ],
)
def test_bad_inputs_are_refused(change, match):
    with pytest.raises(UnitError, match=match):
        project(replace(BASE, **change))


def test_zone_intensity_needs_exactly_one_form():
    with pytest.raises(UnitError):
        ZoneIntensity("X")
    with pytest.raises(UnitError):
        ZoneIntensity("X", hourly_g_per_kwh=(1.0,) * 23)
    with pytest.raises(UnitError):
        ZoneIntensity("X", intensity_g_per_kwh=-5.0)
