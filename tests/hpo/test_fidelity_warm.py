"""Multi-fidelity promotion resuming checkpoints (Optuna artifacts), warm starts, the cost-aware sampler."""

from __future__ import annotations

import warnings

import numpy as np
import optuna
import pytest
from optuna.artifacts import FileSystemArtifactStore

from carbontrail.errors import ConfigError
from carbontrail.hpo import CostAwareSampler, Fidelity, optimize, parse_space
from carbontrail.testing.hpo import FakeTrialMeasure, spend

J_PER_EPOCH = 2.0


def _sgd_objective(ctx):
    """A real SGD classifier on digits trained for ``epochs`` passes of partial_fit, resumed when it can."""
    from sklearn.datasets import load_digits
    from sklearn.linear_model import SGDClassifier

    x, y = load_digits(return_X_y=True)
    x = x / 16.0
    tr, te = slice(0, 1200), slice(1200, None)
    found = ctx.load_checkpoint()
    if found is None:
        model, done = SGDClassifier(alpha=ctx.params["alpha"], random_state=0), 0
    else:
        model, level = found
        done = int(level)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(done, int(ctx.params["epochs"])):
            model.partial_fit(x[tr], y[tr], classes=np.arange(10))
            spend(ctx, J_PER_EPOCH)  # energy proportional to the training actually done
            ctx.check()
    ctx.save_checkpoint(model)
    return float(model.score(x[te], y[te]))


def test_promotions_resume_checkpoints(sqlite_url, tmp_path):
    store = FileSystemArtifactStore(str(tmp_path / "artifacts"))
    (tmp_path / "artifacts").mkdir()
    res = optimize(
        _sgd_objective, {"alpha": {"low": 1e-5, "high": 1e-1, "log": True}, "epochs": [1, 3, 9]},
        quota="5 kJ", ledger=sqlite_url, n_trials=14, sampler="random", seed=0, measure=FakeTrialMeasure(),
        fidelity=Fidelity("epochs", (1, 3, 9), eta=3), artifact_store=store, initial_reservation_j=40.0,
    )
    trials = res.study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    promoted = [t for t in trials if "promoted_from" in t.user_attrs]
    assert promoted, "some configurations were promoted"
    assert any(t.params["epochs"] == 9 for t in promoted)
    for t in promoted:
        assert t.user_attrs["resumed_from_level"] < t.params["epochs"]
        # resumed: only the extra epochs were paid for
        extra = t.params["epochs"] - t.user_attrs["resumed_from_level"]
        assert t.user_attrs["energy_j"] == pytest.approx(J_PER_EPOCH * extra)
        src = res.study.trials[t.user_attrs["promoted_from"]]
        assert {k: v for k, v in src.params.items() if k != "epochs"} == \
            {k: v for k, v in t.params.items() if k != "epochs"}
    fresh = [t for t in trials if "promoted_from" not in t.user_attrs]
    assert all(t.params["epochs"] == 1 for t in fresh)  # new configurations start at the lowest level
    assert res.account.overshoot == 0


def test_fidelity_needs_matching_space(sqlite_url):
    with pytest.raises(ConfigError):
        optimize(_sgd_objective, {"alpha": [0.1], "epochs": [1, 2]}, quota="1 kJ", ledger=sqlite_url,
                 fidelity=Fidelity("epochs", (1, 3, 9)))
    with pytest.raises(ConfigError):
        Fidelity("epochs", (3, 1))


def test_warm_start_enqueues_best_of_earlier_study(sqlite_url, tmp_path):
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    space = {"x": {"low": 0.0, "high": 1.0}}

    def obj(ctx):
        spend(ctx, 1.0)
        return -abs(ctx.params["x"] - 0.42)

    first = optimize(obj, space, quota="1 kJ", ledger=sqlite_url, storage=storage, study_name="old",
                     n_trials=8, sampler="random", seed=1, measure=FakeTrialMeasure())
    top = sorted(first.study.get_trials(), key=lambda t: t.value, reverse=True)[:2]
    second = optimize(obj, space, quota="1 kJ", ledger=sqlite_url, storage=storage, study_name="new",
                      n_trials=2, sampler="random", seed=2, measure=FakeTrialMeasure(),
                      warm_start_from=["old"], warm_start_top_k=2)
    got = [t.params["x"] for t in second.study.get_trials()]
    assert got == [t.params["x"] for t in top]
    assert all(t.user_attrs["warm_start_from"] == "old" for t in second.study.get_trials())
    with pytest.raises(ConfigError):
        optimize(obj, space, quota="1 kJ", ledger=sqlite_url, storage=storage, study_name="new2",
                 n_trials=1, measure=FakeTrialMeasure(), warm_start_from=["missing"])


def _study_with(trials):
    study = optuna.create_study(direction="maximize")
    space = parse_space({"x": {"low": 0.0, "high": 1.0}})
    for x, value, energy in trials:
        t = optuna.trial.create_trial(params={"x": x}, distributions=space, value=value,
                                      user_attrs={"energy_j": energy})
        study.add_trial(t)
    return study, space


def test_cost_aware_sampler_prefers_cheap_while_budget_is_young_then_pure_ei():
    # values barely better at large x (EI mildly favours it), energy grows steeply with x:
    # with alpha=1 (budget young) cheap small-x points win; with alpha=0 (budget spent) cost is ignored
    xs = np.linspace(0.05, 0.95, 8)
    vals = [0.49, 0.5, 0.49, 0.5, 0.51, 0.5, 0.52, 0.51]
    study, space = _study_with([(x, v, float(np.exp(6 * x))) for x, v in zip(xs, vals, strict=True)])
    young = CostAwareSampler(space, budget_fraction=lambda: 0.0, seed=0, n_startup_trials=3)
    picks_young = [young.sample_relative(study, study.trials[-1], space)["x"] for _ in range(7)]
    old = CostAwareSampler(space, budget_fraction=lambda: 1.0, seed=0, n_startup_trials=3)
    picks_old = [old.sample_relative(study, study.trials[-1], space)["x"] for _ in range(7)]
    assert young.alpha() == 1.0 and old.alpha() == 0.0
    assert np.median(picks_young) < 0.25 < np.median(picks_old)
    # candidates whose upper-quantile energy no longer fits the remaining energy are dropped
    tight = CostAwareSampler(space, budget_fraction=lambda: 1.0, remaining_j=lambda: 5.0, seed=0,
                             n_startup_trials=3)
    assert all(tight.sample_relative(study, study.trials[-1], space)["x"] < 0.45 for _ in range(5))


def test_cost_aware_sampler_delegates_during_startup():
    study, space = _study_with([(0.1, 0.5, 1.0)])
    s = CostAwareSampler(space, n_startup_trials=5, seed=0)
    assert s.sample_relative(study, study.trials[-1], space) == {}


def test_cost_aware_sampler_enumerates_a_finite_space_and_never_repeats():
    space = parse_space({"a": [1, 2, 3, 4], "b": ["x", "y", "z"], "c": {"low": 0, "high": 2}})
    study = optuna.create_study(direction="maximize")
    s = CostAwareSampler(space, seed=0, n_startup_trials=3)
    assert s._grid is not None and len(s._grid) == 36
    picked = set()
    for i in range(36):
        if i < 3:  # startup trials
            params = {"a": [1, 2, 3][i], "b": "xyz"[i], "c": i}
        else:
            params = s.sample_relative(study, study.trials[-1], space)
        key = tuple(sorted(params.items()))
        assert key not in picked
        picked.add(key)
        study.add_trial(optuna.trial.create_trial(
            params=params, distributions=space, value=float(params["a"] + params["c"]),
            user_attrs={"energy_j": float(params["a"]) * (1 + params["c"])}))
    assert s.sample_relative(study, study.trials[-1], space) == {}  # every configuration evaluated


def test_cost_aware_sampler_reuses_kernels_between_refits():
    xs = np.linspace(0.05, 0.95, 8)
    study, space = _study_with([(x, float(x), 1.0 + x) for x in xs])
    s = CostAwareSampler(space, seed=0, n_startup_trials=3, refit_growth=1.5)
    s.sample_relative(study, study.trials[-1], space)
    fitted = dict(s._schedule._fitted)
    assert set(fitted) == {"objective"} and fitted["objective"][0] == 8
    for x in (0.11, 0.12, 0.13):  # 8 -> 11 points: below 8 x 1.5, the kernel is reused
        study.add_trial(optuna.trial.create_trial(params={"x": x}, distributions=space, value=x,
                                                  user_attrs={"energy_j": 1.0 + x}))
        s.sample_relative(study, study.trials[-1], space)
        assert s._schedule._fitted["objective"] is fitted["objective"]
    study.add_trial(optuna.trial.create_trial(params={"x": 0.14}, distributions=space, value=0.14,
                                              user_attrs={"energy_j": 1.14}))
    s.sample_relative(study, study.trials[-1], space)  # 12 = 8 x 1.5 points: optimised again
    assert s._schedule._fitted["objective"][0] == 12


def test_cost_aware_sampler_skips_configurations_running_elsewhere():
    space = parse_space({"a": [1, 2, 3]})
    study = optuna.create_study(direction="maximize")
    for a in (1, 2):
        study.add_trial(optuna.trial.create_trial(params={"a": a}, distributions=space, value=float(a),
                                                  user_attrs={"energy_j": 1.0}))
    s = CostAwareSampler(space, seed=0, n_startup_trials=2)
    assert s.sample_relative(study, study.trials[-1], space) == {"a": 3}  # the one left
    study.enqueue_trial({"a": 3})
    study.ask(space)  # another worker runs it
    assert s.sample_relative(study, study.trials[-1], space) == {}  # nothing left that is not running
