"""Meters and spans: the energy of pipeline work, with the method behind every figure.

Meters are cumulative energy counters (RAPL, NVML) first, models (CPU time, RAM, stated power)
last. Spans (:func:`track`) are windows over them. Meter classes load lazily on first use, so
``import carbontrail.meter`` stays cheap::

    from carbontrail.meter import default_meters

    meters = default_meters()          # counters this machine offers, models where it has none
    start = meters.read()              # cumulative joules per component (microseconds)
    ...
    for c in meters.energy(start, meters.read()):
        print(c.component, c.energy_j, c.method, c.uncertainty_rel)

See :mod:`carbontrail.meter.base` for the port every meter implements.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from carbontrail.meter.base import BaseMeter, ComponentInfo, MeterSet
from carbontrail.meter.track import Span, Tracker, get_tracker, track

if TYPE_CHECKING:
    from carbontrail.meter.constant import ConstantPower
    from carbontrail.meter.cpu import CpuPower, CpuTimeModel, cpu_power
    from carbontrail.meter.machine import MachineFacts, default_meters, detect
    from carbontrail.meter.nvml import NvmlMeter
    from carbontrail.meter.ram import RamModel
    from carbontrail.meter.rapl import RaplMeter

__all__ = [
    "BaseMeter",
    "ComponentInfo",
    "ConstantPower",
    "CpuPower",
    "CpuTimeModel",
    "MachineFacts",
    "MeterSet",
    "NvmlMeter",
    "RamModel",
    "RaplMeter",
    "Span",
    "Tracker",
    "cpu_power",
    "default_meters",
    "detect",
    "get_tracker",
    "track",
]

_WHERE = {
    "ConstantPower": "constant",
    "CpuPower": "cpu",
    "CpuTimeModel": "cpu",
    "cpu_power": "cpu",
    "MachineFacts": "machine",
    "default_meters": "machine",
    "detect": "machine",
    "NvmlMeter": "nvml",
    "RamModel": "ram",
    "RaplMeter": "rapl",
}


def __getattr__(name: str) -> Any:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module 'carbontrail.meter' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"carbontrail.meter.{where}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
