"""The meter port: cumulative energy counters, read only at window edges.

A meter exposes one or more *components* (``cpu:package-0``, ``dram:package-0``, ``gpu:0``,
``cpu``, ``ram``, ``constant:other``...) and returns, on :meth:`BaseMeter.read`, the cumulative
joules of each since an arbitrary origin. Energy over a window is the difference of two reads,
so windows nest and overlap freely and no sampling thread is needed (as in Zeus).

Contract (checked by :class:`carbontrail.testing.MeterContract`):

* ``components()`` is fixed after construction; ``read()`` returns one float per component;
* values are finite and never decrease (counter wrap-around is handled inside the meter);
* ``read()`` is thread-safe and cheap (microseconds: it runs at every span edge);
* a component that cannot be read is still listed, with ``method="unavailable"``, and reads 0.0 —
  a missing sensor is never a silent zero in reports, because the method says so.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from carbontrail.provenance import ComponentEnergy

__all__ = ["BaseMeter", "ComponentInfo", "MeterSet"]


@dataclass(frozen=True, slots=True)
class ComponentInfo:
    """Static description of one metered component.

    Attributes:
        component: component name, unique within a :class:`MeterSet`.
        method: how its energy is obtained (see :data:`carbontrail.provenance.METHODS`).
        uncertainty_rel: relative half-width of its uncertainty band.
        detail: inputs of the method (TDP, model name, reason for ``unavailable``...).
    """

    component: str
    method: str
    uncertainty_rel: float
    detail: dict[str, Any] = field(default_factory=dict)


class BaseMeter(ABC):
    """A source of cumulative energy (joules) for one or more components. See the module docstring."""

    #: short name shown by ``carbontrail meters`` (``rapl``, ``nvml``, ``cpu-time-model``...)
    name: str = "meter"

    @abstractmethod
    def components(self) -> Sequence[ComponentInfo]:
        """The components this meter reports, in the order :meth:`read` returns them."""

    @abstractmethod
    def read(self) -> Sequence[float]:
        """Cumulative joules per component since an arbitrary origin (monotonic, finite)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release handles (file descriptors, NVML). Idempotent."""


class MeterSet:
    """Several meters read together; the unit a span snapshots at its edges.

    ``read()`` concatenates the meters' readings; :meth:`energy` turns two readings into
    :class:`ComponentEnergy` records with each component's method and uncertainty.
    """

    __slots__ = ("_infos", "_meters", "_reads")

    def __init__(self, meters: Sequence[BaseMeter]) -> None:
        self._meters = tuple(meters)
        infos: list[ComponentInfo] = []
        for m in self._meters:
            infos.extend(m.components())
        names = [i.component for i in infos]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate component names across meters: {names}")
        self._infos = tuple(infos)
        self._reads = tuple(m.read for m in self._meters)

    @property
    def meters(self) -> tuple[BaseMeter, ...]:
        return self._meters

    @property
    def infos(self) -> tuple[ComponentInfo, ...]:
        return self._infos

    def read(self) -> tuple[float, ...]:
        """Cumulative joules of every component, in :attr:`infos` order."""
        if len(self._reads) == 1:
            return tuple(self._reads[0]())
        out: list[float] = []
        for r in self._reads:
            out.extend(r())
        return tuple(out)

    def energy(self, start: Sequence[float], end: Sequence[float]) -> list[ComponentEnergy]:
        """Per-component energy between two readings of this set."""
        return [
            ComponentEnergy(
                component=info.component,
                energy_j=max(0.0, e - s),
                method=info.method,
                uncertainty_rel=info.uncertainty_rel,
                detail=info.detail,
            )
            for info, s, e in zip(self._infos, start, end, strict=True)
        ]

    def close(self) -> None:
        for m in self._meters:
            m.close()
