"""Surrogates of the cost-aware acquisition: a GP on log energy and expected improvement. Pure core.

Both fit scikit-learn Gaussian processes (Matern 5/2 + white noise, normalised targets) on encoded
parameters (:class:`carbontrail.hpo.space.SpaceEncoder`).
"""

from __future__ import annotations

import contextlib
import math
import threading
import warnings
from statistics import NormalDist
from typing import Any

import numpy as np

__all__ = ["GPModel", "LogCostModel", "expected_improvement", "have_sklearn"]


def have_sklearn() -> bool:
    """Whether scikit-learn (the ``ml`` extra) is importable."""
    try:
        import sklearn.gaussian_process  # noqa: F401
    except ImportError:
        return False
    return True


def _require_sklearn() -> None:
    if not have_sklearn():
        from carbontrail.errors import ConfigError

        raise ConfigError("the cost-aware sampler needs scikit-learn: pip install 'carbontrail[ml]'")


_CONTROLLER: Any = None
_CONTROLLER_LOCK = threading.Lock()


def one_blas_thread() -> contextlib.AbstractContextManager[Any]:
    """Limit BLAS/OpenMP to one thread while the models run (they are small matrices).

    On a busy machine, idle BLAS threads spinning around small solves can cost several times the
    CPU time of the maths itself, and that time is charged to the quota as the sampler's energy. The
    limit is process-wide while it lasts (a trial running in another thread of the same process sees
    it too, for the few milliseconds of a fit). Without threadpoolctl it does nothing.
    """
    global _CONTROLLER
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        return contextlib.nullcontext()
    with _CONTROLLER_LOCK:
        if _CONTROLLER is None:
            _CONTROLLER = ThreadpoolController()
        return _CONTROLLER.limit(limits=1)  # type: ignore[no-any-return]


def _lbfgs_capped(obj_func, initial_theta, bounds):  # type: ignore[no-untyped-def]
    """L-BFGS-B on the marginal likelihood with at most 40 iterations (the sampler's energy matters)."""
    from scipy.optimize import minimize

    res = minimize(obj_func, initial_theta, method="L-BFGS-B", jac=True, bounds=bounds,
                   options={"maxiter": 40})
    return res.x, res.fun


class GPModel:
    """A GP regressor on points of the unit cube; ``predict`` gives mean and standard deviation.

    ``kernel``: a kernel fitted earlier (``self.kernel`` after a fit) to reuse without optimising its
    hyperparameters again — a Cholesky solve instead of an L-BFGS search, which keeps the sampler's
    own energy small.
    """

    def __init__(self, seed: int = 0, kernel: object | None = None) -> None:
        self.seed = seed
        self._gp: object | None = None
        self._kernel = kernel
        self.kernel: object | None = None

    def fit(self, x: np.ndarray, y: np.ndarray) -> GPModel:
        _require_sklearn()
        from sklearn.gaussian_process import GaussianProcessRegressor
        from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

        if self._kernel is not None:
            gp = GaussianProcessRegressor(kernel=self._kernel, normalize_y=True, optimizer=None)
        else:
            kernel = ConstantKernel(1.0, (1e-3, 1e3)) * Matern(
                length_scale=np.full(x.shape[1], 0.5), length_scale_bounds=(1e-2, 1e2), nu=2.5
            ) + WhiteKernel(1e-2, (1e-6, 1e0))
            gp = GaussianProcessRegressor(kernel=kernel, normalize_y=True, random_state=self.seed,
                                          n_restarts_optimizer=0, optimizer=_lbfgs_capped)
        with warnings.catch_warnings(), one_blas_thread():
            warnings.simplefilter("ignore")
            gp.fit(x, y)
        self._gp = gp
        self.kernel = gp.kernel_
        return self

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        assert self._gp is not None, "fit first"
        with one_blas_thread():
            mu, sd = self._gp.predict(x, return_std=True)  # type: ignore[attr-defined]
        return np.asarray(mu, dtype=float), np.maximum(np.asarray(sd, dtype=float), 1e-9)


class LogCostModel:
    """Predicts a trial's energy (J) from its encoded parameters: a GP on ``log(energy_j)``.

    With fewer than ``min_points`` observations (or without scikit-learn) it predicts the largest energy seen times
    ``cold_factor`` (or ``None`` when nothing was seen). :meth:`upper` is the ``quantile`` upper bound
    ``exp(mu + z_q * sd)`` used by admission control.
    """

    def __init__(self, *, min_points: int = 3, cold_factor: float = 2.0, seed: int = 0,
                 kernel: object | None = None) -> None:
        self.min_points = min_points
        self.cold_factor = cold_factor
        self._gp: GPModel | None = None
        self._max_j: float | None = None
        self.seed = seed
        self._kernel = kernel
        self.kernel: object | None = None

    def fit(self, x: np.ndarray, energy_j: np.ndarray) -> LogCostModel:
        e = np.maximum(np.asarray(energy_j, dtype=float), 1e-9)
        self._max_j = float(e.max()) if len(e) else None
        # without scikit-learn the model stays cold (largest energy seen x cold_factor)
        fit_gp = len(e) >= self.min_points and have_sklearn()
        self._gp = GPModel(self.seed, self._kernel).fit(x, np.log(e)) if fit_gp else None
        self.kernel = self._gp.kernel if self._gp is not None else None
        return self

    @property
    def ready(self) -> bool:
        """Whether the GP is fitted (enough observations)."""
        return self._gp is not None

    def predict_log(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and sd of log energy."""
        if self._gp is None:
            if self._max_j is None:
                raise ValueError("no observations")
            m = math.log(self._max_j * self.cold_factor)
            return np.full(len(x), m), np.zeros(len(x))
        return self._gp.predict(x)

    def mean_j(self, x: np.ndarray) -> np.ndarray:
        """Median prediction of energy (J)."""
        mu, _ = self.predict_log(x)
        return np.exp(mu)

    def upper(self, x: np.ndarray, quantile: float = 0.9) -> np.ndarray:
        """Upper ``quantile`` of energy (J)."""
        mu, sd = self.predict_log(x)
        z = NormalDist().inv_cdf(quantile)
        return np.exp(mu + z * sd)


def expected_improvement(mu: np.ndarray, sd: np.ndarray, best: float, xi: float = 0.0) -> np.ndarray:
    """Expected improvement below ``best`` (minimisation) of a Gaussian ``N(mu, sd^2)``."""
    from scipy.special import ndtr

    imp = best - mu - xi
    z = imp / sd
    pdf = np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
    return np.maximum(imp * ndtr(z) + sd * pdf, 0.0)
