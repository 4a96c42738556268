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
    PYTHONPATH=src python bench/hpo.py tune --seeds 100:120 --variants '{"gp": {}, "tpe-ei": {"surrogate": "tpe"}}'
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
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
    # load scikit-learn's OpenMP and BLAS runtimes first: a limit set before a runtime is loaded does
    # not reach it, and idle OpenMP threads spinning on a busy machine would inflate the CPU time
    import sklearn.ensemble
    import sklearn.neural_network  # noqa: F401
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



# -- replay --------------------------------------------------------------------------------------
def load_table(model: str) -> dict[str, Any]:
    path = RESULTS / f"hpo_table_{model}.json"
    if not path.exists():
        sys.exit(f"{path} missing: run `bench/hpo.py measure` first")
    table = json.loads(path.read_text())
    if len(table["rows"]) < len(grid_configs(GRIDS[model])):
        sys.exit(f"{path} is incomplete: rerun `bench/hpo.py measure` to finish it")
    return table


class _Replay:
    """Objective replaying the measured table: spends the configuration's measured energy.

    Like a training loop that reports after each of ``n_steps`` epochs, it spends the energy in
    equal steps and checks the quota between them (so a trial can be stopped inside).
    """

    def __init__(self, rows: dict[str, Any], n_steps: int = 10) -> None:
        self.rows = rows
        self.n_steps = n_steps

    def __call__(self, ctx: Any) -> float:
        from carbontrail.testing.hpo import spend

        row = self.rows[config_key(dict(ctx.params))]
        for _ in range(self.n_steps):
            spend(ctx, row["energy_j"] / self.n_steps)
            ctx.check()
        return float(row["accuracy"])


class _CpuWindow:
    """A window measured with the CPU-time model (the sampler's own work in the replay)."""

    def __init__(self, sink: list[float], power_per_core_w: float) -> None:
        self.sink = sink
        self.power = power_per_core_w
        self.c0 = cpu_s()

    def energy_j(self) -> float:
        return (cpu_s() - self.c0) * self.power

    def stop(self, status: str = "ok", error: str | None = None) -> None:
        self.sink.append(self.energy_j())


class _HybridMeasure:
    """Trials: the table's measured energy (fake meter). Sampler calls: measured live (CPU-time model)."""

    def __init__(self, power_per_core_w: float) -> None:
        from carbontrail.testing.hpo import FakeTrialMeasure

        self.fake = FakeTrialMeasure()
        self.sampler_j: list[float] = []
        self.power = power_per_core_w

    def start(self, name: str, kind: str, tags: dict[str, str]) -> Any:
        if kind == "hpo-trial":
            return self.fake.start(name, kind, tags)
        return _CpuWindow(self.sampler_j, self.power)


def replay_once(model: str, table: dict[str, Any], method: str, seed: int, quota_j: float, target: float,
                workdir: Path, stop_at_target: bool, options: dict[str, Any] | None = None) -> dict[str, Any]:
    import optuna

    from carbontrail.hpo import optimize

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    reached: list[float] = []
    reached_all: list[float] = []
    measure = _HybridMeasure(float(table["meta"]["power_per_core_w"]))

    def stop_when(study: Any) -> bool:
        if not stop_at_target:
            return False
        try:
            return bool(study.best_value >= target)
        except ValueError:
            return False

    ledger = f"sqlite:///{workdir / f'{model}-{method}-{seed}-{int(stop_at_target)}.db'}"
    res = optimize(
        _Replay(table["rows"]), GRIDS[model], quota=f"{quota_j} J", ledger=ledger, sampler=method, seed=seed,
        measure=measure, stop_when=stop_when, max_cached_in_row=300,
        initial_reservation_j=quota_j / 20, n_workers=1, sampler_options=options,
    )
    spent = spent_all = 0.0
    for t in sorted(res.study.get_trials(deepcopy=False), key=lambda t: t.number):
        spent += float(t.user_attrs.get("energy_j", 0.0))
        # one ask per trial number with a single worker: add the sampler's measured energy of that ask
        spent_all += float(t.user_attrs.get("energy_j", 0.0)) + (
            measure.sampler_j[t.number] if t.number < len(measure.sampler_j) else 0.0)
        if t.value is not None and t.value >= target and not reached:
            reached.append(spent)
            reached_all.append(spent_all)
    acc = res.account
    return {
        "energy_to_target_j": reached[0] if reached else math.inf,
        "energy_to_target_with_sampler_j": reached_all[0] if reached_all else math.inf,
        "sampler_j": acc.sampler_j,
        "reached": bool(reached),
        "spent_j": acc.spent_j,
        "overshoot_j": acc.overshoot,
        "n_run": sum(w.n_run for w in res.workers),
        "n_cached": acc.counts["CACHED"],
        "within_quota": bool(reached) and reached[0] <= quota_j,
    }


def replay(seeds: int, first_seed: int = 0, models: tuple[str, ...] = ("hgb", "mlp"),
           methods: tuple[str, ...] = ("random", "tpe", "cost-aware")) -> dict[str, Any]:
    import statistics
    import tempfile

    out: dict[str, Any] = {}
    seed_list = list(range(first_seed, first_seed + seeds))
    for model in models:
        table = load_table(model)
        rows = table["rows"].values()
        grid_j = sum(r["energy_j"] for r in rows)
        best = max(r["accuracy"] for r in rows)
        target = best - 0.002  # best accuracy minus 0.2 percentage points
        n_ok = sum(r["accuracy"] >= target for r in rows)
        quota10 = 0.1 * grid_j
        print(f"\n{model}: {len(table['rows'])} configs, grid energy {grid_j:.1f} J, best acc {best:.4f}, "
              f"target {target:.4f} ({n_ok} configs reach it), quota 10% = {quota10:.1f} J")
        res_m: dict[str, Any] = {"grid_j": grid_j, "best": best, "target": target, "seeds": seed_list,
                                 "methods": {}}
        with tempfile.TemporaryDirectory() as tmp:
            for method in methods:
                runs_free = [replay_once(model, table, method, s, grid_j, target, Path(tmp), True)
                             for s in seed_list]
                runs_q = [replay_once(model, table, method, s, quota10, target, Path(tmp), False)
                          for s in seed_list]
                med = statistics.median(r["energy_to_target_j"] for r in runs_free)
                med_all = statistics.median(r["energy_to_target_with_sampler_j"] for r in runs_free)
                succ = sum(r["reached"] for r in runs_q) / seeds
                over = max(r["overshoot_j"] for r in runs_q + runs_free)
                spent_max = max(r["spent_j"] / quota10 for r in runs_q)
                res_m["methods"][method] = {
                    "median_energy_to_target_j": med,
                    "median_energy_to_target_with_sampler_j": med_all,
                    "median_sampler_j_per_ask": statistics.median(
                        r["sampler_j"] / max(1, r["n_run"] + r["n_cached"]) for r in runs_free),
                    "ratio_vs_grid": grid_j / med if med > 0 else math.inf,
                    "success_rate_10pct_quota": succ,
                    "max_overshoot_j": over,
                    "max_spent_over_quota": spent_max,
                    "median_trials_run": statistics.median(r["n_run"] for r in runs_free),
                    "energy_to_target_j_per_seed": [r["energy_to_target_j"] for r in runs_free],
                    "sampler_share_of_spent_10pct_quota": statistics.median(
                        r["sampler_j"] / r["spent_j"] for r in runs_q if r["spent_j"] > 0),
                }
                print(f"  {method:10s} median energy to target {med:8.1f} J  = grid/{grid_j / med:5.1f}"
                      f"   (with the sampler's own energy {med_all:8.1f} J = grid/{grid_j / med_all:5.1f})"
                      f"   success within 10% quota {succ:4.0%}   overshoot {over:.3g} J"
                      f"   max spent/quota {spent_max:.3f}"
                      f"   median trials {res_m['methods'][method]['median_trials_run']}")
        print(f"  {'grid':10s} energy {grid_j:8.1f} J (every configuration once)")
        out[model] = res_m
    name = "hpo_replay.json" if first_seed == 0 else f"hpo_replay_seeds{first_seed}.json"
    (RESULTS / name).write_text(json.dumps(out, indent=1))
    return out


# -- tune: a fast in-memory replay, for choosing the sampler's defaults on seeds not reported ----------
def _tune_once(model: str, table: dict[str, Any], method: str, seed: int, quota_j: float, target: float,
               options: dict[str, Any]) -> float:
    """Energy (trials only) until the target under ``quota_j``; inf if not reached. No ledger, no quota
    guard: a trial that would not fit ends the run; repeats are answered free, as the result cache does."""
    import optuna

    from carbontrail.hpo.sampler import CostAwareSampler
    from carbontrail.hpo.space import params_key, parse_space

    rows, dists, spent = table["rows"], parse_space(GRIDS[model]), [0.0]
    sampler: Any
    if method == "random":
        sampler = optuna.samplers.RandomSampler(seed=seed)
    elif method == "tpe":
        sampler = optuna.samplers.TPESampler(seed=seed)
    else:
        sampler = CostAwareSampler(dists, budget_fraction=lambda: spent[0] / quota_j,
                                   remaining_j=lambda: quota_j - spent[0], seed=seed, **options)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    seen: dict[str, float] = {}
    in_row = 0
    while in_row < 300:
        trial = study.ask(dists)
        key = params_key(dict(trial.params))
        if key in seen:
            trial.set_user_attr("cached", True)
            study.tell(trial, seen[key])
            in_row += 1
            continue
        in_row = 0
        row = rows[config_key(dict(trial.params))]
        if spent[0] + row["energy_j"] > quota_j:
            return math.inf
        spent[0] += row["energy_j"]
        seen[key] = row["accuracy"]
        trial.set_user_attr("energy_j", row["energy_j"])
        study.tell(trial, row["accuracy"])
        if row["accuracy"] >= target:
            return spent[0]
    return math.inf


def tune(seeds: range, variants: dict[str, dict[str, Any]], models: tuple[str, ...]) -> None:
    """Median energy to target and success within 10 % of the grid for random, TPE and each variant."""
    import statistics

    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    for model in models:
        table = load_table(model)
        grid_j = sum(r["energy_j"] for r in table["rows"].values())
        target = max(r["accuracy"] for r in table["rows"].values()) - 0.002
        for name, (method, opts) in {"random": ("random", {}), "tpe": ("tpe", {}),
                                     **{k: ("cost-aware", v) for k, v in variants.items()}}.items():
            free = [_tune_once(model, table, method, s, grid_j, target, opts) for s in seeds]
            q10 = [_tune_once(model, table, method, s, 0.1 * grid_j, target, opts) for s in seeds]
            print(f"{model} {name:16s} median energy to target {statistics.median(free):7.1f} J   "
                  f"success within 10% {sum(x < math.inf for x in q10) / len(q10):4.0%}")


# -- live ----------------------------------------------------------------------------------------
class ProcessCpuMeter:
    """The same CPU-time model as the measured tables: process CPU seconds x stated power per core."""

    def __init__(self, power_per_core_w: float) -> None:
        from carbontrail.meter.base import BaseMeter, ComponentInfo

        class _M(BaseMeter):
            name = "cpu-time-model"

            def components(self_inner) -> list[Any]:
                return [ComponentInfo("cpu", "cpu-time-model", 0.3, {"power_per_core_w": power_per_core_w})]

            def read(self_inner) -> list[float]:
                return [cpu_s() * power_per_core_w]

        self.meter = _M()


def _live_objective(ctx: Any) -> float:
    """MLP on digits, 3-fold CV, trained epoch by epoch (``partial_fit``) with a quota check per epoch."""
    import numpy as np
    from sklearn.datasets import load_digits
    from sklearn.model_selection import StratifiedKFold
    from sklearn.neural_network import MLPClassifier
    from sklearn.preprocessing import StandardScaler

    x, y = load_digits(return_X_y=True)
    p = ctx.params
    scores = []
    for tr, te in StratifiedKFold(3, shuffle=True, random_state=0).split(x, y):
        scaler = StandardScaler().fit(x[tr])
        xtr, xte = scaler.transform(x[tr]), scaler.transform(x[te])
        model = MLPClassifier(hidden_layer_sizes=(int(p["hidden"]),), alpha=p["alpha"],
                              learning_rate_init=p["learning_rate_init"], batch_size=int(p["batch_size"]),
                              random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for _ in range(int(p["max_iter"])):
                model.partial_fit(xtr, y[tr], classes=np.arange(10))
                ctx.check()  # the quota may stop the trial between two epochs
        scores.append(model.score(xte, y[te]))
        ctx.report(float(np.mean(scores)), len(scores))
    return float(np.mean(scores))


def live(quota: str, power_per_core_w: float, sampler: str = "cost-aware") -> dict[str, Any]:
    import tempfile

    import optuna
    from threadpoolctl import threadpool_limits

    from carbontrail.config import load_settings
    from carbontrail.hpo import TrackMeasure, optimize
    from carbontrail.ledger import Ledger
    from carbontrail.meter.base import MeterSet
    from carbontrail.meter.track import Tracker

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = {
        "hidden": {"low": 8, "high": 128, "log": True},
        "alpha": {"low": 1e-5, "high": 1e-1, "log": True},
        "learning_rate_init": {"low": 1e-4, "high": 3e-2, "log": True},
        "max_iter": {"low": 3, "high": 40, "log": True},
        "batch_size": {"low": 32, "high": 512, "log": True},
    }
    # scikit-learn's runtimes are loaded before the thread limit (see measure)
    import sklearn.gaussian_process
    import sklearn.neural_network  # noqa: F401

    with tempfile.TemporaryDirectory() as tmp, threadpool_limits(limits=1):
        led = Ledger.open(f"sqlite:///{tmp}/ledger.db")
        settings = load_settings(home=tmp)
        tracker = Tracker(settings, meters=MeterSet([ProcessCpuMeter(power_per_core_w).meter]), ledger=led,
                          attribute=lambda recs: list(recs))
        t0 = time.perf_counter()
        res = optimize(_live_objective, space, quota=quota, ledger=led, measure=TrackMeasure(tracker),
                       sampler=sampler, seed=0, initial_reservation_j=15.0)
        wall = time.perf_counter() - t0
        spans = led.spans(kind="hpo-trial")
        acc = res.account
        energies = sorted(s.energy_j for s in spans)
        out = {
            "quota_j": acc.quota.limit, "spent_j": acc.spent_j, "sampler_j": acc.sampler_j,
            "overshoot_j": acc.overshoot, "counts": acc.counts, "best_accuracy": res.best_value,
            "best_params": res.best_params, "n_spans": len(spans), "wall_s": wall,
            "trial_energy_min_j": energies[0] if energies else None,
            "trial_energy_max_j": energies[-1] if energies else None,
        }
        tracker.close()
        led.close()
    print(f"\nlive ({sampler}): quota {out['quota_j']:.0f} J, spent {out['spent_j']:.1f} J "
          f"(sampler {out['sampler_j']:.2f} J), "
          f"overshoot {out['overshoot_j']:.3g} J, {out['n_spans']} hpo-trial spans in the ledger, "
          f"trial energy {out['trial_energy_min_j']:.2f}..{out['trial_energy_max_j']:.2f} J, "
          f"best acc {out['best_accuracy']:.4f}, counts {out['counts']}, {wall:.0f} s")
    (RESULTS / f"hpo_live_{sampler}.json").write_text(json.dumps(out, indent=1, default=str))
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("measure")
    m.add_argument("--model", choices=["hgb", "mlp", "both"], default="both")
    m.add_argument("--power-per-core-w", type=float, default=10.0)
    r = sub.add_parser("replay")
    r.add_argument("--seeds", type=int, default=10)
    r.add_argument("--first-seed", type=int, default=0, help="seeds first..first+seeds-1 (tune on others)")
    r.add_argument("--model", choices=["hgb", "mlp", "both"], default="both")
    r.add_argument("--methods", default="random,tpe,cost-aware")
    tu = sub.add_parser("tune", help="in-memory replay to compare sampler options on seeds not reported")
    tu.add_argument("--seeds", default="100:120", help="first:end")
    tu.add_argument("--model", choices=["hgb", "mlp", "both"], default="both")
    tu.add_argument("--variants", default='{"cost-aware": {}}',
                    help='JSON: name -> CostAwareSampler options, e.g. {"tpe-ei": {"surrogate": "tpe"}}')
    lv = sub.add_parser("live")
    lv.add_argument("--quota", default="300 J")
    lv.add_argument("--power-per-core-w", type=float, default=10.0)
    lv.add_argument("--sampler", default="cost-aware", choices=["cost-aware", "tpe", "random"])
    args = ap.parse_args(argv)
    if args.cmd == "measure":
        for model in (["hgb", "mlp"] if args.model == "both" else [args.model]):
            measure(model, args.power_per_core_w)
    elif args.cmd == "replay":
        replay(args.seeds, args.first_seed, ("hgb", "mlp") if args.model == "both" else (args.model,),
               tuple(args.methods.split(",")))
    elif args.cmd == "tune":
        a, b = (int(x) for x in args.seeds.split(":"))
        tune(range(a, b), json.loads(args.variants), ("hgb", "mlp") if args.model == "both" else (args.model,))
    else:
        live(args.quota, args.power_per_core_w, args.sampler)


if __name__ == "__main__":
    main()
