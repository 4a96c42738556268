"""The forecaster: no leakage, prefix consistency, shape, provenance, accuracy on synthetic cycles."""

from __future__ import annotations

import numpy as np
import pytest

from carbontrail.errors import GridError
from carbontrail.grid.forecast import forecast_series
from carbontrail.grid.series import IntensitySeries
from carbontrail.provenance import IntensityProvenance

DAY = 86400.0


def _series(values: np.ndarray, step: float = 3600.0) -> IntensitySeries:
    prov = IntensityProvenance(zone="XX", source="series", dataset="synthetic", vintage="2024")
    return IntensitySeries(
        start_s=1_700_000_000.0 - 1_700_000_000.0 % DAY, step_s=step, values_g_per_kwh=values, provenance=prov
    )


def _daily(days: int, step: float = 3600.0, noise: float = 0.0, seed: int = 0) -> np.ndarray:
    n = int(days * DAY / step)
    t = np.arange(n) * step
    rng = np.random.default_rng(seed)
    return 300 + 100 * np.sin(2 * np.pi * t / DAY) + noise * rng.standard_normal(n)


def test_uses_only_history_before_origin() -> None:
    v = _daily(40, noise=10)
    s = _series(v)
    now = s.start_s + 30 * DAY + 7 * 3600
    f1 = forecast_series(s, now, DAY)
    # scramble everything at and after the origin: the forecast must not change
    v2 = v.copy()
    k = int((now - s.start_s) // 3600)
    v2[k:] = np.random.default_rng(1).uniform(0, 1000, v2.size - k)
    f2 = forecast_series(_series(v2), now, DAY)
    np.testing.assert_array_equal(f1.values_g_per_kwh, f2.values_g_per_kwh)
    np.testing.assert_array_equal(f1.uncertainty_rel, f2.uncertainty_rel)
    assert f1.start_s == s.start_s + k * 3600


def test_mid_interval_origin_does_not_read_the_running_interval() -> None:
    v = _daily(40, noise=10)
    s = _series(v)
    now = s.start_s + 30 * DAY + 7 * 3600 + 1800  # inside interval k
    k = int((now - s.start_s) // 3600)
    v2 = v.copy()
    v2[k] = 5000.0
    a = forecast_series(s, now, 6 * 3600)
    b = forecast_series(_series(v2), now, 6 * 3600)
    np.testing.assert_array_equal(a.values_g_per_kwh, b.values_g_per_kwh)
    assert a.start_s == s.start_s + k * 3600


def test_perturbing_any_single_future_value_changes_nothing() -> None:
    v = _daily(45, noise=10, seed=4)
    s = _series(v)
    now = s.start_s + 40 * DAY + 13 * 3600
    k = int((now - s.start_s) // 3600)
    f1 = forecast_series(s, now, 7 * DAY)
    for i in (k, k + 1, k + 23, v.size - 1):
        v2 = v.copy()
        v2[i] += 500.0
        f2 = forecast_series(_series(v2), now, 7 * DAY)
        np.testing.assert_array_equal(f1.values_g_per_kwh, f2.values_g_per_kwh)
    # ...while the last observed value does matter (the test can fail)
    v3 = v.copy()
    v3[k - 1] += 500.0
    f3 = forecast_series(_series(v3), now, 7 * DAY)
    assert not np.array_equal(f1.values_g_per_kwh, f3.values_g_per_kwh)


def test_a_longer_horizon_extends_a_shorter_one() -> None:
    s = _series(_daily(50, step=1800.0, noise=15, seed=5), step=1800.0)
    now = s.start_s + 41 * DAY + 5 * 3600
    short = forecast_series(s, now, 6 * 3600)
    day = forecast_series(s, now, DAY)
    week = forecast_series(s, now, 7 * DAY)
    assert (len(short), len(day), len(week)) == (12, 48, 336)
    for f in (short, day):
        np.testing.assert_array_equal(f.values_g_per_kwh, week.values_g_per_kwh[: len(f)])
        np.testing.assert_array_equal(f.uncertainty_rel, week.uncertainty_rel[: len(f)])


def test_shape_provenance_and_uncertainty() -> None:
    s = _series(_daily(40, step=900.0, noise=5), step=900.0)
    f = forecast_series(s, s.start_s + 35 * DAY, 6 * 3600)
    assert len(f) == 24 and f.step_s == 900.0
    assert f.provenance.source == "forecast:blend" and f.provenance.estimated
    assert f.provenance.zone == "XX"
    assert f.uncertainty_rel.shape == (24,)
    assert np.all(f.uncertainty_rel >= 0) and np.all(np.isfinite(f.uncertainty_rel))


def test_learns_a_clean_daily_cycle() -> None:
    v = _daily(40)
    s = _series(v)
    now = s.start_s + 32 * DAY + 5 * 3600
    f = forecast_series(s, now, DAY)
    k = int((now - s.start_s) // 3600)
    truth = v[k : k + 24]
    assert np.max(np.abs(f.values_g_per_kwh - truth)) < 1e-6
    assert np.all(f.uncertainty_rel < 1e-6)


def test_beats_seasonal_naive_on_noisy_cycle() -> None:
    v = _daily(70, noise=25, seed=3)
    s = _series(v)
    errs_f, errs_n = [], []
    for d in range(30, 68):
        now = s.start_s + d * DAY + 3 * 3600
        k = int((now - s.start_s) // 3600)
        f = forecast_series(s, now, DAY)
        errs_f.append(np.abs(f.values_g_per_kwh - v[k : k + 24]).mean())
        errs_n.append(np.abs(v[k - 24 : k] - v[k : k + 24]).mean())
    assert np.median(errs_f) < 0.85 * np.median(errs_n)


def test_recovers_a_daily_and_weekly_shape_under_noise() -> None:
    """A known daily shape plus a weekend dip, with noise: the forecast's shape follows the truth's."""
    days, step = 80, 3600.0
    n = int(days * DAY / step)
    t = np.arange(n) * step
    daily = 300 + 100 * np.sin(2 * np.pi * t / DAY) + 40 * np.cos(4 * np.pi * t / DAY)
    weekend = np.where((t // DAY) % 7 >= 5, -60.0, 0.0)
    clean = daily + weekend
    v = clean + 15 * np.random.default_rng(6).standard_normal(n)
    s = _series(v)
    corr, mae = [], []
    for d in (50, 53, 56, 60, 64):
        now = s.start_s + d * DAY + 9 * 3600
        k = int((now - s.start_s) // 3600)
        f = forecast_series(s, now, 7 * DAY).values_g_per_kwh
        truth = clean[k : k + f.size]
        corr.append(np.corrcoef(f, truth)[0, 1])
        mae.append(np.abs(f - truth).mean())
    assert min(corr) > 0.97  # the daily and weekly shape is recovered over a whole week ahead
    assert np.mean(mae) < 10.0  # well under the noise (15) and the weekend dip (60)


def test_persistent_level_shift_is_followed_at_short_leads() -> None:
    """A step in level two days before the origin: the first hours follow the new level."""
    v = _daily(50, noise=5, seed=7)
    v[48 * 24 :] += 150.0
    s = _series(v)
    now = s.start_s + 49 * DAY + 3 * 3600  # the profile still mostly remembers the old level
    k = int((now - s.start_s) // 3600)
    f = forecast_series(s, now, 6 * 3600).values_g_per_kwh
    assert np.abs(f[:3] - v[k : k + 3]).max() < 40.0


def test_refuses_short_history_and_bad_steps() -> None:
    s = _series(_daily(10))
    with pytest.raises(GridError, match="days of XX history"):
        forecast_series(s, s.start_s + 9 * DAY, DAY)
    odd = _series(_daily(40, step=7 * 60.0), step=7 * 60.0)
    with pytest.raises(GridError, match="divides a day"):
        forecast_series(odd, odd.start_s + 30 * DAY, DAY)
    with pytest.raises(GridError, match="horizon"):
        forecast_series(_series(_daily(40)), 1_700_000_000.0 + 30 * DAY, -1)
