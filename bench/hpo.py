"""Benchmark: energy-quota HPO against a dense grid, on scikit-learn's bundled digits.

Phase 1 (``measure``): every configuration of two dense grids (>= 144 each) of
HistGradientBoostingClassifier and MLPClassifier is trained once with 3-fold CV on a fixed
split; its accuracy and energy are cached in ``bench/results/hpo_table_<model>.json`` (rerunning
resumes / replays, nothing is measured twice).

Phase 2 (``replay``): full grid, random search, Optuna TPE and carbontrail's cost-aware BO replay
the table (a trial's cost is the measured energy of its configuration). Reported: energy needed
to reach the grid's best accuracy minus 0.2 points (median over seeds) and the success rate
within a quota of 10 % of the grid's energy; overshoot of the quota.

Phase 3 (``live``): one live study on a continuous space under a real quota.

Energy is measured with the CPU-time model at a stated power: process CPU seconds (all threads)
times ``--power-per-core-w`` (default 10 W per busy core; this box has no RAPL counters). The
method is recorded in the table.

    PYTHONPATH=src python bench/hpo.py measure        # once, minutes
    PYTHONPATH=src python bench/hpo.py replay --seeds 10
    PYTHONPATH=src python bench/hpo.py live
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import sys
import time
import warnings
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"

HGB_GRID: dict[str, list[Any]] = {
    "learning_rate": [0.03, 0.1, 0.3],
    "max_iter": [10, 25, 50, 100],
    "max_leaf_nodes": [7, 15, 31],
    "l2_regularization": [0.0, 1.0],
    "max_depth": [3, 0],  # 0 = unlimited
}
MLP_GRID: dict[str, list[Any]] = {
    "hidden": [16, 32, 64, 128],
    "alpha": [1e-4, 1e-2],
    "learning_rate_init": [1e-3, 3e-3, 1e-2],
    "max_iter": [10, 30, 100],
    "batch_size": [32, 128],
}
GRIDS = {"hgb": HGB_GRID, "mlp": MLP_GRID}


def grid_configs(grid: dict[str, list[Any]]) -> list[dict[str, Any]]:
    keys = list(grid)
    return [dict(zip(keys, vals, strict=True)) for vals in itertools.product(*(grid[k] for k in keys))]


def config_key(cfg: dict[str, Any]) -> str:
    return json.dumps(cfg, sort_keys=True)


def make_model(model: str, cfg: dict[str, Any]) -> Any:
    if model == "hgb":
        from sklearn.ensemble import HistGradientBoostingClassifier

        return HistGradientBoostingClassifier(
            learning_rate=cfg["learning_rate"],
            max_iter=int(cfg["max_iter"]),
            max_leaf_nodes=int(cfg["max_leaf_nodes"]),
            l2_regularization=cfg["l2_regularization"],
            max_depth=None if not cfg["max_depth"] else int(cfg["max_depth"]),
            early_stopping=False,
            random_state=0,
        )
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(
        StandardScaler(),
        MLPClassifier(
            hidden_layer_sizes=(int(cfg["hidden"]),),
            alpha=cfg["alpha"],
            learning_rate_init=cfg["learning_rate_init"],
            max_iter=int(cfg["max_iter"]),
            batch_size=int(cfg["batch_size"]),
            random_state=0,
        ),
    )


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def cv_accuracy(model: str, cfg: dict[str, Any]) -> float:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    x, y = load_digits(return_X_y=True)
    folds = StratifiedKFold(n_splits=3, shuffle=True, random_state=0)  # fixed split
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(cross_val_score(make_model(model, cfg), x, y, cv=folds, n_jobs=1).mean())


def measure(model: str, power_per_core_w: float) -> dict[str, Any]:
    """Measure (or resume measuring) every configuration of ``model``'s grid once."""
    from threadpoolctl import threadpool_limits

    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"hpo_table_{model}.json"
    table: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    table.setdefault("meta", {
        "model": model,
        "method": "cpu-time-model",
        "power_per_core_w": power_per_core_w,
        "cv": "StratifiedKFold(3, shuffle=True, random_state=0)",
        "dataset": "sklearn.datasets.load_digits",
        "grid": GRIDS[model],
    })
    rows: dict[str, Any] = table.setdefault("rows", {})
    cfgs = grid_configs(GRIDS[model])
    with threadpool_limits(limits=1):
        cv_accuracy(model, cfgs[0])  # warm imports, not counted
        for i, cfg in enumerate(cfgs):
            key = config_key(cfg)
            if key in rows:
                continue
            c0, t0 = cpu_s(), time.perf_counter()
            acc = cv_accuracy(model, cfg)
            c1, t1 = cpu_s(), time.perf_counter()
            rows[key] = {
                "config": cfg,
                "accuracy": acc,
                "cpu_s": c1 - c0,
                "duration_s": t1 - t0,
                "energy_j": (c1 - c0) * power_per_core_w,
            }
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(table, indent=1))
            os.replace(tmp, path)
            print(f"{model} {i + 1}/{len(cfgs)} acc={acc:.4f} cpu={c1 - c0:.2f}s", file=sys.stderr)
    return table


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("measure")
    m.add_argument("--model", choices=["hgb", "mlp", "both"], default="both")
    m.add_argument("--power-per-core-w", type=float, default=10.0)
    args = ap.parse_args(argv)
    if args.cmd == "measure":
        for model in (["hgb", "mlp"] if args.model == "both" else [args.model]):
            measure(model, args.power_per_core_w)


if __name__ == "__main__":
    main()
