"""Hyperparameter optimisation under energy and carbon quotas, on Optuna (ask/tell).

    from carbontrail.hpo import optimize

    def objective(ctx):
        model = make_model(**ctx.params)
        return cross_val_score(model, X, y, cv=3).mean()

    result = optimize(objective, {"lr": {"low": 1e-3, "high": 0.3, "log": True}}, quota="20 kJ")
    result.account.spent_j, result.best_params

See ``docs/hpo.md`` for the quota guarantee, the cost-aware sampler, Dask and the CLI.
"""

from __future__ import annotations

from carbontrail.hpo.account import AccountState, QuotaAccount
from carbontrail.hpo.fidelity import Checkpoints, Fidelity, promote
from carbontrail.hpo.measure import TrackMeasure, TrialMeasure, TrialWindow
from carbontrail.hpo.quota import Quota
from carbontrail.hpo.runner import (
    EnergyAwarePruner,
    HpoResult,
    TrialContext,
    WorkerReport,
    load_objective,
    optimize,
)
from carbontrail.hpo.sampler import CostAwareSampler
from carbontrail.hpo.space import parse_space
from carbontrail.hpo.warm import warm_start

__all__ = [
    "AccountState",
    "Checkpoints",
    "CostAwareSampler",
    "EnergyAwarePruner",
    "Fidelity",
    "HpoResult",
    "Quota",
    "QuotaAccount",
    "TrackMeasure",
    "TrialContext",
    "TrialMeasure",
    "TrialWindow",
    "WorkerReport",
    "load_objective",
    "optimize",
    "parse_space",
    "promote",
    "warm_start",
]
