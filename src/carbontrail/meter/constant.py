"""A constant power the user states, for hardware carbontrail cannot see (component ``constant:<label>``).

Examples: an accelerator without an energy counter, a NAS, a share of a switch. Energy is
``power_w x elapsed seconds`` on a monotonic clock. The default band is ±25 %: a stated figure is
usually a nameplate or an average, not the draw during this window; pass your own when you know better.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from carbontrail.meter.base import BaseMeter, ComponentInfo

__all__ = ["ConstantPower"]

UNCERTAINTY_CONSTANT = 0.25


class ConstantPower(BaseMeter):
    """Cumulative joules of a constant, user-stated power.

    Args:
        power_w: watts drawn all the time (``settings.constant_power_w``).
        label: component suffix (``settings.constant_power_label``): ``constant:<label>``.
        uncertainty_rel: relative band of the stated figure.
        clock: monotonic clock in seconds (tests).
    """

    name = "constant"

    def __init__(
        self,
        power_w: float,
        label: str = "other",
        *,
        uncertainty_rel: float = UNCERTAINTY_CONSTANT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not power_w >= 0 or power_w == float("inf"):
            raise ValueError(f"power_w must be a finite number >= 0, got {power_w!r}")
        if not 0.0 <= uncertainty_rel <= 1.0:
            raise ValueError(f"uncertainty_rel must be in [0, 1], got {uncertainty_rel!r}")
        if not label or ":" in label:
            raise ValueError(f"label must be non-empty and without ':', got {label!r}")
        self.power_w = power_w
        self._clock = clock
        self._origin = clock()
        self._infos = (
            ComponentInfo(
                f"constant:{label}", "constant", uncertainty_rel, {"power_w": power_w, "source": "stated"}
            ),
        )

    def components(self) -> Sequence[ComponentInfo]:
        return self._infos

    def read(self) -> Sequence[float]:
        return (self.power_w * (self._clock() - self._origin),)
