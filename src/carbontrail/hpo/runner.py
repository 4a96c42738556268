"""``optimize``: Optuna ask/tell under one study-wide energy or carbon quota.

Each worker repeats: reclaim stale reservations of dead workers; reserve and measure the sampler's
own call (``study.ask``); answer repeated configurations from the result cache for free; predict
the trial's upper-quantile energy and reserve it (admission control: a trial that does not fit is
not started); run the objective in a tracked span (kind ``hpo-trial``) while a guard heartbeats the
reservation and tops it up as the trial's measured energy grows; settle the measured energy and
emissions of the trial — complete, pruned, failed or stopped by the quota — in the ledger account
and in the trial's user attributes; tell Optuna.

The guarantee (see ``docs/hpo.md``): ``spent + reserved <= quota`` holds at every instant in the
ledger. A trial is stopped (state ``QUOTA``, pruned in Optuna) at the first check where its measured
energy plus ``step_margin`` times its largest step so far would exceed its reservation and the
account refuses a top-up; checks run at every ``report``/``should_prune``/``check`` the objective
makes and every ``heartbeat_interval_s``. A trial's admission reservation is its predicted
upper-quantile energy, but at least ``initial_reservation_j`` and ``step_margin`` times the largest
first step seen in the study. Measured spend therefore never exceeds the quota provided (a) no
trial's first step costs more than its admission reservation and (b) no later step costs more than
``step_margin`` times the largest earlier step of that trial. Any overshoot that still happens is
recorded in the account (``overshoot``), never hidden.
"""

from __future__ import annotations

import importlib
import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution
from optuna.pruners import BasePruner, NopPruner
from optuna.samplers import BaseSampler, RandomSampler, TPESampler
from optuna.study import Study
from optuna.trial import FrozenTrial, Trial, TrialState

from carbontrail.errors import ConfigError
from carbontrail.hpo.account import AccountState, QuotaAccount, default_worker_name
from carbontrail.hpo.fidelity import Checkpoints, Fidelity, levels_choices, lowest_level_params, promote
from carbontrail.hpo.measure import TrackMeasure, TrialMeasure, TrialWindow
from carbontrail.hpo.quota import Quota
from carbontrail.hpo.sampler import ENERGY_ATTR, CostAwareSampler, CostModelCache
from carbontrail.hpo.space import params_key, parse_space
from carbontrail.hpo.timing import CarbonTiming, TimingDecision, median_or
from carbontrail.ledger import Ledger
from carbontrail.units import emissions_g as to_emissions_g

__all__ = ["EnergyAwarePruner", "HpoResult", "TrialContext", "WorkerReport", "load_objective", "optimize"]

log = logging.getLogger(__name__)

_GUARDS: dict[tuple[str, int], _Guard] = {}
_GUARDS_LOCK = threading.Lock()


def _now() -> datetime:
    return datetime.now(UTC)


def load_objective(ref: str | Callable[..., Any]) -> Callable[..., Any]:
    """A callable, or ``"package.module:function"`` imported."""
    if callable(ref):
        return ref
    mod, sep, attr = str(ref).partition(":")
    if not sep or not mod or not attr:
        raise ConfigError(f"objective must be 'module:function', got {ref!r}")
    try:
        fn = importlib.import_module(mod)
        for part in attr.split("."):
            fn = getattr(fn, part)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"cannot import objective {ref!r}: {exc}") from exc
    if not callable(fn):
        raise ConfigError(f"objective {ref!r} is not callable")
    return fn  # type: ignore[return-value]


class _Guard:
    """In-trial quota enforcement and heartbeat of one running trial's reservation."""

    def __init__(
        self, account: QuotaAccount, reservation_id: str, reserved_j: float, window: TrialWindow,
        *, step_margin: float, heartbeat_interval_s: float,
    ) -> None:
        self.account = account
        self.rid = reservation_id
        self.reserved_j = reserved_j
        self.window = window
        self.step_margin = step_margin
        self.interval = heartbeat_interval_s
        self.last_j = 0.0
        self.max_step_j = 0.0
        self.first_step_j: float | None = None
        self.stopped = False
        self.reclaimed = False
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="carbontrail-hpo-heartbeat", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._done.set()
        self._thread.join(timeout=5)

    def check(self) -> bool:
        """Measure now; top the reservation up if the next step may not fit. True if the trial must stop."""
        with self._lock:
            if self.stopped:
                return True
            e = self.window.energy_j()
            if self.first_step_j is None and e > 0:
                self.first_step_j = e
            self.max_step_j = max(self.max_step_j, e - self.last_j)
            self.last_j = e
            need = e + self.step_margin * self.max_step_j
            if need > self.reserved_j:
                extra = need - self.reserved_j
                for ask in (extra + self.max_step_j, extra):
                    if self.account.top_up(self.rid, ask, now=_now()):
                        self.reserved_j += ask
                        break
                else:
                    self.stopped = True
                    log.info("trial stopped by the quota at %.4g J (reserved %.4g J)", e, self.reserved_j)
            return self.stopped

    def _beat(self) -> None:
        while not self._done.wait(self.interval):
            try:
                alive = self.account.heartbeat(self.rid, self.window.energy_j(), now=_now())
                if not alive:
                    with self._lock:
                        self.stopped = self.reclaimed = True
                    return
                self.check()
            except Exception:  # a heartbeat failure must not kill the trial; the next one retries
                log.exception("heartbeat failed")


class EnergyAwarePruner(BasePruner):
    """Wraps any Optuna pruner: prunes a trial when its quota guard says stop, else asks ``pruner``.

    ``optimize`` installs it around the pruner you give (``NopPruner`` by default), so
    ``trial.should_prune()`` inside an objective also enforces the quota.
    """

    def __init__(self, pruner: BasePruner | None = None) -> None:
        self.pruner = pruner or NopPruner()

    def prune(self, study: Study, trial: FrozenTrial) -> bool:
        with _GUARDS_LOCK:
            guard = _GUARDS.get((study.study_name, trial.number))
        if guard is not None and guard.check():
            return True
        return self.pruner.prune(study, trial)


class TrialContext:
    """What the objective receives: the trial's parameters, reporting, pruning and its energy.

    Attributes:
        params: the configuration to evaluate (``ctx.params["lr"]``; ``ctx["lr"]`` also works).
        number: the Optuna trial number.
        trial: the underlying ``optuna.trial.Trial`` (for user attributes, artifacts...).
        window: the trial's measurement window.
        study_name: the study.
    """

    def __init__(self, trial: Trial, params: dict[str, Any], window: TrialWindow, guard: _Guard | None,
                 study_name: str, checkpoints: Checkpoints | None = None) -> None:
        self.trial = trial
        self.params = params
        self.number = trial.number
        self.window = window
        self._guard = guard
        self.study_name = study_name
        self._checkpoints = checkpoints

    def save_checkpoint(self, obj: Any) -> str:
        """Save a model (pickled) as an Optuna artifact of this trial, for promotions to resume.

        Needs ``optimize(..., fidelity=..., artifact_store=...)``. Returns the artifact id.
        """
        if self._checkpoints is None:
            raise ConfigError("checkpoints need optimize(..., fidelity=Fidelity(...), artifact_store=...)")
        return self._checkpoints.save(self.trial, self.params, obj)

    def load_checkpoint(self) -> tuple[Any, float] | None:
        """The model this configuration saved at the highest lower fidelity level, and that level.

        Resume it (``warm_start=True`` and ``fit``, or ``partial_fit``) to pay only the extra
        training. None when there is none (train from scratch).
        """
        if self._checkpoints is None:
            return None
        found = self._checkpoints.load(self.trial.study, self.params)
        if found is not None:
            self.trial.set_user_attr("resumed_from_level", found[1])
        return found

    def __getitem__(self, name: str) -> Any:
        return self.params[name]

    @property
    def energy_j(self) -> float:
        """Energy measured so far in this trial (J)."""
        return self.window.energy_j()

    def report(self, value: float, step: int) -> None:
        """Report an intermediate value (Optuna ``trial.report``) and check the quota."""
        self.trial.report(value, step)
        if self._guard is not None:
            self._guard.check()

    def should_prune(self) -> bool:
        """True when the wrapped pruner prunes or the quota stops the trial."""
        return self.trial.should_prune() or (self._guard is not None and self._guard.check())

    def check(self) -> None:
        """Raise ``optuna.TrialPruned`` when the quota (or the reservation's reclaim) stops the trial."""
        if self._guard is not None and self._guard.check():
            raise optuna.TrialPruned("stopped by the energy quota")


@dataclass
class WorkerReport:
    """What one worker did: trials run, cache hits, refusals, why it stopped."""

    worker: str
    n_run: int = 0
    n_cached: int = 0
    n_refused: int = 0
    n_reclaimed: int = 0
    stop_reason: str = ""


@dataclass
class HpoResult:
    """Outcome of :func:`optimize`.

    Attributes:
        study_name: the study.
        best_value, best_params: best complete trial (None if there is none).
        account: the final account snapshot (spent J and gCO2e, counts, overshoot).
        workers: one report per worker.
        study: the Optuna study (None when the caller has no access to it).
    """

    study_name: str
    best_value: float | None
    best_params: dict[str, Any] | None
    account: AccountState
    workers: list[WorkerReport]
    study: Study | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "study_name": self.study_name,
            "best_value": self.best_value,
            "best_params": self.best_params,
            "account": self.account.to_dict(),
            "workers": [w.__dict__ for w in self.workers],
        }


@dataclass
class _Run:
    """Everything a worker needs (picklable when ``study`` is None: Dask workers rebuild it)."""

    objective: Any
    space: dict[str, BaseDistribution]
    study_name: str
    storage: Any
    ledger_url: str
    direction: str
    quota: Quota
    n_trials: int | None
    sampler: Any
    pruner: Any
    measure: Any
    quantile: float
    initial_reservation_j: float
    step_margin: float
    heartbeat_interval_s: float
    stale_after_s: float
    cache: bool
    intensity_g_per_kwh: float | None
    deadline_s: float | None
    stop_when: Any
    max_cached_in_row: int
    max_refusals: int
    seed: int | None
    tags: dict[str, str]
    fidelity: Fidelity | None = None
    artifact_store: Any = None
    sampler_options: Mapping[str, Any] | None = None
    carbon_aware: CarbonTiming | None = None


def _make_sampler(spec: Any, space: Mapping[str, BaseDistribution], account: QuotaAccount, quota: Quota,
                  quantile: float, seed: int | None, options: Mapping[str, Any] | None = None) -> BaseSampler:
    if isinstance(spec, BaseSampler):
        return spec
    if callable(spec):
        return spec()  # type: ignore[no-any-return]
    name = spec or "cost-aware"
    opts = dict(options or {})
    if name == "tpe":
        return TPESampler(seed=seed, **opts)
    if name == "random":
        return RandomSampler(seed=seed, **opts)
    if name == "cost-aware":
        limit_j = quota.energy_for(quota.limit)

        def fraction() -> float:
            return account.state().fraction_spent

        def remaining() -> float:
            return quota.energy_for(account.state().remaining) if limit_j else 0.0

        return CostAwareSampler(space, budget_fraction=fraction, remaining_j=remaining, quantile=quantile,
                                seed=seed, **opts)
    raise ConfigError(f"unknown sampler {name!r} (cost-aware, tpe, random, or an Optuna sampler)")


def _admission_j(study: Study, costs: CostModelCache, params: dict[str, Any], quantile: float,
                 initial_j: float, step_margin: float) -> float:
    """What a trial reserves: its predicted upper-quantile energy, but at least ``initial_j`` and at least
    ``step_margin`` times the largest first step (energy up to the first check) seen in the study."""
    firsts = [float(t.user_attrs["first_step_j"]) for t in study.get_trials(deepcopy=False)
              if t.state.is_finished() and "first_step_j" in t.user_attrs]
    floor = max([initial_j] + [step_margin * f for f in firsts])
    pred = costs.predict_upper_j(study, params, quantile)
    return max(floor, initial_j if pred is None else pred)


def _cached_value(study: Study, space: Mapping[str, Any], key: str) -> float | None:
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        if t.value is not None and all(n in t.params for n in space) and \
                params_key({n: t.params[n] for n in space}) == key:
            return float(t.value)
    return None


def _finish(window: TrialWindow, status: str, error: str | None) -> tuple[float, str | None]:
    rec = window.stop(status=status, error=error)
    if rec is None:
        return window.energy_j(), None
    return rec.energy_j, rec.span_id


def _worker(run: _Run, index: int, study: Study | None = None) -> WorkerReport:
    worker = f"{default_worker_name()}:w{index}"
    rep = WorkerReport(worker)
    ledger = Ledger.open(run.ledger_url)
    account = QuotaAccount(ledger, run.study_name)
    measure: TrialMeasure = run.measure if run.measure is not None else TrackMeasure()
    if study is None:
        sampler = _make_sampler(run.sampler, run.space, account, run.quota, run.quantile,
                                None if run.seed is None else run.seed + index, run.sampler_options)
        study = optuna.load_study(study_name=run.study_name, storage=run.storage, sampler=sampler,
                                  pruner=EnergyAwarePruner(run.pruner))
    objective = load_objective(run.objective)
    intensity = run.quota.intensity_g_per_kwh if run.quota.basis == "carbon" else run.intensity_g_per_kwh
    sampler_est_j = 0.01 * run.initial_reservation_j
    # the log-cost model of admission control: the cost-aware sampler's own, else one for this worker
    costs = study.sampler.costs if isinstance(study.sampler, CostAwareSampler) else \
        CostModelCache(run.space, seed=run.seed)
    cached_in_row = refusals = 0
    tags = {"study": run.study_name, "worker": worker, **run.tags}
    try:
        while True:
            for res in account.reclaim_stale(run.stale_after_s, now=_now()):
                rep.n_reclaimed += 1
                if res["trial_number"] is not None:
                    try:
                        study.tell(res["trial_number"], state=TrialState.FAIL, skip_if_finished=True)
                    except (ValueError, RuntimeError) as exc:
                        log.warning("could not fail reclaimed trial %s: %s", res["trial_number"], exc)
            st = account.state()
            if st.status == "stopped":
                rep.stop_reason = "stopped"
                break
            ran = sum(v for k, v in st.counts.items() if k not in ("CACHED", "REFUSED")) + st.n_open
            if run.n_trials is not None and ran >= run.n_trials:
                rep.stop_reason = "n_trials"
                break
            if run.deadline_s is not None and time.time() >= run.deadline_s:
                rep.stop_reason = "timeout"
                break
            if run.stop_when is not None and run.stop_when(study):
                rep.stop_reason = "stop_when"
                break
            if cached_in_row >= run.max_cached_in_row:
                rep.stop_reason = "converged"
                break
            if run.fidelity is not None:
                promote(study, run.fidelity)
                if not study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
                    study.enqueue_trial(lowest_level_params(run.fidelity))
            timing: TimingDecision | None = None
            if run.carbon_aware is not None:  # hold the trial for a low-carbon window
                timing = _hold(run, study, account)
                if timing.decision == "deadline":
                    rep.stop_reason = "deadline"
                    break
            # the sampler's own cost, reserved and measured like a trial
            s_rid = account.reserve(max(sampler_est_j, 1e-9), purpose="sampler", worker=worker, now=_now())
            if s_rid is None:
                if _out_of_quota(account, run, rep):
                    break
                continue
            try:
                w = measure.start(f"{run.study_name}:sampler", "other", tags)
            except BaseException:
                account.settle(s_rid, energy_j=0.0, emissions_g=0.0, state="FAIL", purpose="sampler",
                               worker=worker, now=_now())
                raise
            try:  # the sampler, the cache lookup and the cost prediction are the search's own work
                trial = study.ask(run.space)
                params = dict(trial.params)
                hit = _cached_value(study, run.space, params_key(params)) if run.cache else None
                pred_j = 0.0 if hit is not None else _admission_j(
                    study, costs, params, run.quantile, run.initial_reservation_j, run.step_margin)
            finally:
                e_s, span_s = _finish(w, "ok", None)
                account.settle(s_rid, energy_j=e_s, emissions_g=_g(e_s, intensity), state="COMPLETE",
                               purpose="sampler", span_id=span_s, worker=worker, now=_now())
            sampler_est_j = max(sampler_est_j, 2.0 * e_s)  # twice the largest sampler call so far
            trial.set_user_attr("sampler_j", e_s)
            if hit is not None:
                trial.set_user_attr("cached", True)
                trial.set_user_attr(ENERGY_ATTR, 0.0)
                study.tell(trial, hit)
                account.record_cached(trial.number, worker=worker, now=_now())
                rep.n_cached += 1
                cached_in_row += 1
                continue
            cached_in_row = 0
            # a trial held for a green window is counted at that window's intensity (carbon quotas too)
            timed = timing.intensity_g_per_kwh if timing is not None else None
            rid = account.reserve(pred_j, trial_number=trial.number, worker=worker, now=_now(),
                                  intensity_g_per_kwh=timed)
            trial.set_user_attr("predicted_j", pred_j)
            if rid is None:
                trial.set_user_attr("refused", True)
                study.tell(trial, state=TrialState.FAIL)
                rep.n_refused += 1
                refusals += 1
                # another configuration may still fit: ask again, up to max_refusals times in a row
                if refusals >= run.max_refusals and _out_of_quota(account, run, rep):
                    break
                continue
            refusals = 0
            rep.n_run += 1
            if timing is not None:
                for k, v in (("carbon_wait_s", timing.waited_s), ("carbon_decision", timing.decision),
                             ("carbon_zone", timing.zone), ("intensity_g_per_kwh", timing.intensity_g_per_kwh)):
                    trial.set_user_attr(k, v)
            trial_intensity = intensity if timed is None else timed  # the intensity in force when it ran
            _run_trial(run, study, trial, params, rid, pred_j, account, measure, objective, trial_intensity,
                       worker, tags)
    finally:
        ledger.close()
    return rep


def _hold(run: _Run, study: Study, account: QuotaAccount) -> TimingDecision:
    """Wait for a low-carbon window for the next trial (see :mod:`carbontrail.hpo.timing`)."""
    ct = run.carbon_aware
    assert ct is not None
    done = [t for t in study.get_trials(deepcopy=False) if t.state.is_finished() and "duration_s" in t.user_attrs]
    durations = [float(t.user_attrs["duration_s"]) for t in done]
    energies = [float(t.user_attrs.get(ENERGY_ATTR, 0.0)) for t in done]
    duration_s = ct.trial_duration_s or median_or(durations, ct.default_trial_duration_s)
    power_w = ct.power_w or (sum(energies) / sum(durations) if sum(durations) > 0 and sum(energies) > 0
                             else ct.default_power_w)
    remaining_j = run.quota.energy_for(account.state().remaining)
    dec = ct.hold(remaining_j=remaining_j, trial_duration_s=duration_s, power_w=power_w, name=run.study_name)
    if dec.waited_s > 0:
        log.info("study %s: held a trial %.0f s for a low-carbon window (%s, %.4g g/kWh)", run.study_name,
                 dec.waited_s, dec.decision, dec.intensity_g_per_kwh or float("nan"))
    return dec


def _g(energy_j: float, intensity: float | None) -> float:
    return to_emissions_g(energy_j, intensity) if intensity is not None else 0.0


def _out_of_quota(account: QuotaAccount, run: _Run, rep: WorkerReport) -> bool:
    """Nothing fits: stop if nothing is running anywhere, else wait for running trials to settle."""
    st = account.state()
    if st.status == "stopped":
        rep.stop_reason = "stopped"
        return True
    if st.n_open == 0:
        account.set_status("exhausted", now=_now())
        rep.stop_reason = "quota"
        return True
    time.sleep(min(run.heartbeat_interval_s, 0.2))
    return False


def _run_trial(
    run: _Run, study: Study, trial: Trial, params: dict[str, Any], rid: str, pred_j: float,
    account: QuotaAccount, measure: TrialMeasure, objective: Callable[..., Any], intensity: float | None,
    worker: str, tags: dict[str, str],
) -> None:
    try:
        window = measure.start(f"{run.study_name}#{trial.number}", "hpo-trial",
                               {**tags, "trial": str(trial.number)})
    except BaseException:  # nothing ran: release the reservation and fail the trial, then surface the error
        account.settle(rid, energy_j=0.0, emissions_g=0.0, state="FAIL", trial_number=trial.number,
                       worker=worker, now=_now())
        study.tell(trial, state=TrialState.FAIL)
        raise
    guard = _Guard(account, rid, pred_j, window, step_margin=run.step_margin,
                   heartbeat_interval_s=run.heartbeat_interval_s)
    with _GUARDS_LOCK:
        _GUARDS[(run.study_name, trial.number)] = guard
    guard.start()
    ckpt = Checkpoints(run.artifact_store, run.fidelity) if run.fidelity and run.artifact_store else None
    ctx = TrialContext(trial, params, window, guard, run.study_name, ckpt)
    value: float | None = None
    error: str | None = None
    t0 = time.perf_counter()
    try:
        value = float(objective(ctx))
        if not np.isfinite(value):
            raise ValueError(f"objective returned {value}")
        guard.check()
        state, status = ("QUOTA", "ok") if guard.stopped else ("COMPLETE", "ok")
        if guard.stopped:
            value = None
    except optuna.TrialPruned:
        state, status = ("QUOTA" if guard.stopped else "PRUNED"), "ok"
    except Exception as exc:  # a failing trial is charged and recorded, the worker goes on
        state, status, error = "FAIL", "failed", f"{type(exc).__name__}: {exc}"
        log.warning("trial %d failed: %s", trial.number, error)
    finally:
        guard.close()
        with _GUARDS_LOCK:
            _GUARDS.pop((run.study_name, trial.number), None)
    duration_s = time.perf_counter() - t0
    energy_j, span_id = _finish(window, status, error)
    g = _g(energy_j, intensity)
    first = guard.first_step_j if guard.first_step_j is not None else energy_j
    for k, v in (("energy_j", energy_j), ("emissions_g", g), ("span_id", span_id), ("worker", worker),
                 ("first_step_j", first), ("duration_s", duration_s),
                 ("end_state", "RECLAIMED" if guard.reclaimed else state)):
        trial.set_user_attr(k, v)
    if error:
        trial.set_user_attr("error", error)
    account.settle(rid, energy_j=energy_j, emissions_g=g, state=state, trial_number=trial.number,
                   span_id=span_id, worker=worker, now=_now())
    if state == "COMPLETE":
        study.tell(trial, value)
    elif state in ("PRUNED", "QUOTA"):
        study.tell(trial, state=TrialState.PRUNED)
    else:
        study.tell(trial, state=TrialState.FAIL)


def _dask_worker(run: _Run, index: int) -> WorkerReport:
    return _worker(run, index)


def optimize(
    objective: Callable[[TrialContext], float] | str,
    space: Mapping[str, Any],
    *,
    quota: str | float | Quota,
    study_name: str | None = None,
    storage: str | optuna.storages.BaseStorage | None = None,
    ledger: str | Ledger | None = None,
    direction: str = "maximize",
    n_trials: int | None = None,
    n_workers: int = 1,
    sampler: str | BaseSampler | Callable[[], BaseSampler] | None = "cost-aware",
    pruner: BasePruner | None = None,
    measure: TrialMeasure | None = None,
    intensity_g_per_kwh: float | None = None,
    quantile: float = 0.9,
    initial_reservation_j: float | None = None,
    step_margin: float = 1.5,
    heartbeat_interval_s: float = 2.0,
    stale_after_s: float = 30.0,
    cache: bool = True,
    warm_start_from: Sequence[str] = (),
    warm_start_top_k: int = 3,
    timeout_s: float | None = None,
    stop_when: Callable[[Study], bool] | None = None,
    dask_client: Any = None,
    seed: int | None = None,
    max_cached_in_row: int = 50,
    max_refusals: int = 3,
    tags: Mapping[str, str] | None = None,
    fidelity: Fidelity | None = None,
    artifact_store: Any = None,
    sampler_options: Mapping[str, Any] | None = None,
    carbon_aware: CarbonTiming | None = None,
) -> HpoResult:
    """Optimise ``objective`` over ``space`` without spending more than ``quota``.

    Args:
        objective: ``f(ctx: TrialContext) -> float`` or ``"module:function"``. ``ctx.params`` holds the
            configuration; call ``ctx.report(value, step)`` / ``ctx.should_prune()`` / ``ctx.check()``
            during long trials so that pruning and the quota can stop them.
        space: parameter distributions (see :func:`carbontrail.hpo.space.parse_space`).
        quota: ``"50 kJ"``, ``"0.2 kWh"``, ``"3 kgCO2e"`` (needs ``intensity_g_per_kwh``), joules as a
            number, or a :class:`Quota`. One account for the whole study, across workers and resumes.
        study_name: the study (default: a new random name). Re-running with the same name, storage and
            ledger resumes the study and its account (a different quota replaces the limit).
        storage: Optuna storage (URL or object; ``None``: in memory, threads only). Dask workers and
            several hosts need an RDB URL (PostgreSQL).
        ledger: ledger URL or :class:`Ledger` holding the account (default: the settings' ledger).
        direction: ``maximize`` or ``minimize``.
        n_trials: stop once this many trials have run in the study (cached answers not counted).
        n_workers: parallel workers (threads, or Dask tasks with ``dask_client``).
        sampler: ``"cost-aware"`` (default, :class:`CostAwareSampler`), ``"tpe"``, ``"random"``, an
            Optuna sampler, or a factory of one (Dask workers call the factory).
        sampler_options: keyword arguments for the named sampler (e.g. ``{"n_startup_trials": 3}``).
        pruner: any Optuna pruner; wrapped in :class:`EnergyAwarePruner`.
        measure: how trials are measured (default :class:`TrackMeasure`: ``carbontrail.track`` spans
            of kind ``hpo-trial`` written to the ledger).
        intensity_g_per_kwh: grid intensity (gCO2e/kWh) for the account's emissions (default: the settings'
            ``intensity_g_per_kwh``; without one the account records 0 g, while the ledger spans still get
            the tracker's grid attribution). A carbon quota converts with it.
        quantile: upper quantile of the log-cost model used for admission.
        initial_reservation_j: the least any trial reserves at admission (default: a quarter of the
            quota divided by ``n_workers``); set it to at least the energy of a trial's first step (up to
            its first ``report``/``check``) — see the guarantee in ``docs/hpo.md``.
        step_margin: in-trial enforcement keeps room for this many times the largest step so far.
        heartbeat_interval_s: heartbeat and background check period of running trials.
        stale_after_s: a reservation without heartbeat for this long is reclaimed.
        cache: answer a repeated configuration from the study's complete trials, at no cost.
        warm_start_from: names of earlier studies in ``storage`` whose best trials are enqueued first.
        warm_start_top_k: how many best trials to take from each.
        timeout_s: workers start no new trial after this many seconds.
        stop_when: ``f(study) -> bool`` checked before each trial (e.g. a target accuracy).
        dask_client: a ``dask.distributed.Client``; workers then run as Dask tasks in its cluster.
        seed: random seed of the sampler (worker ``i`` uses ``seed + i``).
        max_cached_in_row: a worker stops after this many consecutive cache hits (search converged).
        max_refusals: after this many consecutive refused admissions a worker stops if nothing is running
            anywhere (the study is then ``exhausted``), else waits for running trials to settle.
        tags: extra labels on every span.
        fidelity: multi-fidelity promotion (:class:`carbontrail.hpo.fidelity.Fidelity`): the space must
            hold ``fidelity.param`` as the choices ``fidelity.levels``; new configurations start at the
            lowest level and the best ``1/eta`` of each level are promoted.
        artifact_store: an Optuna artifact store for ``ctx.save_checkpoint``/``ctx.load_checkpoint``
            (e.g. ``FileSystemArtifactStore``), so promotions resume saved models.
        carbon_aware: :class:`carbontrail.hpo.timing.CarbonTiming`: hold each trial until a low-carbon
            window while the study's deadline allows (planned with the scheduler); the intensity in force
            at each trial's start is recorded on the trial and used for its emissions (and, under a carbon
            quota, for its reservation). Workers stop at the deadline.

    Returns:
        :class:`HpoResult` with the final account read from the ledger.
    """
    dists = parse_space(space)
    if intensity_g_per_kwh is None:  # the settings' stated factor, if any (else emissions are not attributed)
        from carbontrail.config import load_settings

        intensity_g_per_kwh = load_settings().intensity_g_per_kwh
    q = Quota.parse(quota, intensity_g_per_kwh=intensity_g_per_kwh)
    if n_workers < 1:
        raise ConfigError("n_workers must be >= 1")
    if fidelity is not None:
        levels_choices(fidelity, dists)
    if direction not in ("maximize", "minimize"):
        raise ConfigError("direction must be 'maximize' or 'minimize'")
    study_name = study_name or f"hpo-{uuid.uuid4().hex[:10]}"
    led = ledger if isinstance(ledger, Ledger) else Ledger.open(ledger)
    own_ledger = not isinstance(ledger, Ledger)
    try:
        account = QuotaAccount.open(led, study_name, q, now=_now())
        limit_j = q.energy_for(q.limit)
        init_j = initial_reservation_j if initial_reservation_j is not None else limit_j / 4 / n_workers
        run = _Run(
            objective=objective, space=dists, study_name=study_name, storage=storage, ledger_url=led.url,
            direction=direction, quota=q, n_trials=n_trials, sampler=sampler, pruner=pruner, measure=measure,
            quantile=quantile, initial_reservation_j=init_j, step_margin=step_margin,
            heartbeat_interval_s=heartbeat_interval_s, stale_after_s=stale_after_s, cache=cache,
            intensity_g_per_kwh=intensity_g_per_kwh,
            deadline_s=None if timeout_s is None else time.time() + timeout_s, stop_when=stop_when,
            max_cached_in_row=max_cached_in_row, max_refusals=max_refusals, seed=seed, tags=dict(tags or {}),
            fidelity=fidelity, artifact_store=artifact_store, sampler_options=sampler_options,
            carbon_aware=carbon_aware,
        )
        study_sampler = _make_sampler(sampler, dists, account, q, quantile, seed, sampler_options)
        study = optuna.create_study(study_name=study_name, storage=storage, sampler=study_sampler,
                                    pruner=EnergyAwarePruner(pruner), direction=direction,  # type: ignore[arg-type]
                                    load_if_exists=True)
        study.set_user_attr("carbontrail.quota", {"basis": q.basis, "limit": q.limit, "unit": q.unit})
        if warm_start_from:
            from carbontrail.hpo.warm import warm_start

            warm_start(study, warm_start_from, storage=storage, top_k=warm_start_top_k, space=dists)
        if dask_client is not None:
            if storage is None or not isinstance(storage, str):
                raise ConfigError("Dask workers need the study in an RDB storage given by URL (e.g. PostgreSQL)")
            futures = [dask_client.submit(_dask_worker, run, i, pure=False) for i in range(n_workers)]
            reports = list(dask_client.gather(futures))
        elif n_workers == 1:
            reports = [_worker(run, 0, study)]
        else:
            reports = [WorkerReport("")] * n_workers
            errors: list[BaseException] = []

            def target(i: int) -> None:
                try:
                    reports[i] = _worker(run, i, study)
                except BaseException as exc:  # surfaced after join
                    errors.append(exc)

            threads = [threading.Thread(target=target, args=(i,), name=f"carbontrail-hpo-{i}")
                       for i in range(n_workers)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            if errors:
                raise errors[0]
        if isinstance(run.measure, TrackMeasure) or run.measure is None:
            try:
                (run.measure or TrackMeasure()).flush()
            except Exception:
                log.exception("flushing trial spans failed; they stay in the journal")
        state = account.state()
        try:
            best = study.best_trial
            best_value, best_params = best.value, dict(best.params)
        except ValueError:
            best_value, best_params = None, None
        return HpoResult(study_name, best_value, best_params, state, reports, study)
    finally:
        if own_ledger:
            led.close()
