"""A forecaster for intensity sources that publish no forecast. Pure: no clock, no I/O.

:func:`forecast_series` predicts the intervals after ``now_s`` from the history strictly before
``now_s`` (an interval counts as observed only once it has ended, so nothing leaks from the
future). It blends three simple predictors, with weights fitted per lead time on back-tests over
the recent history:

* **persistence** — the last observed value;
* **seasonal-naive** — the value at the same time of day on the most recent observed day;
* **anchored daily profile** — the mean daily shape of the last ``profile_days`` days, shifted
  so that it passes through the last observation, the shift fading with lead time.

The blend weights (a point of the simplex, 0.1 grid) minimise the mean absolute error of the
back-test at each lead-time band; the per-point ``uncertainty_rel`` of the result is the
68th percentile of the blend's absolute relative back-test errors at that lead band (about one
standard error). The result is an :class:`IntensitySeries` with provenance
``source="forecast:blend"``, ``estimated=True``.
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime

import numpy as np

from carbontrail.errors import GridError
from carbontrail.grid.series import IntensitySeries

__all__ = ["forecast_series", "lead_bands"]

_DAY_S = 86400.0
#: upper edges (in hours of lead time) of the bands that get their own blend weights
_BAND_EDGES_H = (1.0, 3.0, 6.0, 12.0, 24.0, 48.0, math.inf)


def lead_bands(step_s: float, horizon_n: int) -> np.ndarray:
    """Band index (0..len(_BAND_EDGES_H)-1) of each lead 1..horizon_n (lead 1 = the next interval)."""
    lead_h = np.arange(1, horizon_n + 1) * step_s / 3600.0
    return np.searchsorted(np.asarray(_BAND_EDGES_H), lead_h, side="left")


def _simplex(step: float = 0.1) -> np.ndarray:
    k = round(1 / step)
    pts = [(a / k, b / k, (k - a - b) / k) for a in range(k + 1) for b in range(k + 1 - a)]
    return np.asarray(pts)  # (M, 3)


_WEIGHTS = _simplex()


def _components(v: np.ndarray, origins: np.ndarray, horizon_n: int, period: int, days: int) -> np.ndarray:
    """Predictions of the three components, shape (3, len(origins), horizon_n).

    ``origins[i]`` is the number of observed intervals (the forecast's first target index); only
    ``v[:origins[i]]`` is used for origin i.
    """
    o = origins[:, None]  # (O, 1)
    h = np.arange(1, horizon_n + 1)[None, :]  # lead 1..H
    target = o + h - 1  # (O, H)
    last = v[origins - 1][:, None]
    persistence = np.broadcast_to(last, target.shape)
    m = np.ceil(h / period).astype(int)  # whole days back so that the source is observed
    seasonal = v[target - m * period]
    # daily profile at the phase of each target, from the last `days` observed days
    prof = np.zeros(target.shape)
    prof_last = np.zeros((len(origins), 1))
    for d in range(days):
        prof += v[target - (m + d) * period]
        prof_last += v[o - 1 - period * (1 + d)]
    prof /= days
    prof_last /= days
    # anchor the profile at the last observation; the level offset decays with lead time
    decay = np.exp(-(h * 1.0) / max(1.0, period / 4.0))
    anchored = prof + (last - prof_last) * decay
    return np.stack([persistence, seasonal, anchored])


def forecast_series(
    history: IntensitySeries,
    now_s: float,
    horizon_s: float,
    *,
    profile_days: int = 14,
    fit_days: int = 14,
    fit_stride_s: float = 6 * 3600.0,
    generated_at: datetime | None = None,
) -> IntensitySeries:
    """Forecast ``history``'s zone over ``[now_s, now_s + horizon_s)`` from data before ``now_s``.

    Args:
        history: the observed series; only intervals ending at or before ``now_s`` are read.
        now_s: the forecast origin (POSIX seconds, UTC).
        horizon_s: how far ahead to forecast (seconds, > 0).
        profile_days: days averaged into the daily profile.
        fit_days: days of back-test origins used to fit the blend weights and the uncertainty.
        fit_stride_s: spacing of those back-test origins (seconds).
        generated_at: stamped into the provenance (defaults to ``now_s``).

    Returns:
        An :class:`IntensitySeries` on ``history``'s grid starting at the first interval not fully
        observed at ``now_s`` and covering at least ``horizon_s``, with ``uncertainty_rel`` per value
        and provenance ``source="forecast:blend"``, ``estimated=True``.

    Raises:
        GridError: the step does not divide a day, or there is too little history before
            ``now_s`` (``profile_days + 2`` days are needed).
    """
    step = float(history.step_s)
    period_f = _DAY_S / step
    if abs(period_f - round(period_f)) > 1e-9:
        raise GridError(f"the forecaster needs a step that divides a day, got {step} s")
    if not (math.isfinite(horizon_s) and horizon_s > 0):
        raise GridError(f"horizon_s must be positive, got {horizon_s}")
    if not math.isfinite(now_s):
        raise GridError("now_s must be finite")
    period = round(period_f)
    n_obs = math.floor((now_s - history.start_s) / step + 1e-9)
    n_obs = min(n_obs, len(history))
    horizon_n = max(1, math.ceil(horizon_s / step - 1e-9))
    need = period * (profile_days + 2)
    if n_obs < need:
        raise GridError(
            f"the forecaster needs {profile_days + 2} days of {history.provenance.zone} history before "
            f"the origin; {n_obs * step / _DAY_S:.1f} days are available"
        )
    v = history.values_g_per_kwh[:n_obs]  # the only data read: nothing at or after the origin

    # back-test origins: each must leave `need` history behind it and its whole horizon observed
    stride = max(1, round(fit_stride_s / step))
    first = max(need, n_obs - horizon_n - round(fit_days * period))
    origins = np.arange(n_obs - horizon_n, first - 1, -stride)[::-1]
    bands = lead_bands(step, horizon_n)
    n_bands = int(bands.max()) + 1
    weights = np.tile(np.array([0.0, 0.0, 1.0]), (n_bands, 1))
    unc = np.full(n_bands, 0.1)
    if origins.size >= 3:
        comps = _components(v, origins, horizon_n, period, profile_days)  # (3, O, H)
        truth = v[origins[:, None] + np.arange(horizon_n)[None, :]]
        # blended predictions for every weight vector: (M, O, H)
        blends = np.tensordot(_WEIGHTS, comps, axes=(1, 0))
        abs_err = np.abs(blends - truth[None])
        denom = np.maximum(np.abs(truth), 1e-6)
        for b in range(n_bands):
            cols = bands == b
            if not cols.any():
                continue
            mae = abs_err[:, :, cols].mean(axis=(1, 2))
            best = int(np.argmin(mae))
            weights[b] = _WEIGHTS[best]
            rel = (abs_err[best][:, cols] / denom[:, cols]).ravel()
            unc[b] = float(np.quantile(rel, 0.68))
    comps_now = _components(v, np.array([n_obs]), horizon_n, period, profile_days)[:, 0, :]  # (3, H)
    w = weights[bands]  # (H, 3)
    pred = np.maximum((w.T * comps_now).sum(axis=0), 0.0)
    gen = generated_at or datetime.fromtimestamp(now_s, UTC)
    prov = replace(
        history.provenance,
        source="forecast:blend",
        dataset=f"{history.provenance.source}:{history.provenance.dataset}",
        estimated=True,
        retrieved_at=gen,
        resolution_s=step,
        intensity_g_per_kwh=float(pred.mean()),
        uncertainty_rel=float(np.mean(unc[bands])),
    )
    return IntensitySeries(
        start_s=history.start_s + n_obs * step,
        step_s=step,
        values_g_per_kwh=pred,
        provenance=prov,
        uncertainty_rel=unc[bands].astype(float),
    )
