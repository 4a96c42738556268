"""Reports built from a real ledger on both backends: spans, the scheduler's plans, HPO accounts, grid mix."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from tests.report.conftest import R1, T0

from carbontrail.report import ReportOptions, build_report, load_period_spans, report_from_ledger
from carbontrail.report.ledger import grid_mix_for

NOW = datetime(2026, 2, 1, tzinfo=UTC)


def test_report_from_ledger(ledger, sample_spans):
    ledger.add_spans(sample_spans)
    start, end = T0 - timedelta(days=1), T0 + timedelta(days=1)
    got = report_from_ledger(ledger, period_start=start, period_end=end, generated_at=NOW)
    mix = grid_mix_for({"DE"})
    want = build_report(
        sample_spans, period_start=start, period_end=end, generated_at=NOW, options=ReportOptions(grid_mix=mix)
    )
    assert got.to_dict() == want.to_dict()
    assert got.totals["energy"].value == 5.4e6
    e15 = got.csrd["e1_5"]["mix"]
    assert "Germany" in e15["source"][0]
    assert e15["fossil_mwh"] + e15["nuclear_mwh"] + e15["renewable_mwh"] == pytest.approx(0.0015)
    # a period after everything ended loads nothing
    assert load_period_spans(ledger, T0 + timedelta(days=5), T0 + timedelta(days=6)) == []


def test_grid_mix_only_for_countries():
    mix = grid_mix_for({"FR", "CISO", "nowhere"})
    assert set(mix) == {"FR"}
    assert mix["FR"].nuclear > 0.5  # France's generation is mostly nuclear


def test_schedule_plans_and_hpo_accounts_feed_the_report(ledger, sample_spans):
    from carbontrail.hpo.tables import hpo_accounts
    from carbontrail.schedule.tables import schedule_plans

    ledger.add_spans(sample_spans)
    plan = {
        "plan_id": "p1",
        "job_id": "job-1",
        "job_name": "retrain",
        "created_at": T0,
        "zone": "DE",
        "decision": "shift",
        "reason": "cheaper later",
        "objective": "emissions",
        "chunks": [],
        "immediate_chunks": [],
        "energy_j": 3.6e6,
        "expected_emissions_g": 300.0,
        "run_now_emissions_g": 420.0,
        "saving_g": 120.0,
        "uncertainty_g": 10.0,
        "forecast_source": "test",
        "forecast_generated_at": T0,
        "forecast_digest": "d",
        "forecast": {},
        "realised_emissions_g": 310.0,
        "realised_run_now_emissions_g": 410.0,
        "realised_energy_j": 3.6e6,
        "realised_span_ids": [R1],
        "realised_at": T0,
    }
    pending = {
        **plan,
        "plan_id": "p2",
        "job_id": "job-2",
        "realised_emissions_g": None,
        "realised_run_now_emissions_g": None,
        "realised_span_ids": None,
        "realised_at": None,
    }
    account = {
        "study_name": "s1",
        "basis": "energy",
        "limit_value": 1e6,
        "spent_j": 4e5,
        "spent_g": 20.0,
        "n_complete": 7,
        "n_pruned": 2,
        "n_failed": 1,
        "status": "open",
        "created_at": T0,
        "updated_at": T0,
    }
    with ledger.write() as conn:
        conn.execute(schedule_plans.insert(), [plan, pending])
        conn.execute(hpo_accounts.insert(), [account])
    rep = report_from_ledger(
        ledger, period_start=T0 - timedelta(days=1), period_end=T0 + timedelta(days=2), generated_at=NOW
    )
    s = rep.scheduling
    assert (s["jobs"], s["jobs_realised"]) == (2, 1)
    assert s["realised_saving_g"] == pytest.approx(100.0)  # 410 actual run-now - 310 realised
    assert s["realised_saving_rel"] == pytest.approx(100 / 410)
    assert s["expected_saving_g"] == pytest.approx(240.0)
    assert s["span_ids"] == [R1]
    (q,) = rep.hpo
    assert (q["study"], q["trials"], q["used_rel"]) == ("s1", 10, pytest.approx(0.4))


def test_long_running_trees_are_loaded_whole(ledger):
    from tests.report.conftest import span

    day = 86400.0
    t_root = T0 - timedelta(days=10)
    root = span(
        "e" * 32,
        "train",
        11 * 8.64e5,
        start=t_root,
        duration_s=11 * day,
        buckets=[(t_root.timestamp() + i * day, 8.64e5) for i in range(11)],
    )
    child = span(
        "f" * 32, "data-prep", 4.32e5, start=t_root + timedelta(days=1), duration_s=3600, parent_id=root.span_id
    )
    old = span("1" * 32, "train", 1.0, start=T0 - timedelta(days=30), duration_s=60)
    ledger.add_spans([root, child, old])
    start, end = T0 - timedelta(days=1), T0 + timedelta(days=1)
    got = load_period_spans(ledger, start, end)
    assert sorted(s.span_id for s in got) == sorted([root.span_id, child.span_id])
    rep = report_from_ledger(ledger, period_start=start, period_end=end, generated_at=NOW)
    # the root's two buckets in the period, pro-rated to its exclusive share (1 - 4.32e5 / 9.504e6)
    assert rep.totals["energy"].value == pytest.approx(2 * 8.64e5 * (1 - 4.32e5 / 9.504e6))
    assert rep.totals["energy"].span_ids == (root.span_id,)
