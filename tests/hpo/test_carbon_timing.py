"""Carbon-aware trial timing: trials wait for a green window when the deadline allows (simulated clock)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from carbontrail.errors import ConfigError
from carbontrail.grid.series import IntensitySeries
from carbontrail.hpo import CarbonTiming, optimize
from carbontrail.hpo.timing import remaining_work_job
from carbontrail.provenance import IntensityProvenance
from carbontrail.schedule import Signal, SimulatedClock
from carbontrail.testing.hpo import FakeTrialMeasure, spend

T0 = datetime(2024, 3, 1, tzinfo=UTC)
H = 3600.0
# dirty for three hours, green for two, dirty again
VALUES = [500.0, 500.0, 500.0, 100.0, 100.0, 500.0, 500.0, 500.0, 500.0, 500.0, 500.0, 500.0]


def _forecast(now_s: float, until_s: float) -> Signal:
    prov = IntensityProvenance(zone="AA", source="forecast:test", dataset="x", vintage="2024")
    i0 = int((now_s - T0.timestamp()) // H)
    s = IntensitySeries(start_s=T0.timestamp() + i0 * H, step_s=H,
                        values_g_per_kwh=np.asarray(VALUES[i0:], float), provenance=prov)
    return Signal({"AA": s}, datetime.fromtimestamp(now_s, UTC))


def _objective(ctx):
    spend(ctx, 10.0)
    ctx.check()
    return float(ctx.params["x"])


def _run(ledger_url, clock, deadline_h, n_trials=4):
    timing = CarbonTiming(deadline_at=T0 + timedelta(hours=deadline_h), forecast=_forecast, clock=clock,
                          trial_duration_s=600.0, power_w=10.0 / 600.0, min_saving_rel=0.05)
    return optimize(_objective, {"x": {"low": 0.0, "high": 1.0}}, quota="100 J", ledger=ledger_url,
                    sampler="random", seed=0, n_trials=n_trials, measure=FakeTrialMeasure(),
                    initial_reservation_j=20.0, carbon_aware=timing)


def test_trials_wait_for_the_green_window_when_the_deadline_allows(ledger_url):
    clock = SimulatedClock(T0.timestamp())
    res = _run(ledger_url, clock, deadline_h=8)
    trials = [t for t in res.study.trials if "energy_j" in t.user_attrs]
    assert len(trials) == 4
    # held three hours (on the simulated clock: nothing slept), then every trial ran at 100 g/kWh
    assert clock.now() == pytest.approx(T0.timestamp() + 3 * H)
    assert sum(b - a for a, b in clock.sleeps) == pytest.approx(3 * H)
    assert trials[0].user_attrs["carbon_wait_s"] == pytest.approx(3 * H)
    assert all(t.user_attrs["intensity_g_per_kwh"] == 100.0 for t in trials)
    assert trials[0].user_attrs["carbon_decision"] == "shift"  # later ones start in the window: run-now
    assert all(t.user_attrs["carbon_wait_s"] == 0.0 for t in trials[1:])
    # each trial's emissions use the intensity in force when it ran: 10 J at 100 g/kWh
    for t in trials:
        assert t.user_attrs["emissions_g"] == pytest.approx(10.0 / 3.6e6 * 100.0)
    assert res.account.spent_g == pytest.approx(4 * 10.0 / 3.6e6 * 100.0)
    assert res.account.overshoot == 0


def test_trials_run_at_once_when_the_deadline_leaves_no_room(ledger_url):
    clock = SimulatedClock(T0.timestamp())
    res = _run(ledger_url, clock, deadline_h=2)  # the green window opens after the deadline
    trials = [t for t in res.study.trials if "energy_j" in t.user_attrs]
    assert len(trials) == 4 and clock.sleeps == []
    assert all(t.user_attrs["intensity_g_per_kwh"] == 500.0 for t in trials)
    assert all(t.user_attrs["carbon_wait_s"] == 0.0 for t in trials)


def test_no_trial_starts_after_the_deadline(ledger_url):
    clock = SimulatedClock((T0 + timedelta(hours=9)).timestamp())
    res = _run(ledger_url, clock, deadline_h=8)
    assert res.workers[0].stop_reason == "deadline"
    assert res.account.counts["COMPLETE"] == 0 and res.account.spent_j == 0


def test_remaining_work_job_and_bad_timing():
    job = remaining_work_job(now_s=T0.timestamp(), deadline_s=T0.timestamp() + 8 * H, remaining_j=100.0,
                             power_w=0.05, trial_duration_s=60.0)
    assert job.duration_s == pytest.approx(2000.0) and job.interruptible is not None
    assert job.interruptible.min_chunk_s == 60.0
    tiny = remaining_work_job(now_s=T0.timestamp(), deadline_s=T0.timestamp() + H, remaining_j=0.0,
                              power_w=0.05, trial_duration_s=60.0)
    assert tiny.duration_s == 60.0  # at least one trial
    with pytest.raises(ConfigError):
        CarbonTiming(deadline_at=datetime(2024, 3, 2), forecast=_forecast)  # naive deadline
    with pytest.raises(ConfigError):
        CarbonTiming(deadline_at=T0)  # neither a forecast nor a source and zone


def test_a_carbon_quota_buys_more_trials_in_the_green_window(ledger_url):
    # 0.006 g at the stated 500 g/kWh is 43 J (4 trials of 10 J); at the window's 100 g/kWh it is 216 J
    clock = SimulatedClock(T0.timestamp())
    timing = CarbonTiming(deadline_at=T0 + timedelta(hours=8), forecast=_forecast, clock=clock,
                          trial_duration_s=600.0, power_w=10.0 / 600.0)
    res = optimize(_objective, {"x": {"low": 0.0, "high": 1.0}}, quota="0.006 g", intensity_g_per_kwh=500.0,
                   ledger=ledger_url, sampler="random", seed=0, measure=FakeTrialMeasure(),
                   initial_reservation_j=20.0, carbon_aware=timing)
    st = res.account
    trials = [t for t in res.study.trials if t.user_attrs.get("energy_j")]
    assert len(trials) >= 15  # vs 4 at the stated intensity
    assert all(t.user_attrs["intensity_g_per_kwh"] == 100.0 for t in trials)
    assert st.spent_g == pytest.approx(sum(t.user_attrs["emissions_g"] for t in trials))
    assert st.spent_g <= 0.006 and st.overshoot == 0 and st.n_open == 0
