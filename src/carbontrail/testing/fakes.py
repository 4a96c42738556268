"""In-memory fakes of carbontrail's ports, for tests (yours and ours)."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from carbontrail.meter.base import BaseMeter, ComponentInfo

__all__ = ["FakeMeter"]


class FakeMeter(BaseMeter):
    """A meter whose cumulative counters the test advances by hand (:meth:`add`) or at a fixed power.

    ``power_w`` with a ``clock`` callable makes the counters grow as ``power_w * clock()``.
    """

    name = "fake"

    def __init__(
        self,
        components: Sequence[str] = ("cpu",),
        *,
        method: str = "constant",
        uncertainty_rel: float = 0.0,
        power_w: float = 0.0,
        clock: object | None = None,
    ) -> None:
        self._infos = tuple(ComponentInfo(c, method, uncertainty_rel) for c in components)
        self._totals = [0.0] * len(self._infos)
        self._power_w = power_w
        self._clock = clock
        self._lock = threading.Lock()

    def components(self) -> Sequence[ComponentInfo]:
        return self._infos

    def add(self, energy_j: float, component: int = 0) -> None:
        """Advance one component's counter by ``energy_j``."""
        with self._lock:
            self._totals[component] += energy_j

    def read(self) -> Sequence[float]:
        with self._lock:
            if self._clock is not None:
                t = float(self._clock())  # type: ignore[operator]
                return tuple(v + self._power_w * t for v in self._totals)
            return tuple(self._totals)
