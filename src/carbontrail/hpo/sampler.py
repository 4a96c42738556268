"""Cost-aware acquisition as an Optuna sampler (CArBO, Lee et al. 2020).

:class:`CostAwareSampler` ranks candidate configurations by expected improvement per unit of
predicted energy, ``EI(x) / cost(x) ** alpha``:

* ``cost`` is the median of a GP on log energy measured on earlier trials (:class:`LogCostModel`);
* ``alpha = 1 - fraction of the quota spent``: cheap configurations are favoured while the budget is
  young, pure EI once it is nearly gone (the cost cooling of CArBO);
* ``EI`` comes from a GP on the objective (``surrogate="gp"``, the default) or from TPE's density
  ratio (``surrogate="tpe"``: ``EI(x)`` is proportional to ``1 / (gamma + (1 - gamma) g(x) / l(x))``,
  Bergstra et al. 2011).

Candidates: a finite space with at most ``max_enumerate`` configurations is enumerated whole (the
acquisition is then maximised exactly); otherwise ``n_candidates`` are drawn from TPE's density of
good configurations ``l(x)`` and as many uniformly at random. Configurations already evaluated are
dropped (the result cache would answer them for free but they teach nothing), and so are those whose
predicted upper-quantile energy no longer fits the remaining quota. Configurations that other
workers are running are dropped too, so parallel workers do not evaluate the same one twice.

The sampler's own energy is charged to the quota, so it keeps its work small: the GP kernels'
hyperparameters are re-optimised only when the number of observations has grown by ``refit_growth``
since the last optimisation (a Cholesky solve in between), at most ``max_history`` observations are
modelled (the best half and the most recent), and the TPE densities are built once per call.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler, RandomSampler, TPESampler
from optuna.study import Study, StudyDirection
from optuna.trial import FrozenTrial, TrialState

from carbontrail.hpo.models import GPModel, LogCostModel, _require_sklearn, expected_improvement
from carbontrail.hpo.space import SpaceEncoder, enumerate_space, params_key

__all__ = ["ENERGY_ATTR", "CostAwareSampler", "CostModelCache", "trial_energy_j"]

log = logging.getLogger(__name__)

#: trial user attribute holding the trial's measured energy in joules
ENERGY_ATTR = "energy_j"


def trial_energy_j(t: FrozenTrial) -> float | None:
    """Measured energy of a trial (J), or None when it has none (cached, running, foreign)."""
    if t.user_attrs.get("cached"):
        return None
    v = t.user_attrs.get(ENERGY_ATTR)
    return float(v) if v is not None else None


class _KernelSchedule:
    """Reuse a fitted kernel until the data has grown by ``growth`` (then optimise it again)."""

    def __init__(self, growth: float) -> None:
        self.growth = growth
        self._fitted: dict[str, tuple[int, object]] = {}

    def kernel(self, which: str, n: int) -> object | None:
        k = self._fitted.get(which)
        if k is None or n >= max(k[0] + 1, math.ceil(k[0] * self.growth)):
            return None
        return k[1]

    def remember(self, which: str, n: int, kernel: object | None, reused: bool) -> None:
        if kernel is not None and not reused:
            self._fitted[which] = (n, kernel)


class CostModelCache:
    """The log-cost model of a study, refitted only when a trial with a measured energy completed.

    Shared by the cost-aware sampler and admission control (``optimize`` reserves a trial's
    predicted upper-quantile energy); kernel hyperparameters follow the ``refit_growth`` schedule.
    """

    def __init__(self, space: Mapping[str, BaseDistribution], *, seed: int | None = None,
                 refit_growth: float = 1.25, max_history: int = 200) -> None:
        self.space = dict(space)
        self.encoder = SpaceEncoder(self.space)
        self.max_history = max_history
        self._schedule = _KernelSchedule(refit_growth)
        self._rng = np.random.default_rng(seed)
        self._cache: tuple[tuple[int, ...], LogCostModel] | None = None
        self._lock = threading.Lock()

    def model(self, study: Study) -> LogCostModel | None:
        """The model fitted on the study's trials with a measured energy (None without any)."""
        pts: dict[str, tuple[int, dict[str, Any], float]] = {}
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            e = trial_energy_j(t)
            if e is None or e <= 0 or not all(n in t.params for n in self.space):
                continue
            p = {n: t.params[n] for n in self.space}
            pts[params_key(p)] = (t.number, p, e)  # a configuration run twice: the latest counts
        if not pts:
            return None
        rows = sorted(pts.values(), key=lambda r: r[0])[-self.max_history:]
        key = tuple(r[0] for r in rows)
        with self._lock:
            if self._cache is not None and self._cache[0] == key:
                return self._cache[1]
            kernel = self._schedule.kernel("cost", len(rows))
            model = LogCostModel(seed=int(self._rng.integers(2**31)), kernel=kernel).fit(
                self.encoder.encode_many([r[1] for r in rows]), np.array([r[2] for r in rows])
            )
            self._schedule.remember("cost", len(rows), model.kernel, kernel is not None)
            self._cache = (key, model)
            return model

    def predict_upper_j(self, study: Study, params: Mapping[str, Any], quantile: float) -> float | None:
        """Upper ``quantile`` of the energy of ``params`` (J); None without data."""
        model = self.model(study)
        if model is None:
            return None
        return float(model.upper(self.encoder.encode(params)[None, :], quantile)[0])


class CostAwareSampler(BaseSampler):
    """EI per unit of predicted energy with cost cooling (see the module docstring).

    Args:
        space: the study's distributions (``optimize`` passes them).
        base: sampler of the first ``n_startup_trials`` trials and of parameters outside ``space``
            (default ``TPESampler(seed=seed)``, which samples at random while it has few trials).
        n_candidates: candidates drawn from TPE's ``l(x)`` per call, and as many at random (spaces
            too large to enumerate).
        n_startup_trials: complete trials sampled by ``base`` before the models are used.
        budget_fraction: callable giving the fraction of the quota spent (0..1); drives ``alpha``.
            ``None`` keeps ``alpha = 1``.
        remaining_j: callable giving the energy (J) that may still be reserved; candidates whose
            predicted upper-quantile energy exceeds it are dropped. ``None`` disables the filter.
        quantile: the upper quantile used with ``remaining_j``.
        seed: random seed.
        surrogate: ``"gp"`` (EI of a GP on the objective) or ``"tpe"`` (EI from TPE's density ratio).
        gamma: fraction of the observations TPE counts as good (``surrogate="tpe"``).
        max_enumerate: a finite space with at most this many configurations is enumerated whole.
        refit_growth: kernel hyperparameters are re-optimised once the observations have grown by this
            factor since the last optimisation.
        max_history: at most this many observations are modelled (the best half and the most recent).
    """

    def __init__(
        self,
        space: Mapping[str, BaseDistribution],
        *,
        base: BaseSampler | None = None,
        n_candidates: int = 32,
        n_startup_trials: int = 5,
        budget_fraction: Callable[[], float] | None = None,
        remaining_j: Callable[[], float] | None = None,
        quantile: float = 0.9,
        seed: int | None = None,
        surrogate: str = "gp",
        gamma: float = 0.15,
        max_enumerate: int = 2048,
        refit_growth: float = 1.25,
        max_history: int = 200,
    ) -> None:
        _require_sklearn()
        if surrogate not in ("gp", "tpe"):
            raise ValueError(f"surrogate must be 'gp' or 'tpe', got {surrogate!r}")
        self.space = dict(space)
        self.encoder = SpaceEncoder(self.space)
        self._base = base or TPESampler(seed=seed)
        self._tpe = TPESampler(seed=seed, multivariate=True, n_startup_trials=0)
        self._random = RandomSampler(seed=seed)
        self.n_candidates = n_candidates
        self.n_startup_trials = n_startup_trials
        self.budget_fraction = budget_fraction
        self.remaining_j = remaining_j
        self.quantile = quantile
        self.surrogate = surrogate
        self.gamma = gamma
        self.max_history = max_history
        self._rng = np.random.default_rng(seed)
        self._np_rng = np.random.RandomState(seed)
        self.last_alpha: float | None = None
        self.costs = CostModelCache(self.space, seed=seed, refit_growth=refit_growth, max_history=max_history)
        self._schedule = _KernelSchedule(refit_growth)
        self._grid = enumerate_space(self.space, max_enumerate)
        self._grid_x = self.encoder.encode_many(self._grid) if self._grid is not None else None
        self._grid_keys = [params_key(p) for p in self._grid] if self._grid is not None else None

    # -- the cost model (shared with admission control) -----------------------------------------
    def cost_model(self, study: Study) -> LogCostModel | None:
        """The log-cost model fitted on the study's complete trials (cached until a trial completes)."""
        return self.costs.model(study)

    def predict_upper_j(self, study: Study, params: Mapping[str, Any], quantile: float) -> float | None:
        """Upper ``quantile`` of the energy of ``params`` (J) from :meth:`cost_model`; None without data."""
        return self.costs.predict_upper_j(study, params, quantile)

    def reseed_rng(self) -> None:
        self._base.reseed_rng()
        self._tpe.reseed_rng()
        self._random.reseed_rng()
        self._rng = np.random.default_rng()
        self._np_rng = np.random.RandomState()

    def infer_relative_search_space(self, study: Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return dict(self.space)

    def alpha(self) -> float:
        """Current cost exponent: 1 - fraction of the quota spent, clamped to [0, 1]."""
        if self.budget_fraction is None:
            return 1.0
        return float(min(1.0, max(0.0, 1.0 - self.budget_fraction())))

    # -- sampling -------------------------------------------------------------------------------
    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        if not search_space:
            return {}
        done = self._observations(study, search_space)
        if len(done) < self.n_startup_trials:
            return {}  # sample_independent delegates to the base sampler
        return self._acquire(study, search_space, done)

    def _observations(
        self, study: Study, search_space: Mapping[str, BaseDistribution]
    ) -> list[tuple[dict[str, Any], float]]:
        """Distinct evaluated configurations and their values (sign: smaller is better), capped."""
        sign = -1.0 if study.direction == StudyDirection.MAXIMIZE else 1.0
        seen: dict[str, tuple[int, dict[str, Any], float]] = {}
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            if t.value is None or not all(n in t.params for n in search_space):
                continue
            p = {n: t.params[n] for n in search_space}
            seen.setdefault(params_key(p), (t.number, p, sign * float(t.value)))
        rows = sorted(seen.values(), key=lambda r: r[0])
        if len(rows) > self.max_history:  # the best half and the most recent
            half = self.max_history // 2
            best = sorted(rows, key=lambda r: r[2])[:half]
            ids = {r[0] for r in best}
            recent = [r for r in rows if r[0] not in ids][-(self.max_history - half):]
            rows = sorted(best + recent, key=lambda r: r[0])
        return [(r[1], r[2]) for r in rows]

    def _candidates(
        self, study: Study, search_space: dict[str, BaseDistribution], seen: set[str]
    ) -> tuple[list[dict[str, Any]], np.ndarray]:
        if self._grid is not None and self._grid_x is not None and self._grid_keys is not None \
                and search_space.keys() == self.space.keys():
            keep = [i for i, k in enumerate(self._grid_keys) if k not in seen]
            return [self._grid[i] for i in keep], self._grid_x[keep]
        cands: list[dict[str, Any]] = []
        try:
            below, _ = self._parzen(study, search_space)
            drawn = below.sample(self._np_rng, self.n_candidates)
            for i in range(self.n_candidates):
                cands.append({n: d.to_external_repr(drawn[n][i]) for n, d in search_space.items()})
        except Exception:  # Optuna's TPE internals moved: random candidates only
            log.debug("TPE candidates unavailable", exc_info=True)
        for _ in range(self.n_candidates):
            cands.append(self._uniform(search_space))
        uniq = list({k: c for c in cands if (k := params_key(c)) not in seen}.values())
        return uniq, self.encoder.encode_many(uniq)

    def _uniform(self, search_space: Mapping[str, BaseDistribution]) -> dict[str, Any]:
        from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

        out: dict[str, Any] = {}
        for n, d in search_space.items():
            u = float(self._rng.random())
            if isinstance(d, CategoricalDistribution):
                out[n] = d.choices[min(len(d.choices) - 1, int(u * len(d.choices)))]
            elif isinstance(d, IntDistribution | FloatDistribution):
                lo, hi = float(d.low), float(d.high)
                v = math.exp(math.log(lo) + u * (math.log(hi) - math.log(lo))) if d.log else lo + u * (hi - lo)
                if d.step is not None:
                    v = lo + round((v - lo) / d.step) * d.step
                v = min(hi, max(lo, v))
                out[n] = round(v) if isinstance(d, IntDistribution) else float(v)
            else:  # pragma: no cover - every Optuna distribution is one of the above
                raise TypeError(f"cannot sample {d!r}")
        return out

    def _parzen(self, study: Study, search_space: dict[str, BaseDistribution]) -> tuple[Any, Any]:
        """TPE's densities of good (``l``) and other (``g``) configurations, deduplicated."""
        direction_max = study.direction == StudyDirection.MAXIMIZE
        rows: dict[str, FrozenTrial] = {}
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            if t.value is not None and all(n in t.params for n in search_space):
                rows.setdefault(params_key({n: t.params[n] for n in search_space}), t)
        trials = sorted(rows.values(), key=lambda t: float(t.value) * (-1 if direction_max else 1))  # type: ignore[arg-type]
        n_below = max(1, math.ceil(self.gamma * len(trials)))
        below = sorted(trials[:n_below], key=lambda t: t.number)
        above = sorted(trials[n_below:], key=lambda t: t.number)
        tpe = self._tpe
        return (tpe._build_parzen_estimator(study, search_space, below, handle_below=True),
                tpe._build_parzen_estimator(study, search_space, above, handle_below=False))

    def _log_ei(
        self, study: Study, search_space: dict[str, BaseDistribution],
        obs: Sequence[tuple[dict[str, Any], float]], cands: Sequence[dict[str, Any]], x: np.ndarray,
    ) -> np.ndarray:
        y = np.array([v for _, v in obs])
        if len(obs) < 2 or np.ptp(y) <= 0:
            return np.zeros(len(cands))
        if self.surrogate == "tpe":
            below, above = self._parzen(study, search_space)
            internal = {n: np.array([d.to_internal_repr(c[n]) for c in cands]) for n, d in search_space.items()}
            log_ratio = above.log_pdf(internal) - below.log_pdf(internal)  # log g/l
            g = self.gamma
            return -np.logaddexp(math.log(g), math.log1p(-g) + log_ratio)
        x_obs = self.encoder.encode_many([p for p, _ in obs])
        kernel = self._schedule.kernel("objective", len(obs))
        gp = GPModel(int(self._rng.integers(2**31)), kernel).fit(x_obs, y)
        self._schedule.remember("objective", len(obs), gp.kernel, kernel is not None)
        mu, sd = gp.predict(x)
        ei = expected_improvement(mu, sd, float(y.min()))
        return np.log(np.maximum(ei, 1e-300))

    def _acquire(
        self, study: Study, search_space: dict[str, BaseDistribution],
        obs: Sequence[tuple[dict[str, Any], float]],
    ) -> dict[str, Any]:
        seen = {params_key(p) for p, _ in obs}
        for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            if all(n in t.params for n in search_space):  # running elsewhere: do not pick it twice
                seen.add(params_key({n: t.params[n] for n in search_space}))
        cands, x = self._candidates(study, search_space, seen)
        if not cands:
            return {}
        score = self._log_ei(study, search_space, obs, cands, x)
        alpha = self.alpha()
        self.last_alpha = alpha
        cost = self.cost_model(study)
        if cost is not None:
            log_mu, log_sd = cost.predict_log(x)
            score = score - alpha * (log_mu - float(np.median(log_mu)))  # EI / cost**alpha, scale-free
            if self.remaining_j is not None:
                z = _z(self.quantile)
                fits = np.exp(log_mu + z * log_sd) <= self.remaining_j()
                if fits.any():
                    score = np.where(fits, score, -np.inf)
        best = int(np.argmax(score + 1e-9 * self._rng.random(len(score))))
        log.debug("cost-aware pick alpha=%.2f log-score=%.3g of %d candidates", alpha, score[best], len(cands))
        return dict(cands[best])

    def sample_independent(
        self, study: Study, trial: FrozenTrial, param_name: str, param_distribution: BaseDistribution
    ) -> Any:
        return self._base.sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        self._base.before_trial(study, trial)

    def after_trial(
        self, study: Study, trial: FrozenTrial, state: TrialState, values: Sequence[float] | None
    ) -> None:
        self._base.after_trial(study, trial, state, values)


def _z(quantile: float) -> float:
    from statistics import NormalDist

    return NormalDist().inv_cdf(quantile)
