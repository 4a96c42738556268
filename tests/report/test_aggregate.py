"""Report figures against hand-computed values (see conftest for the spans)."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from tests.report.conftest import C1, R1, R2, R3, T0

from carbontrail.errors import UnitError
from carbontrail.report import (
    CODECARBON_COLUMNS,
    AuditAnchor,
    GridMix,
    Instrument,
    QuotaUse,
    ReportOptions,
    ScheduleOutcome,
    SciSpec,
    build_report,
    emissions_csv,
    render,
)

NOW = datetime(2026, 2, 1, tzinfo=UTC)
JAN = (datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC))


def options() -> ReportOptions:
    return ReportOptions(
        instruments=[Instrument("GO-1", "certificate", 1.8e6, "DE", *JAN)],
        residual_mix_g_per_kwh={"DE": 600.0},
        residual_mix_source="AIB 2025 residual mix (test value)",
        grid_mix={"DE": GridMix(0.4, 0.0, 0.6, "test DE"), "FR": GridMix(0.1, 0.65, 0.25, "test FR")},
        sci=[SciSpec("m1", "prediction", 2000, embodied_g=20.0, embodied_source="stated")],
        ai_act_models=["m1"],
        training_compute_flops={"m1": 1e15},
        schedule=[
            ScheduleOutcome("j1", "DE", T0, run_now_g=100.0, expected_g=70.0, realised_g=80.0, span_id=R1),
            ScheduleOutcome("j2", "DE", T0, run_now_g=50.0, expected_g=40.0),
        ],
        quotas=[QuotaUse("s1", quota_j=1e6, quota_g=None, spent_j=2.5e5, spent_g=10.0, trials=12, status="stopped")],
        audit=AuditAnchor("cp-7", 120, "ab" * 32, NOW, True),
    )


def test_totals_and_breakdowns(sample_spans):
    rep = build_report(sample_spans, period_start=JAN[0], period_end=JAN[1], generated_at=NOW, options=options())
    e = rep.totals["energy"]
    assert e.value == pytest.approx(12.6e6)
    assert e.unit == "J"
    # 0.05*2.7e6 + 0.05*0.9e6 + 0.2*7.2e6 + 0.1*1.8e6
    assert e.uncertainty == pytest.approx(135_000 + 45_000 + 1_440_000 + 180_000)
    assert set(e.span_ids) == {R1, C1, R2, R3}
    assert e.method == "mixed: measured 29% (rapl), modelled 57% (cpu-time-model), stated 14% (constant)"
    loc = rep.totals["emissions_location"]
    assert loc.value == pytest.approx(500.0)
    assert "0.5 kWh without a grid factor" in loc.note
    assert loc.snapshot_ids == ("snap-de", "snap-fr")
    # emissions band: 300*(0.05+0.1) + 100*(0.05+0.1) + 100*(0.2+0)
    assert loc.uncertainty == pytest.approx(45 + 15 + 20)
    kinds = {r.key: r for r in rep.breakdowns["kind"]}
    assert kinds["inference"].energy.value == pytest.approx(7.2e6)
    assert kinds["train"].energy.value == pytest.approx(2.7e6)
    assert kinds["train"].emissions.value == pytest.approx(300.0)
    assert kinds["data-prep"].energy.value == pytest.approx(0.9e6)
    assert kinds["data-prep"].emissions.value == pytest.approx(100.0)
    assert kinds["retrain"].energy.value == pytest.approx(1.8e6)
    assert kinds["retrain"].emissions.value is None
    assert kinds["inference"].share == pytest.approx(7.2 / 12.6)
    assert sum(r.energy.value for r in rep.breakdowns["kind"]) == pytest.approx(e.value)
    models = {r.key: r.energy.value for r in rep.breakdowns["model"]}
    assert models == pytest.approx({"m1": 10.8e6, "m2": 1.8e6})  # C1 inherits m1 from its parent
    teams = {r.key: r.energy.value for r in rep.breakdowns["team"]}
    assert teams == pytest.approx({"a": 3.6e6 + 1.8e6, "b": 7.2e6})
    zones = {r.key: r.energy.value for r in rep.breakdowns["zone"]}
    assert zones == pytest.approx({"DE": 5.4e6, "FR": 7.2e6})
    periods = {r.key: r.energy.value for r in rep.breakdowns["period"]}
    assert periods == pytest.approx({"2026-01-05": 5.4e6, "2026-01-06": 7.2e6})
    assert rep.breakdowns["pipeline"][0].key == "(none)"


def test_scope2_market_based_by_hand(sample_spans):
    rep = build_report(sample_spans, period_start=JAN[0], period_end=JAN[1], generated_at=NOW, options=options())
    m = rep.scope2["market_based"]
    # certificate 0.5 kWh covers R1 (1.35e6 J at t0) then 0.45e6 J of C1; the rest of DE takes the residual
    # mix 600 g/kWh: C1 0.45e6 J -> 75 g, R3 1.8e6 J -> 300 g, R1's second bucket 1.35e6 J -> 225 g;
    # FR has no residual mix -> location factor 50 g/kWh x 2 kWh = 100 g
    assert m["covered_j"] == pytest.approx(1.8e6)
    assert m["instrument_g"] == pytest.approx(0.0)
    assert m["residual_j"] == pytest.approx(3.6e6)
    assert m["residual_g"] == pytest.approx(600.0)
    assert m["fallback_j"] == pytest.approx(7.2e6)
    assert m["fallback_g"] == pytest.approx(100.0)
    assert rep.totals["emissions_market"].value == pytest.approx(700.0)
    assert "no residual mix entered for FR" in rep.totals["emissions_market"].note
    assert m["instruments"][0]["applied_j"] == pytest.approx(1.8e6)
    assert m["instruments"][0]["unused_j"] == pytest.approx(0.0)
    e16 = {r["row"]: r["tco2e"] for r in rep.csrd["e1_6"]}
    assert e16["Gross location-based Scope 2 GHG emissions"] == pytest.approx(0.0005)
    assert e16["Gross market-based Scope 2 GHG emissions"] == pytest.approx(0.0007)


def test_instrument_outside_zone_or_period_covers_nothing(sample_spans):
    opts = ReportOptions(
        instruments=[
            Instrument(
                "PPA-FR",
                "ppa",
                3.6e9,
                "FR",
                datetime(2025, 1, 1, tzinfo=UTC),
                datetime(2025, 12, 31, tzinfo=UTC),
            ),
            Instrument("GO-NL", "certificate", 3.6e9, "NL", *JAN),
        ],
        residual_mix_g_per_kwh={"DE": 600.0, "FR": 80.0},
    )
    rep = build_report(sample_spans, period_start=JAN[0], period_end=JAN[1], generated_at=NOW, options=opts)
    m = rep.scope2["market_based"]
    assert m["covered_j"] == 0.0
    assert rep.totals["emissions_market"].value == pytest.approx(5.4e6 / 3.6e6 * 600 + 2 * 80)


def test_sci_ai_act_csrd_schedule_hpo_audit(sample_spans):
    rep = build_report(sample_spans, period_start=JAN[0], period_end=JAN[1], generated_at=NOW, options=options())
    (sci,) = rep.sci
    assert sci["E_kwh"].value == pytest.approx(2.0)
    assert sci["I_g_per_kwh"] == pytest.approx(50.0)
    assert sci["sci"].value == pytest.approx((100.0 + 20.0) / 2000)  # (E*I + M) / R
    assert sci["sci"].unit == "gCO2e per prediction"
    assert sci["sci"].span_ids == (R2,)
    (ai,) = rep.ai_act
    assert ai["training_energy_mwh"].value == pytest.approx(2.7e6 / 3.6e9)
    assert ai["training_energy_method"] == "measured (rapl)"
    assert ai["training_time_s"] == pytest.approx(600.0)
    assert ai["training_compute_flops"].value == 1e15
    assert ai["inference_energy_mwh"].value == pytest.approx(0.002)
    mix = rep.csrd["e1_5"]["mix"]
    assert rep.csrd["e1_5"]["total_energy_mwh"].value == pytest.approx(0.0035)
    assert mix["fossil_mwh"] == pytest.approx(0.0008)
    assert mix["nuclear_mwh"] == pytest.approx(0.0013)
    assert mix["renewable_mwh"] == pytest.approx(0.0014)
    s = rep.scheduling
    assert (s["jobs"], s["jobs_realised"]) == (2, 1)
    assert s["realised_saving_g"] == pytest.approx(20.0)
    assert s["realised_saving_rel"] == pytest.approx(0.2)
    assert s["expected_saving_g"] == pytest.approx(40.0)
    assert rep.hpo[0]["used_rel"] == pytest.approx(0.25)
    assert rep.audit["checkpoint_id"] == "cp-7" and rep.audit["status"] == "chain verified"


def test_csrd_mix_unavailable_without_grid_data(sample_spans):
    rep = build_report(sample_spans, period_start=JAN[0], period_end=JAN[1], generated_at=NOW)
    mix = rep.csrd["e1_5"]["mix"]
    assert mix["fossil_mwh"] is None
    assert mix["note"] == "unavailable: no grid mix data for DE, FR"
    assert rep.audit["checkpoint_id"] is None


def test_period_cut_by_bucket(sample_spans):
    start = T0 + timedelta(seconds=300)
    rep = build_report(sample_spans, period_start=start, period_end=start + timedelta(hours=1), generated_at=NOW)
    # only R1's second bucket, pro-rated to its exclusive part: 1.8e6 * 0.75
    assert rep.totals["energy"].value == pytest.approx(1.35e6)
    assert rep.totals["emissions_location"].value == pytest.approx(150.0)
    assert rep.totals["energy"].span_ids == (R1,)


def test_report_is_recomputable(sample_spans):
    a = build_report(sample_spans, period_start=JAN[0], period_end=JAN[1], generated_at=NOW, options=options())
    b = build_report(
        list(reversed(sample_spans)),
        period_start=JAN[0],
        period_end=JAN[1],
        generated_at=NOW,
        options=options(),
    )
    assert a.to_dict() == b.to_dict()
    c = build_report(sample_spans[:-1], period_start=JAN[0], period_end=JAN[1], generated_at=NOW, options=options())
    assert c.report_id != a.report_id


def test_bad_inputs_are_refused(sample_spans):
    with pytest.raises(ValueError, match="tz-aware"):
        build_report(sample_spans, period_start=datetime(2026, 1, 1), period_end=JAN[1], generated_at=NOW)
    with pytest.raises(ValueError, match="after"):
        build_report(sample_spans, period_start=JAN[1], period_end=JAN[0], generated_at=NOW)
    with pytest.raises(UnitError, match="kind"):
        Instrument("x", "offset", 1.0, "DE", *JAN)
    with pytest.raises(UnitError, match="finite"):
        Instrument("x", "ppa", float("nan"), "DE", *JAN)
    with pytest.raises(UnitError, match="sum to 1"):
        GridMix(0.5, 0.5, 0.5, "bad")
    with pytest.raises(UnitError, match="> 0"):
        SciSpec("m", "request", 0)


def test_renderers(sample_spans):
    rep = build_report(sample_spans, period_start=JAN[0], period_end=JAN[1], generated_at=NOW, options=options())
    d = json.loads(render(rep, "json"))
    assert d["totals"]["energy"]["value"] == pytest.approx(12.6e6)
    rows = list(csv.DictReader(io.StringIO(render(rep, "csv"))))
    tot = next(r for r in rows if r["section"] == "totals" and r["metric"] == "emissions_location")
    assert float(tot["value"]) == pytest.approx(500.0)
    assert tot["snapshot_ids"] == "snap-de;snap-fr"
    assert tot["span_ids"].count(";") == 2
    md = render(rep, "md")
    assert "| inference | 2 ± 0.4 | 100 ± 20 | 57.1% |" in md
    assert "0.0007" in md  # market-based tCO2e
    html = render(rep, "html")
    assert html.count("<svg") == 3
    assert html.count('class="ct-bar"') >= 4 + 2 + 4
    assert "<script" not in html and "http://" not in html.replace("http://www.w3.org/2000/svg", "")
    with pytest.raises(ValueError):
        render(rep, "pdf")


def test_codecarbon_export_matches_codecarbon_columns(sample_spans):
    cc = pytest.importorskip("codecarbon.output_methods.emissions_data")
    assert tuple(f.name for f in dataclasses.fields(cc.EmissionsData)) == CODECARBON_COLUMNS
    rows = list(csv.DictReader(io.StringIO(emissions_csv(sample_spans))))
    assert len(rows) == 3  # root spans only
    r1 = next(r for r in rows if r["experiment_id"] == R1)
    assert float(r1["energy_consumed"]) == pytest.approx(1.0)
    assert float(r1["cpu_energy"]) == pytest.approx(1.0)
    assert float(r1["emissions"]) == pytest.approx(0.4)
    assert float(r1["emissions_rate"]) == pytest.approx(0.4 / 600)
    assert float(r1["cpu_power"]) == pytest.approx(6000.0)
    r3 = next(r for r in rows if r["experiment_id"] == R3)
    assert r3["emissions"] == ""  # not attributed: left empty, not zero
    assert float(r3["energy_consumed"]) == pytest.approx(0.5)
    assert float(r3["cpu_energy"]) == 0.0


def test_hourly_intensity_recorded_by_attribution_follows_each_bucket():
    from tests.report.conftest import span

    t0 = T0.timestamp()
    s = span("9" * 32, "train", 3.6e6, emissions_g=200.0, zone="DE", buckets=[(t0, 1.8e6), (t0 + 3600, 1.8e6)])
    # as grid attribution records it: [bucket_start, energy_j, intensity]; 0.5 kWh x 100 + 0.5 kWh x 300 = 200 g
    s.provenance["buckets_intensity_g_per_kwh"] = [[t0, 1.8e6, 100.0], [t0 + 3600, 1.8e6, 300.0]]
    second = datetime.fromtimestamp(t0 + 3600, UTC)
    rep = build_report([s], period_start=second, period_end=second + timedelta(hours=1), generated_at=NOW)
    assert rep.totals["emissions_location"].value == pytest.approx(150.0)  # not 100 (pro-rated by energy)
    rep = build_report(
        [s],
        period_start=T0,
        period_end=T0 + timedelta(days=1),
        generated_at=NOW,
        options=ReportOptions(period_granularity="hour"),
    )
    assert [r["emissions_g"] for r in rep.trend] == pytest.approx([50.0, 150.0])
    # market-based, no instrument and no residual mix: each hour at its own location-based intensity
    assert rep.totals["emissions_market"].value == pytest.approx(200.0)
    opts = ReportOptions(instruments=[Instrument("PPA", "ppa", 1.8e6, "DE", second, second + timedelta(hours=1))])
    rep = build_report([s], period_start=T0, period_end=T0 + timedelta(days=1), generated_at=NOW, options=opts)
    assert rep.totals["emissions_market"].value == pytest.approx(50.0)  # the 300 g/kWh hour is covered
