"""Cost-aware acquisition as an Optuna sampler wrapper (CArBO, Lee et al. 2020).

:class:`CostAwareSampler` draws candidates from a base sampler (TPE by default) and uniformly at
random, then re-ranks them by expected improvement per unit of predicted energy,
``EI(x) / cost(x) ** alpha``, where ``cost`` is a GP on log energy (measured on earlier trials) and
``alpha`` is cooled from 1 to 0 as the quota is spent (``alpha = 1 - fraction spent``): cheap
configurations are favoured while the budget is young, pure EI once it is nearly gone. Candidates
that were already evaluated are dropped (the result cache would answer them for free but they teach
nothing), and so are candidates whose predicted upper-quantile energy no longer fits the quota.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler, RandomSampler, TPESampler
from optuna.study import Study, StudyDirection
from optuna.trial import FrozenTrial, TrialState

from carbontrail.hpo.models import GPModel, LogCostModel, _require_sklearn, expected_improvement
from carbontrail.hpo.space import SpaceEncoder, params_key

__all__ = ["ENERGY_ATTR", "CostAwareSampler", "trial_energy_j"]

log = logging.getLogger(__name__)

#: trial user attribute holding the trial's measured energy in joules
ENERGY_ATTR = "energy_j"


def trial_energy_j(t: FrozenTrial) -> float | None:
    """Measured energy of a trial (J), or None when it has none (cached, running, foreign)."""
    if t.user_attrs.get("cached"):
        return None
    v = t.user_attrs.get(ENERGY_ATTR)
    return float(v) if v is not None else None


class CostAwareSampler(BaseSampler):
    """EI per unit of predicted energy with cost cooling, over candidates from a base sampler.

    Args:
        space: the study's distributions (the runner passes them; ``optimize`` does this for you).
        base: candidate generator (default ``TPESampler(seed=seed)``); also used alone for the first
            ``n_startup_trials`` trials.
        n_candidates: candidates drawn from ``base`` per trial.
        n_random_candidates: candidates drawn uniformly at random per trial (cheap to draw).
        n_startup_trials: trials sampled by ``base`` alone before the models are used.
        budget_fraction: callable giving the fraction of the quota spent (0..1); drives ``alpha``.
            ``None`` keeps ``alpha = 1``.
        remaining_j: callable giving the energy (J) that may still be reserved; candidates whose
            predicted upper-quantile energy exceeds it are dropped. ``None`` disables the filter.
        quantile: the upper quantile used with ``remaining_j``.
        seed: random seed.
        refit_every: the GPs' kernel hyperparameters are re-optimised after this many new points and
            reused in between (a cheap Cholesky solve instead of an L-BFGS search).
        max_overhead: when the sampler's own measured energy per call (trial attribute ``sampler_j``,
            set by ``optimize``) exceeds this fraction of the median trial energy, the sampler economises:
            a quarter of the TPE candidates and kernel hyperparameters refitted only every 5 points.
    """

    def __init__(
        self,
        space: Mapping[str, BaseDistribution],
        *,
        base: BaseSampler | None = None,
        n_candidates: int = 24,
        n_random_candidates: int = 24,
        n_startup_trials: int = 5,
        budget_fraction: Callable[[], float] | None = None,
        remaining_j: Callable[[], float] | None = None,
        quantile: float = 0.9,
        seed: int | None = None,
        refit_every: int = 1,
        max_overhead: float = 0.5,
    ) -> None:
        _require_sklearn()
        self.space = dict(space)
        self.encoder = SpaceEncoder(self.space)
        self._base = base or TPESampler(seed=seed)
        self._random = RandomSampler(seed=seed)
        self.n_candidates = n_candidates
        self.n_random_candidates = n_random_candidates
        self.n_startup_trials = n_startup_trials
        self.budget_fraction = budget_fraction
        self.remaining_j = remaining_j
        self.quantile = quantile
        self._rng = np.random.default_rng(seed)
        self.last_alpha: float | None = None
        self.refit_every = refit_every
        self.max_overhead = max_overhead
        self.economy = False
        self._kernels: dict[str, tuple[int, object]] = {}  # model -> (n points at last full fit, kernel)
        self._cost_cache: tuple[tuple[int, ...], LogCostModel] | None = None
        self._lock = threading.Lock()

    def _kernel_for(self, which: str, n: int) -> object | None:
        """A kernel to reuse (hyperparameters not re-optimised) unless ``refit_every`` new points came."""
        k = self._kernels.get(which)
        every = max(self.refit_every, 5) if self.economy else self.refit_every
        if k is None or n >= k[0] + every:
            return None
        return k[1]

    def _remember(self, which: str, n: int, kernel: object | None, reused: bool) -> None:
        if kernel is not None and not reused:
            self._kernels[which] = (n, kernel)

    def cost_model(
        self, study: Study, search_space: Mapping[str, BaseDistribution] | None = None
    ) -> LogCostModel | None:
        """The log-cost model fitted on the study's complete trials (cached until a trial completes)."""
        space = dict(search_space or self.space)
        pts = [
            (t, e) for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if (e := trial_energy_j(t)) is not None and e > 0 and all(n in t.params for n in space)
        ]
        if not pts:
            return None
        key = tuple(sorted(t.number for t, _ in pts))
        with self._lock:
            if self._cost_cache is not None and self._cost_cache[0] == key:
                return self._cost_cache[1]
            kernel = self._kernel_for("cost", len(pts))
            model = LogCostModel(seed=int(self._rng.integers(2**31)), kernel=kernel).fit(
                self.encoder.encode_many([{n: t.params[n] for n in space} for t, _ in pts]),
                np.array([e for _, e in pts]),
            )
            self._remember("cost", len(pts), model.kernel, kernel is not None)
            self._cost_cache = (key, model)
            return model

    def predict_upper_j(self, study: Study, params: Mapping[str, Any], quantile: float) -> float | None:
        """Upper ``quantile`` of the energy of ``params`` (J) from :meth:`cost_model`; None without data."""
        model = self.cost_model(study)
        if model is None:
            return None
        return float(model.upper(self.encoder.encode(params)[None, :], quantile)[0])

    def reseed_rng(self) -> None:
        self._base.reseed_rng()
        self._random.reseed_rng()
        self._rng = np.random.default_rng()

    def infer_relative_search_space(self, study: Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return dict(self.space)

    def alpha(self) -> float:
        """Current cost exponent: 1 - fraction of the quota spent, clamped to [0, 1]."""
        if self.budget_fraction is None:
            return 1.0
        return float(min(1.0, max(0.0, 1.0 - self.budget_fraction())))

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        if not search_space:
            return {}
        done = [
            t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if t.value is not None and all(n in t.params for n in search_space)
        ]
        if len(done) < self.n_startup_trials:
            return {}  # sample_independent delegates to the base sampler
        self.economy = self._too_costly(done)
        return self._acquire(study, trial, search_space, done)

    def _too_costly(self, done: Sequence[FrozenTrial]) -> bool:
        """Whether the sampler's own energy per call is above ``max_overhead`` of a typical trial's."""
        recent = done[-10:]
        own = [float(t.user_attrs["sampler_j"]) for t in recent if "sampler_j" in t.user_attrs]
        trial_e = [e for t in done if (e := trial_energy_j(t))]
        if not own or not trial_e:
            return False
        return float(np.median(own)) > self.max_overhead * float(np.median(trial_e))

    def _candidates(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> list[dict[str, Any]]:
        cands: list[dict[str, Any]] = []
        n_base = max(1, self.n_candidates // 4) if self.economy else self.n_candidates
        for sampler, n in ((self._base, n_base), (self._random, self.n_random_candidates)):
            for _ in range(n):
                cands.append({
                    n: sampler.sample_independent(study, trial, n, d) for n, d in search_space.items()
                })
        return cands

    def _acquire(
        self,
        study: Study,
        trial: FrozenTrial,
        search_space: dict[str, BaseDistribution],
        done: Sequence[FrozenTrial],
    ) -> dict[str, Any]:
        sign = -1.0 if study.direction == StudyDirection.MAXIMIZE else 1.0
        seen: dict[str, float] = {}
        for t in done:
            seen.setdefault(params_key({n: t.params[n] for n in search_space}), sign * float(t.value))  # type: ignore[arg-type]
        keys = list(seen)
        x_obs = self.encoder.encode_many([self._params_of(done, k, search_space) for k in keys])
        y_obs = np.array([seen[k] for k in keys])
        cost = self.cost_model(study, search_space)

        cands = [c for c in self._candidates(study, trial, search_space) if params_key(c) not in seen]
        uniq = list({params_key(c): c for c in cands}.values())
        if not uniq:
            return {}
        x = self.encoder.encode_many(uniq)
        if len(keys) >= 2 and np.ptp(y_obs) > 0:
            kernel = self._kernel_for("objective", len(keys))
            gp = GPModel(int(self._rng.integers(2**31)), kernel).fit(x_obs, y_obs)
            self._remember("objective", len(keys), gp.kernel, kernel is not None)
            mu, sd = gp.predict(x)
            ei = expected_improvement(mu, sd, float(y_obs.min()))
        else:
            ei = np.ones(len(uniq))
        alpha = self.alpha()
        self.last_alpha = alpha
        if cost is not None:
            pred = cost.mean_j(x)
            pred = pred / float(np.median(pred))  # scale-free: only ratios matter
            score = ei / np.power(np.maximum(pred, 1e-12), alpha)
            if self.remaining_j is not None:
                fits = cost.upper(x, self.quantile) <= self.remaining_j()
                if fits.any():
                    score = np.where(fits, score, -np.inf)
        else:
            score = ei
        best = int(np.argmax(score + 1e-12 * self._rng.random(len(score))))
        log.debug("cost-aware pick alpha=%.2f ei=%.3g of %d candidates", alpha, ei[best], len(uniq))
        return uniq[best]

    @staticmethod
    def _params_of(done: Sequence[FrozenTrial], key: str, space: Mapping[str, Any]) -> dict[str, Any]:
        for t in done:
            p = {n: t.params[n] for n in space}
            if params_key(p) == key:
                return p
        raise KeyError(key)  # pragma: no cover

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

