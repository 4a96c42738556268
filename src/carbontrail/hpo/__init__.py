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

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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
    from carbontrail.hpo.timing import CarbonTiming
    from carbontrail.hpo.warm import warm_start

# Names load on first use, so that the ledger's migrations (which import carbontrail.hpo.tables)
# do not pull Optuna into every process that opens the ledger.
_WHERE = {
    "AccountState": "account", "QuotaAccount": "account",
    "Checkpoints": "fidelity", "Fidelity": "fidelity", "promote": "fidelity",
    "TrackMeasure": "measure", "TrialMeasure": "measure", "TrialWindow": "measure",
    "Quota": "quota",
    "EnergyAwarePruner": "runner", "HpoResult": "runner", "TrialContext": "runner", "WorkerReport": "runner",
    "load_objective": "runner", "optimize": "runner",
    "CostAwareSampler": "sampler", "parse_space": "space", "warm_start": "warm", "CarbonTiming": "timing",
}


def __getattr__(name: str) -> Any:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module 'carbontrail.hpo' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"carbontrail.hpo.{where}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "AccountState",
    "CarbonTiming",
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
