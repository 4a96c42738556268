"""A forecaster for intensity sources that publish no forecast. Pure: no clock, no I/O.

:func:`forecast_series` predicts the intervals after ``now_s`` from the history strictly before
``now_s`` (an interval counts as observed only once it has ended, so nothing leaks from the
future). It is a direct multi-horizon linear model: each lead-time band (hourly up to 6 h, then
wider up to a week) has its own coefficients, fitted by least squares on back-tests over the
recent history. With ``L`` the mean of the last observed day, it predicts the deviation
``value - L`` of every future interval as a weighted sum of the deviations from ``L`` of

* **persistence** — the last observed value;
* **recent mean** — the mean of the last 3 hours;
* **seasonal-naive** — the value at the same time of day on the most recent observed day;
* **daily profile** — the mean of the last ``profile_days`` days at the target's time of day;
* **profile at the origin** — the same at the origin's time of day (with persistence, it measures
  how far today departs from the usual shape: an anomaly whose weight fades with lead time);
* **weekly profile** — the mean at the same time of the week over the last weeks (up to four, as
  many as the history allows), which carries the weekday/weekend pattern.

There is no constant term, so the forecast's shape within a window comes from the history alone.
The fit is a ridge regression shrunk towards the plain daily profile (it falls back to the profile
where a band has few back-test origins, and reproduces an exactly periodic series), on origins
spaced ``fit_stride_s`` apart over the last ``fit_days`` days; each band is fitted on every origin
whose targets in that band were observed. A forecast over a longer horizon therefore extends, and
does not change, one over a shorter horizon. The per-point ``uncertainty_rel`` of the result is the
68th percentile of the model's absolute relative back-test errors in that lead band (about one
standard error). The result is an :class:`IntensitySeries` with provenance
``source="forecast:blend"``, ``estimated=True``.

Cost: one call takes a few milliseconds for a day ahead and about 10 ms for a week ahead at
15-minute resolution (``bench/scheduling.py`` prints the median and 95th percentile).
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
_WEEK_DAYS = 7
#: upper edges (in hours of lead time) of the bands that get their own coefficients
_BAND_EDGES_H = (
    1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 12.0, 15.0, 18.0, 21.0, 24.0,
    30.0, 36.0, 42.0, 48.0, 60.0, 72.0, 96.0, 120.0, 144.0, 168.0, math.inf,
)  # fmt: skip
#: leads sampled per band for the fit (bands of sub-hourly series hold many leads)
_LEADS_PER_BAND = 6
#: hours averaged into the "recent mean" feature
_RECENT_H = 3.0
#: ridge strength, relative to the mean diagonal of the normal equations
_RIDGE = 1e-2
_N_FEATURES = 6
#: most weeks averaged into the weekly profile (fewer when the history is short)
_MAX_WEEKS = 4


def _prior() -> np.ndarray:
    """The prior coefficients: the plain daily profile."""
    pr = np.zeros(_N_FEATURES)
    pr[3] = 1.0
    return pr


def lead_bands(step_s: float, horizon_n: int) -> np.ndarray:
    """Band index (0..len(_BAND_EDGES_H)-1) of each lead 1..horizon_n (lead 1 = the next interval)."""
    lead_h = np.arange(1, horizon_n + 1) * step_s / 3600.0
    return np.searchsorted(np.asarray(_BAND_EDGES_H), lead_h - 1e-9, side="left")


def _seasonal_cumsum(v: np.ndarray, period: int) -> np.ndarray:
    """``s[i] = v[i] + v[i - period] + v[i - 2 period] + ...``."""
    n = v.size
    pad = (-n) % period
    return np.concatenate([v, np.zeros(pad)]).reshape(-1, period).cumsum(axis=0).ravel()[:n]


class _Lags:
    """Lagged means of the observed values ``v`` (nothing past ``v`` is touched)."""

    def __init__(self, v: np.ndarray, period: int, days: int, weeks: int) -> None:
        self.v = v
        self.period = period
        self.days = days
        self.weeks = weeks
        self.csum = np.concatenate([[0.0], np.cumsum(v)])
        self.dcum = _seasonal_cumsum(v, period)
        self.wcum = _seasonal_cumsum(v, _WEEK_DAYS * period)

    def mean_before(self, o: np.ndarray, n: int) -> np.ndarray:
        """Mean of ``v[o-n:o]``."""
        return (self.csum[o] - self.csum[o - n]) / n

    @staticmethod
    def _seasonal_mean(cum: np.ndarray, j: np.ndarray, period: int, k: int) -> np.ndarray:
        lo = j - k * period
        below = np.where(lo >= 0, cum[np.maximum(lo, 0)], 0.0)
        return (cum[j] - below) / k

    def profile(self, j: np.ndarray) -> np.ndarray:
        """Mean of ``v[j], v[j - period], ..., v[j - (days-1) period]`` (``j >= (days-1) period``)."""
        return self._seasonal_mean(self.dcum, j, self.period, self.days)

    def weekly(self, j: np.ndarray) -> np.ndarray:
        """Mean of ``v[j], v[j - week], ...`` over ``weeks`` weeks (``j >= (weeks-1) week``)."""
        return self._seasonal_mean(self.wcum, j, _WEEK_DAYS * self.period, self.weeks)


def _features(lags: _Lags, origins: np.ndarray, leads: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Features (O, H, F) and the level (O, 1) for targets ``origins[i] + leads[j] - 1``.

    ``origins[i]`` is the number of observed intervals; only ``v[:origins[i]]`` is read.
    """
    v, p = lags.v, lags.period
    o = origins[:, None]
    h = leads[None, :]
    t = o + h - 1
    level = lags.mean_before(o, p)  # (O, 1)
    last = v[o - 1]
    recent = lags.mean_before(o, max(1, round(_RECENT_H * p / 24)))
    m = -(-h // p)  # whole days back so that the source is observed
    sday = v[t - m * p]
    prof = lags.profile(t - m * p)
    prof_o = lags.profile(o - 1 - p)
    w = -(-h // (_WEEK_DAYS * p))
    week = lags.weekly(t - w * _WEEK_DAYS * p)
    x = np.stack([np.broadcast_to(a, t.shape) - level for a in (last, recent, sday, prof, prof_o, week)], axis=-1)
    return x, level


def _min_origin(period: int, days: int, weeks: int) -> int:
    """Smallest origin whose features are defined for every lead (profile and weekly lags)."""
    return max((days + 1) * period, weeks * _WEEK_DAYS * period) + 1


def _band_leads(band: int, step_s: float) -> np.ndarray:
    """The leads (1 = the next interval) fitted for ``band``: at most ``_LEADS_PER_BAND`` spread over it.

    The whole band is used whatever the horizon asked for, so a longer forecast extends a shorter one.
    """
    per_h = 3600.0 / step_s
    lo_h = 0.0 if band == 0 else _BAND_EDGES_H[band - 1]
    hi_h = _BAND_EDGES_H[band] if math.isfinite(_BAND_EDGES_H[band]) else lo_h + 48.0
    lo = math.floor(lo_h * per_h + 1e-9) + 1
    hi = max(lo, math.floor(hi_h * per_h + 1e-9))
    n = min(_LEADS_PER_BAND, hi - lo + 1)
    return np.unique(np.linspace(lo, hi, n).round().astype(int))


def forecast_series(
    history: IntensitySeries,
    now_s: float,
    horizon_s: float,
    *,
    profile_days: int = 14,
    fit_days: int = 28,
    fit_stride_s: float = 2 * 3600.0,
    generated_at: datetime | None = None,
) -> IntensitySeries:
    """Forecast ``history``'s zone over ``[now_s, now_s + horizon_s)`` from data before ``now_s``.

    Args:
        history: the observed series; only intervals ending at or before ``now_s`` are read.
        now_s: the forecast origin (POSIX seconds, UTC).
        horizon_s: how far ahead to forecast (seconds, > 0).
        profile_days: days averaged into the daily profile.
        fit_days: days of back-test origins used to fit the coefficients and the uncertainty.
        fit_stride_s: spacing of those back-test origins (seconds).
        generated_at: stamped into the provenance (defaults to ``now_s``).

    Returns:
        An :class:`IntensitySeries` on ``history``'s grid starting at the first interval not fully
        observed at ``now_s`` and covering at least ``horizon_s``, with ``uncertainty_rel`` per value
        and provenance ``source="forecast:blend"``, ``estimated=True``.

    Raises:
        GridError: the step does not divide a day, or there is too little history before
            ``now_s`` (``profile_days + 2`` days are needed, and at least 8; leads beyond what the
            history can back-test fall back to the daily profile).
    """
    step = float(history.step_s)
    period_f = _DAY_S / step
    if abs(period_f - round(period_f)) > 1e-9:
        raise GridError(f"the forecaster needs a step that divides a day, got {step} s")
    if not (math.isfinite(horizon_s) and horizon_s > 0):
        raise GridError(f"horizon_s must be positive, got {horizon_s}")
    if not math.isfinite(now_s):
        raise GridError("now_s must be finite")
    if profile_days < 1:
        raise GridError(f"profile_days must be >= 1, got {profile_days}")
    period = round(period_f)
    n_obs = math.floor((now_s - history.start_s) / step + 1e-9)
    n_obs = min(n_obs, len(history))
    horizon_n = max(1, math.ceil(horizon_s / step - 1e-9))
    need_days = max(profile_days + 2, _WEEK_DAYS + 1)
    if n_obs < max(period * need_days, _min_origin(period, profile_days, 1)):
        raise GridError(
            f"the forecaster needs {need_days} days of {history.provenance.zone} history before "
            f"the origin; {max(0, n_obs) * step / _DAY_S:.1f} days are available"
        )
    v = np.asarray(history.values_g_per_kwh[:n_obs], dtype=float)  # nothing at or after the origin
    # back-test origins: every `stride` intervals over the last `fit_days` days; as many weeks in the
    # weekly profile as the earliest of them allows
    first = max(_min_origin(period, profile_days, 1), n_obs - round(fit_days * period))
    weeks = max(1, min(_MAX_WEEKS, (first - 1) // (_WEEK_DAYS * period)))
    first = max(first, _min_origin(period, profile_days, weeks))
    lags = _Lags(v, period, profile_days, weeks)

    bands = lead_bands(step, horizon_n)
    n_bands = len(_BAND_EDGES_H)
    prior = _prior()
    nf = prior.size
    coef = np.tile(prior, (n_bands, 1))
    unc = np.full(n_bands, 0.1)
    stride = max(1, round(fit_stride_s / step))
    origins = np.arange(n_obs - 1, first - 1, -stride)[::-1]
    last_unc = 0.1
    for b in np.unique(bands):
        leads_b = _band_leads(int(b), step)
        org = origins[origins + leads_b.min() - 1 < n_obs]
        if org.size < 3:
            unc[b] = last_unc
            continue
        x, level = _features(lags, org, leads_b)
        tgt = org[:, None] + leads_b[None, :] - 1
        ok = tgt < n_obs  # the target must have been observed
        tv = v[np.minimum(tgt, n_obs - 1)]
        y = (tv - level)[ok]
        xs = x[ok]
        if y.size < 3:
            unc[b] = last_unc
            continue
        xtx = xs.T @ xs
        lam = _RIDGE * max(float(np.trace(xtx)) / nf, 1e-12)
        coef[b] = np.linalg.solve(xtx + lam * np.eye(nf), xs.T @ y + lam * prior)
        pred = np.maximum(xs @ coef[b] + level.repeat(leads_b.size, axis=1)[ok], 0.0)
        truth = tv[ok]
        rel = np.abs(pred - truth) / np.maximum(np.abs(truth), 1e-6)
        unc[b] = last_unc = float(np.quantile(rel, 0.68))
    x_now, level_now = _features(lags, np.array([n_obs]), np.arange(1, horizon_n + 1))
    pred = np.maximum(np.einsum("hf,hf->h", x_now[0], coef[bands]) + level_now[0, 0], 0.0)
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
