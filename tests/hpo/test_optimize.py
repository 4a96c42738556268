"""optimize(): quota never overshot with several workers, every trial counted, dead workers, resume."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import optuna
import pytest

from carbontrail.hpo import Quota, QuotaAccount, TrackMeasure, optimize
from carbontrail.ledger import Ledger
from carbontrail.testing.hpo import FakeTrialMeasure, failing_or_pruned_objective, random_cost_objective

SPACE = {"x": {"low": 0.0, "high": 1.0}, "y": {"low": 0.0, "high": 1.0}}
SRC = str(Path(__file__).resolve().parents[2] / "src")


@pytest.mark.parametrize("sampler,seed", [("cost-aware", 1), ("tpe", 3)])
def test_quota_never_overshot_with_several_workers(ledger_url, sampler, seed):
    led = Ledger.open(ledger_url)
    res = optimize(
        random_cost_objective, SPACE, quota="2 kJ", ledger=led, n_workers=4, sampler=sampler, seed=seed,
        measure=FakeTrialMeasure(ledger_url), initial_reservation_j=150.0, heartbeat_interval_s=0.05,
    )
    st = res.account
    assert st.overshoot == 0
    assert st.spent_j <= 2000.0
    assert st.status == "exhausted" and st.n_open == 0 and st.reserved_j == 0
    assert st.spent_j > 1500.0  # the quota was actually used, not refused from the start
    trials = res.study.get_trials(deepcopy=False)
    trial_j = sum(t.user_attrs.get("energy_j", 0.0) for t in trials)
    assert st.spent_j == pytest.approx(trial_j + st.sampler_j)
    # every trial with energy has a ledger span of kind hpo-trial with that energy
    spans = {s.span_id: s for s in led.spans(kind="hpo-trial")}
    ran = [t for t in trials if t.user_attrs.get("span_id")]
    assert len(spans) == len(ran) and all(
        spans[t.user_attrs["span_id"]].energy_j == pytest.approx(t.user_attrs["energy_j"]) for t in ran
    )
    assert sum(st.counts[k] for k in ("COMPLETE", "PRUNED", "FAIL", "QUOTA")) == len(ran)
    led.close()


def _endless(ctx):
    from carbontrail.testing.hpo import spend

    step = 0
    while True:  # never finishes on its own: only the quota guard can stop it
        spend(ctx, 10.0)
        ctx.report(0.0, step)
        ctx.check()
        step += 1


def test_a_trial_is_stopped_inside_before_it_overshoots(ledger_url):
    res = optimize(_endless, {"x": {"low": 0.0, "high": 1.0}}, quota="105 J", ledger=ledger_url,
                   sampler="random", measure=FakeTrialMeasure(), initial_reservation_j=15.0)
    st = res.account
    assert st.counts["QUOTA"] == 1 and st.overshoot == 0
    assert 80.0 <= st.spent_j <= 105.0
    t = res.study.trials[0]
    assert t.state == optuna.trial.TrialState.PRUNED and t.user_attrs["end_state"] == "QUOTA"


def test_failed_and_pruned_trials_are_counted(ledger_url):
    res = optimize(
        failing_or_pruned_objective, {"x": {"low": 0.0, "high": 1.0}}, quota="1 kJ", ledger=ledger_url,
        n_trials=9, sampler="random", seed=0, measure=FakeTrialMeasure(), initial_reservation_j=20.0,
    )
    st = res.account
    assert (st.counts["COMPLETE"], st.counts["FAIL"], st.counts["PRUNED"]) == (3, 3, 3)
    assert st.spent_j == pytest.approx(90.0 + st.sampler_j)
    states = [t.state for t in res.study.get_trials(deepcopy=False)]
    assert states.count(optuna.trial.TrialState.FAIL) == 3
    assert all(t.user_attrs["energy_j"] == 10.0 for t in res.study.get_trials(deepcopy=False))


def test_stopped_study_resumes(ledger_url, tmp_path):
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    kw = dict(ledger=ledger_url, storage=storage, study_name="resume-me", sampler="random",
              measure=FakeTrialMeasure(), initial_reservation_j=200.0)
    first = optimize(random_cost_objective, SPACE, quota="10 kJ", n_trials=4, seed=1, **kw)
    assert first.account.counts["COMPLETE"] == 4
    second = optimize(random_cost_objective, SPACE, quota="10 kJ", n_trials=7, seed=2, **kw)
    assert len(second.study.get_trials()) == 7
    assert second.account.counts["COMPLETE"] == 7
    assert second.account.spent_j > first.account.spent_j
    # the final account is in the ledger, readable without the study
    led = Ledger.open(ledger_url)
    assert QuotaAccount(led, "resume-me").state().spent_j == pytest.approx(second.account.spent_j)
    led.close()


def test_result_cache_answers_repeats_for_free(ledger_url):
    res = optimize(
        failing_or_pruned_objective, {"x": [0.5]}, quota="1 kJ", ledger=ledger_url, n_trials=2,
        sampler="random", measure=FakeTrialMeasure(), max_cached_in_row=5,
    )
    st = res.account
    assert st.counts["COMPLETE"] == 1 and st.counts["CACHED"] == 5
    assert st.spent_j == pytest.approx(10.0 + st.sampler_j)
    assert [w.stop_reason for w in res.workers] == ["converged"]


def test_real_path_writes_tracked_spans(sqlite_url):
    from carbontrail.config import load_settings
    from carbontrail.meter.base import MeterSet
    from carbontrail.meter.track import Tracker
    from carbontrail.testing import FakeMeter

    led = Ledger.open(sqlite_url)
    meter = FakeMeter()
    tracker = Tracker(load_settings(), meters=MeterSet([meter]), ledger=led,
                      attribute=lambda recs: list(recs))

    def objective(ctx):
        meter.add(5.0)
        return ctx.params["x"]

    res = optimize(objective, {"x": {"low": 0.0, "high": 1.0}}, quota="1 kJ", ledger=led, n_trials=3,
                   sampler="random", measure=TrackMeasure(tracker), intensity_g_per_kwh=360.0)
    spans = led.spans(kind="hpo-trial")
    assert len(spans) == 3 and all(s.energy_j == pytest.approx(5.0) for s in spans)
    assert all(s.tags["study"] == res.study_name for s in spans)
    assert res.account.spent_j == pytest.approx(15.0)
    assert res.account.spent_g == pytest.approx(15.0 / 3.6e6 * 360.0)
    for t in res.study.get_trials():
        assert t.user_attrs["emissions_g"] == pytest.approx(5.0 / 3.6e6 * 360.0)
    tracker.close()
    led.close()


def test_carbon_quota(ledger_url):
    res = optimize(
        random_cost_objective, SPACE, quota="0.1 g", intensity_g_per_kwh=360_000.0, ledger=ledger_url,
        n_workers=2, sampler="random", seed=5, measure=FakeTrialMeasure(), initial_reservation_j=150.0,
    )
    st = res.account
    assert st.quota.basis == "carbon" and st.overshoot == 0
    assert st.spent_g <= 0.1 + 1e-12 and st.spent_j <= 1000.0 + 1e-9  # 0.1 g at 360 kg/kWh = 1 kJ


_KILLED = textwrap.dedent("""
    import sys, time
    from carbontrail.hpo import optimize
    from carbontrail.testing.hpo import FakeTrialMeasure, spend

    def objective(ctx):
        spend(ctx, 40.0)
        ctx.report(0.0, 0)
        print("RUNNING", flush=True)
        time.sleep(60)
        return 0.0

    optimize(objective, {"x": {"low": 0.0, "high": 1.0}}, quota="1 kJ", ledger=sys.argv[1],
             storage=sys.argv[2], study_name="killed", sampler="random", n_trials=1,
             measure=FakeTrialMeasure(), initial_reservation_j=300.0, heartbeat_interval_s=0.1)
""")


def test_dead_worker_reservation_is_reclaimed(ledger_url, tmp_path):
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    script = tmp_path / "worker.py"
    script.write_text(_KILLED)
    env = {**os.environ, "PYTHONPATH": SRC}
    proc = subprocess.Popen([sys.executable, str(script), ledger_url, storage], stdout=subprocess.PIPE,
                            env=env, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "RUNNING"
        time.sleep(0.4)  # a few heartbeats carry the measured 40 J
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    led = Ledger.open(ledger_url)
    acc = QuotaAccount(led, "killed")
    st = acc.state()
    assert st.n_open == 1 and st.reserved_j >= 300.0  # the dead worker's reservation is still held
    held_j = st.reserved_j
    time.sleep(1.0)
    res = optimize(failing_or_pruned_objective, {"x": {"low": 0.0, "high": 1.0}}, quota="1 kJ", ledger=led,
                   storage=storage, study_name="killed", sampler="random", n_trials=2,
                   measure=FakeTrialMeasure(), stale_after_s=0.5, initial_reservation_j=20.0)
    st = res.account
    assert st.counts["RECLAIMED"] == 1 and st.n_open == 0 and st.reserved_j == 0
    reclaimed = [c for c in acc.charges() if c["state"] == "RECLAIMED"]
    # 40 J were heartbeated before the kill; what it used after is unknown: the whole reservation is charged
    assert len(reclaimed) == 1 and reclaimed[0]["energy_j"] == pytest.approx(held_j)
    t0 = res.study.trials[0]
    assert t0.state == optuna.trial.TrialState.FAIL  # the dead trial is failed in the study too
    assert sum(w.n_reclaimed for w in res.workers) == 1
    led.close()


def test_bad_input_is_refused_clearly(sqlite_url):
    from carbontrail.errors import ConfigError, UnitError

    with pytest.raises(UnitError):
        optimize(random_cost_objective, SPACE, quota="12 parsecs", ledger=sqlite_url)
    with pytest.raises(ConfigError):
        optimize(random_cost_objective, {"x": {"low": "a"}}, quota="1 kJ", ledger=sqlite_url)
    with pytest.raises(ConfigError):
        optimize("nomodule_xyz:fn", SPACE, quota="1 kJ", ledger=sqlite_url, n_trials=1,
                 measure=FakeTrialMeasure())
    assert Quota.parse("1 kJ").limit == 1000.0


class _BrokenMeasure:
    """Opens sampler windows but no trial window (a meter that breaks mid-study)."""

    def __init__(self):
        self.fake = FakeTrialMeasure()

    def start(self, name, kind, tags):
        if kind == "hpo-trial":
            from carbontrail.errors import MeterError

            raise MeterError("meter went away")
        return self.fake.start(name, kind, tags)


def test_a_broken_meter_loses_nothing(ledger_url):
    from carbontrail.errors import MeterError

    led = Ledger.open(ledger_url)
    with pytest.raises(MeterError):
        optimize(random_cost_objective, SPACE, quota="1 kJ", ledger=led, study_name="broken", n_trials=3,
                 sampler="random", measure=_BrokenMeasure())
    st = QuotaAccount(led, "broken").state()
    assert st.n_open == 0 and st.reserved_j == 0 and st.counts["FAIL"] == 1
    led.close()
