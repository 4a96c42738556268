"""Serving-zone intensities for footprint projections from :mod:`carbontrail.grid` (thin adapter).

``grid_zone_intensity("DE")`` gives the zone's annual factor (Our World in Data / Ember, eGRID for US
states); ``grid_zone_intensity("CISO", hourly=True)`` an hour-of-day profile (UTC) averaged over a
series — the bundled one, or any :class:`~carbontrail.grid.series.IntensitySeries` you pass — so a
deployment whose traffic peaks in the evening is charged the evening's intensity. Provenance
records the dataset, vintage, basis and, for profiles, the period averaged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from carbontrail.registry.footprint import ZoneIntensity

__all__ = ["grid_lookup", "grid_zone_intensity", "hourly_profile"]


def hourly_profile(series: Any) -> tuple[float, ...]:
    """Mean intensity per UTC hour of day (24 values) of an :class:`IntensitySeries`, weighting each
    interval by its overlap with the hour (intervals no longer than an hour)."""
    step = float(series.step_s)
    if step > 3600.0 or 3600.0 % step:
        raise ValueError(f"an hourly profile needs a series with a step dividing one hour, got {step} s")
    vals = np.asarray(series.values_g_per_kwh, dtype=float)
    starts = series.start_s + step * np.arange(vals.size)
    hours = ((starts // 3600.0) % 24).astype(int)
    sums = np.bincount(hours, weights=vals, minlength=24)
    counts = np.bincount(hours, minlength=24)
    if np.any(counts == 0):
        raise ValueError("the series does not cover every hour of the day")
    return tuple(float(x) for x in sums / counts)


def grid_zone_intensity(
    zone: str, *, hourly: bool = False, series: Any = None, uncertainty_rel: float | None = None
) -> ZoneIntensity:
    """A :class:`ZoneIntensity` for ``zone`` from the grid package.

    ``hourly=False``: the annual factor of :class:`~carbontrail.grid.StaticFactors`.
    ``hourly=True``: the UTC hour-of-day profile of ``series`` (default: the bundled series of the
    zone; :class:`~carbontrail.errors.UnknownZoneError` when there is none).
    """
    from carbontrail.grid.sources import StaticFactors

    if not hourly:
        src = StaticFactors()
        prov = src.provenance(zone)
        return ZoneIntensity(
            prov.zone,
            intensity_g_per_kwh=prov.intensity_g_per_kwh,
            provenance=prov.to_dict(),
            uncertainty_rel=prov.uncertainty_rel if uncertainty_rel is None else uncertainty_rel,
        )
    if series is None:
        from carbontrail.grid.bundled import load_series

        series = load_series(zone)
    profile = hourly_profile(series)
    prov = series.provenance.to_dict()
    prov["profile"] = {
        "kind": "mean by UTC hour of day",
        "from_s": float(series.start_s),
        "to_s": float(series.start_s + series.step_s * len(series)),
        "step_s": float(series.step_s),
    }
    spread = float(np.std(np.asarray(series.values_g_per_kwh)) / max(np.mean(series.values_g_per_kwh), 1e-9))
    return ZoneIntensity(
        series.provenance.zone,
        hourly_g_per_kwh=profile,
        provenance=prov,
        uncertainty_rel=spread if uncertainty_rel is None else uncertainty_rel,
    )


def grid_lookup(*, hourly: bool = False) -> Callable[[str], ZoneIntensity]:
    """A ``zone -> ZoneIntensity`` callable for :class:`~carbontrail.registry.Gate` (cached per zone)."""
    cache: dict[str, ZoneIntensity] = {}

    def lookup(zone: str) -> ZoneIntensity:
        if zone not in cache:
            cache[zone] = grid_zone_intensity(zone, hourly=hourly)
        return cache[zone]

    return lookup
