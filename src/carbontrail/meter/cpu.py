"""CPU-time power model: busy CPU-seconds x power of one hardware thread.

Where no counter is readable, CPU energy is modelled as ``per_thread_w x cpu_s``:

* ``cpu_s`` is, in **process** attribution (the default), the CPU time of the tracked process
  (all threads, :func:`time.process_time`) plus its waited-for children (:func:`os.times`), or of
  the process ``pid`` given; a sleeping process accrues no CPU time, so it is never billed for
  another process's load. In **machine** attribution it is the busy CPU time of the whole machine
  (``/proc/stat``), which does bill every tenant's work to the window.
* ``per_thread_w`` comes, first that applies, from

  1. watts the user states (``settings.cpu_power_w``: the power of the CPUs this process sees at
     full load) divided by the logical CPUs it sees — band ±20 % (a stated figure is still run
     through a linear model);
  2. the rated TDP of the matched CPU model (:mod:`carbontrail.meter.cputdp`) divided by the
     hardware threads of one package (``siblings``) — band ±40 % (TDP is a thermal design figure;
     real package power at full load lies roughly 0.6-1.2x TDP, and idle power is not modelled);
  3. :data:`DEFAULT_PER_THREAD_W` = 3.5 W per thread — band ±60 %. Rated TDP per thread of current
     server and desktop parts lies around 2-5 W (EPYC 7763: 280 W / 128 = 2.2 W; Xeon 8375C:
     300 W / 64 = 4.7 W; Core i7-8700: 65 W / 12 = 5.4 W), and 3.5 W matches the per-vCPU maximum
     the Cloud Carbon Footprint methodology uses for AWS.

  In a virtual machine (``hypervisor`` CPU flag) the guest's ``siblings`` is the guest's vCPU
  topology, not the host package's, so TDP / siblings would overbill by the host's thread count:
  the default per-thread power is used there, with the matched TDP kept in ``detail``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from carbontrail.meter._proc import CpuInfo, MachineCpu, ProcStatCpu, cpu_info, process_cpu_s
from carbontrail.meter.base import BaseMeter, ComponentInfo

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_PER_THREAD_W",
    "CpuPower",
    "CpuTimeModel",
    "cpu_power",
]

DEFAULT_PER_THREAD_W = 3.5
UNCERTAINTY_STATED = 0.2
UNCERTAINTY_TDP = 0.4
UNCERTAINTY_DEFAULT = 0.6


@dataclass(frozen=True, slots=True)
class CpuPower:
    """Power of one busy hardware thread, and where the figure comes from.

    Attributes:
        per_thread_w: watts per busy CPU (hardware thread); joules = this x CPU-seconds.
        source: ``stated``, ``tdp-table`` or ``default``.
        uncertainty_rel: relative half-width of the band (see the module docstring).
        detail: inputs (cpu_model, tdp_w, matched name, threads, reasons).
    """

    per_thread_w: float
    source: str
    uncertainty_rel: float
    detail: dict[str, Any] = field(default_factory=dict)


def cpu_power(
    *,
    power_w: float | None = None,
    cpu_model: str | None = None,
    info: CpuInfo | None = None,
    cache_dir: str | Path | None = None,
) -> CpuPower:
    """Resolve the per-thread CPU power: stated watts, else TDP table, else the default.

    Args:
        power_w: stated power (W) of the CPUs this process sees, at full load.
        cpu_model: model name overriding ``/proc/cpuinfo``.
        info: CPU facts (read from ``/proc/cpuinfo`` when None).
        cache_dir: folder of the TDP-match cache (default ``~/.cache/carbontrail``).
    """
    info = info or cpu_info()
    model = cpu_model or info.model
    if power_w is not None:
        if not power_w > 0:
            raise ValueError(f"cpu power_w must be > 0 W, got {power_w!r}")
        return CpuPower(
            power_w / info.logical_cpus,
            "stated",
            UNCERTAINTY_STATED,
            {"power_w": power_w, "logical_cpus": info.logical_cpus, "cpu_model": model},
        )
    detail: dict[str, Any] = {"cpu_model": model}
    if model:
        from carbontrail.meter.cputdp import cached_match

        m = cached_match(model, cache_dir)
        detail.update({"tdp_match": m.how, "tdp_name": m.name, "tdp_w": m.tdp_w})
        if m.note:
            detail["tdp_note"] = m.note
        if m.tdp_w is not None and not info.hypervisor:
            threads = info.threads_per_package
            detail["threads_per_package"] = threads
            return CpuPower(m.tdp_w / threads, "tdp-table", UNCERTAINTY_TDP, detail)
        if m.tdp_w is not None:
            detail["reason"] = (
                "virtual machine: the host package's thread count is unknown, so its TDP cannot be "
                "split per vCPU; default per-thread power used (state cpu_power_w to override)"
            )
        else:
            detail["reason"] = (
                "no TDP table match for this CPU model (see tdp_note); default per-thread power used"
            )
    else:
        detail["reason"] = "CPU model name unknown; default per-thread power used"
    detail["default_per_thread_w"] = DEFAULT_PER_THREAD_W
    return CpuPower(DEFAULT_PER_THREAD_W, "default", UNCERTAINTY_DEFAULT, detail)


class CpuTimeModel(BaseMeter):
    """Cumulative CPU energy modelled as per-thread power x CPU-seconds (component ``cpu``).

    Args:
        power: per-thread power; resolved with :func:`cpu_power` when None.
        attribution: ``process`` (this process and its waited-for children, or ``pid``) or
            ``machine`` (busy CPU time of the whole machine).
        pid: in process attribution, meter another process (``/proc/<pid>/stat``: its CPU time
            and that of its waited-for children) instead of this one.
        cpu_clock: a callable returning cumulative CPU-seconds, overriding the above (tests).
        component: component name.
        extra_detail: merged into the component detail (e.g. why RAPL was not used).
    """

    name = "cpu-time-model"

    def __init__(
        self,
        power: CpuPower | None = None,
        *,
        attribution: Literal["process", "machine"] = "process",
        pid: int | None = None,
        cpu_clock: Callable[[], float] | None = None,
        component: str = "cpu",
        extra_detail: dict[str, Any] | None = None,
    ) -> None:
        if attribution not in ("process", "machine"):
            raise ValueError(f"attribution must be 'process' or 'machine', got {attribution!r}")
        self.power = power or cpu_power()
        self.attribution = attribution
        self._closers: list[Callable[[], None]] = []
        if cpu_clock is not None:
            clock = cpu_clock
            basis = "given clock"
        elif attribution == "machine":
            mc = MachineCpu()
            self._closers.append(mc.close)
            clock = mc.busy_s
            basis = "busy CPU time of the machine (/proc/stat)"
        elif pid is not None:
            pc = ProcStatCpu(pid)
            self._closers.append(pc.close)
            clock = pc.cpu_s
            basis = f"CPU time of process {pid} and its waited-for children"
        else:
            clock = process_cpu_s
            basis = "CPU time of this process and its waited-for children"
        self._clock = clock
        self._w = self.power.per_thread_w
        self._origin = clock()
        detail = {
            **self.power.detail,
            "per_thread_w": round(self.power.per_thread_w, 4),
            "power_source": self.power.source,
            "attribution": attribution,
            "cpu_time": basis,
            **(extra_detail or {}),
        }
        self._infos = (ComponentInfo(component, "cpu-time-model", self.power.uncertainty_rel, detail),)
        self._lock = threading.Lock()
        self._last = 0.0

    def components(self) -> Sequence[ComponentInfo]:
        return self._infos

    def read(self) -> Sequence[float]:
        v = (self._clock() - self._origin) * self._w
        # clocks are monotonic; the max() guards the sum of two clocks read non-atomically
        with self._lock:
            if v < self._last:
                v = self._last
            self._last = v
        return (v,)

    def close(self) -> None:
        closers, self._closers = self._closers, []
        for c in closers:
            c()
