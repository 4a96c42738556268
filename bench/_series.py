"""Bundled series for the benchmarks (the grid area's loader)."""

from __future__ import annotations

from carbontrail.grid.bundled import load_series, series_zones
from carbontrail.grid.series import IntensitySeries


def zones() -> list[str]:
    """Every bundled zone, Let's Wait Awhile (DE, GB, FR) first, then EIA-930."""
    z = series_zones()
    return [x for x in ("DE", "GB", "FR") if x in z] + [x for x in z if x not in ("DE", "GB", "FR")]


def load(zone: str) -> IntensitySeries:
    return load_series(zone)
