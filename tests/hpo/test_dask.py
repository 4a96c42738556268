"""Trials as futures on a real Dask LocalCluster (processes), the study in PostgreSQL, one exact quota."""

from __future__ import annotations

import pytest

from carbontrail.hpo import optimize
from carbontrail.ledger import Ledger
from carbontrail.testing.hpo import FakeTrialMeasure, random_cost_objective

distributed = pytest.importorskip("dask.distributed")


def test_dask_workers_share_one_study_and_one_quota(pg_url):
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=40) as cluster, distributed.Client(cluster) as client:
        res = optimize(
            "carbontrail.testing.hpo:random_cost_objective",
            {"x": {"low": 0.0, "high": 1.0}, "y": {"low": 0.0, "high": 1.0}},
            quota="800 J", ledger=pg_url, storage=pg_url, study_name="dask-study", n_workers=2,
            sampler="random", seed=11, measure=FakeTrialMeasure(pg_url), initial_reservation_j=150.0,
            heartbeat_interval_s=0.1, dask_client=client,
        )
    st = res.account
    assert st.overshoot == 0 and st.spent_j <= 800.0 and st.spent_j > 500.0
    assert st.n_open == 0 and st.status == "exhausted"
    hosts = {w.worker.rsplit(":", 1)[0] for w in res.workers}
    assert len(hosts) == 2  # two worker processes (host:pid)
    trials = res.study.get_trials(deepcopy=False)
    assert len({t.user_attrs.get("worker") for t in trials if t.user_attrs.get("worker")}) >= 2
    led = Ledger.open(pg_url)
    spans = led.spans(kind="hpo-trial")
    assert len(spans) == sum(1 for t in trials if t.user_attrs.get("span_id"))
    assert sum(s.energy_j for s in spans) + st.sampler_j == pytest.approx(st.spent_j)
    led.close()
    assert random_cost_objective is not None


def test_carbon_timing_holds_trials_on_dask_workers(pg_url):
    """The timing (its clock and the scheduler's forecast source) travels to worker processes."""
    from datetime import UTC, datetime, timedelta

    from carbontrail.hpo import CarbonTiming
    from carbontrail.schedule import SimulatedClock
    from carbontrail.schedule.signals import ForecastSource

    t0 = datetime(2022, 6, 10, tzinfo=UTC)  # midnight UTC in California: the solar trough is hours away
    timing = CarbonTiming(deadline_at=t0 + timedelta(hours=24), forecast=ForecastSource(["CISO"]),
                          clock=SimulatedClock(t0.timestamp()), trial_duration_s=600.0, power_w=0.5, zone="CISO")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=40) as cluster, distributed.Client(cluster) as client:
        res = optimize(
            "carbontrail.testing.hpo:random_cost_objective",
            {"x": {"low": 0.0, "high": 1.0}, "y": {"low": 0.0, "high": 1.0}},
            quota="800 J", ledger=pg_url, storage=pg_url, study_name="dask-carbon", n_workers=2,
            sampler="random", seed=11, measure=FakeTrialMeasure(pg_url), initial_reservation_j=150.0,
            heartbeat_interval_s=0.1, dask_client=client, carbon_aware=timing,
        )
    trials = [t for t in res.study.get_trials(deepcopy=False) if "carbon_decision" in t.user_attrs]
    assert len(trials) >= 2 and res.account.overshoot == 0
    assert len({t.user_attrs["worker"] for t in trials}) == 2
    held = [t for t in trials if t.user_attrs["carbon_decision"] == "shift"]
    assert held and all(t.user_attrs["carbon_wait_s"] > 3600 for t in held)  # each worker waited on its clock
    at_start = ForecastSource(["CISO"])(t0.timestamp(), t0.timestamp() + 3600).forecasts["CISO"].values_g_per_kwh[0]
    assert all(0 < t.user_attrs["intensity_g_per_kwh"] < at_start for t in trials)  # greener than at midnight
