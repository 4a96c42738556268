"""Intensity series: a regular time grid of grid-intensity values with their provenance. Pure.

A :class:`IntensitySeries` is the common currency between grid sources, the forecaster, the
scheduler and emissions attribution: ``values_g_per_kwh[i]`` holds for the interval
``[start_s + i*step_s, start_s + (i+1)*step_s)`` (POSIX seconds, UTC).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import datetime

import numpy as np

from carbontrail.errors import GridError
from carbontrail.provenance import IntensityProvenance

__all__ = ["IntensitySeries"]


@dataclass(frozen=True)
class IntensitySeries:
    """Regularly spaced intensity values.

    Attributes:
        start_s: POSIX time (UTC) of the first interval's start.
        step_s: interval width in seconds (e.g. 3600 for hourly).
        values_g_per_kwh: float array, one value per interval, finite after construction
            (gaps are filled by the loader and listed in ``filled``).
        provenance: where the values come from (zone, source, dataset, vintage, signal, basis).
        filled: boolean array marking interpolated values (same length), or empty if none.
        uncertainty_rel: per-value relative uncertainty (forecasts), or empty for "as provenance".
    """

    start_s: float
    step_s: float
    values_g_per_kwh: np.ndarray
    provenance: IntensityProvenance
    filled: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    uncertainty_rel: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def __post_init__(self) -> None:
        v = np.asarray(self.values_g_per_kwh, dtype=float)
        object.__setattr__(self, "values_g_per_kwh", v)
        if v.ndim != 1 or v.size == 0:
            raise GridError("an intensity series needs a non-empty 1-D array of values")
        if not (math.isfinite(self.step_s) and self.step_s > 0):
            raise GridError(f"step_s must be positive, got {self.step_s}")
        if not np.all(np.isfinite(v)):
            raise GridError(f"intensity series for {self.provenance.zone} has NaN/inf values; fill gaps first")
        if np.any(v < 0):
            raise GridError(f"intensity series for {self.provenance.zone} has negative values")

    def __len__(self) -> int:
        return int(self.values_g_per_kwh.size)

    @property
    def end_s(self) -> float:
        """POSIX time just after the last interval."""
        return self.start_s + len(self) * self.step_s

    @property
    def times_s(self) -> np.ndarray:
        """Start time of every interval."""
        return self.start_s + self.step_s * np.arange(len(self))

    def index_at(self, t_s: float) -> int:
        """Index of the interval containing ``t_s``; :class:`GridError` if outside the series."""
        if not (self.start_s <= t_s < self.end_s):
            raise GridError(
                f"{datetime.fromtimestamp(t_s).isoformat()} is outside the {self.provenance.zone} series "
                f"({self.provenance.source}, {self.provenance.dataset})"
            )
        return int((t_s - self.start_s) // self.step_s)

    def value_at(self, t_s: float) -> float:
        """Intensity (g/kWh) in force at ``t_s``."""
        return float(self.values_g_per_kwh[self.index_at(t_s)])

    def window(self, start_s: float, end_s: float) -> IntensitySeries:
        """The intervals overlapping ``[start_s, end_s)`` (whole intervals)."""
        i0 = max(0, int((start_s - self.start_s) // self.step_s))
        i1 = min(len(self), math.ceil((end_s - self.start_s) / self.step_s))
        if i1 <= i0:
            raise GridError(f"no {self.provenance.zone} data between {start_s} and {end_s}")
        return replace(
            self,
            start_s=self.start_s + i0 * self.step_s,
            values_g_per_kwh=self.values_g_per_kwh[i0:i1],
            filled=self.filled[i0:i1] if self.filled.size else self.filled,
            uncertainty_rel=self.uncertainty_rel[i0:i1] if self.uncertainty_rel.size else self.uncertainty_rel,
        )
