"""RAM power model: watts per GiB of resident memory, integrated over time (component ``ram``).

``power_w = w_per_gb x resident_gib``, with 0.375 W per GiB by default (3 W per 8 GiB DIMM, the
figure CodeCarbon and others use). Memory is sampled only when the meter is read — at span edges —
and held piecewise constant: the interval between two reads is billed with the resident size seen
at the *earlier* read. A window's figure therefore depends on the memory seen at its edges and at
any other read in between (a short-lived peak between reads is missed).

Resident memory is that of this process (``/proc/self/statm``, or ``pid``) in **process**
attribution — children's memory is not included — and ``MemTotal - MemAvailable`` of the machine
in **machine** attribution. Band ±50 %: DRAM power depends on traffic and DIMM type far more than
on occupancy, so this is an order-of-magnitude model.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Literal

from carbontrail.meter._proc import RssReader, machine_used_memory_bytes
from carbontrail.meter.base import BaseMeter, ComponentInfo

__all__ = ["DEFAULT_RAM_W_PER_GB", "RamModel"]

DEFAULT_RAM_W_PER_GB = 0.375
UNCERTAINTY_RAM = 0.5
BYTES_PER_GIB = 1024**3


class RamModel(BaseMeter):
    """Cumulative joules of a RAM power model (see the module docstring).

    Args:
        w_per_gb: watts per GiB resident (``settings.ram_power_w_per_gb``).
        attribution: ``process`` (resident memory of this process or ``pid``) or ``machine``.
        pid: meter another process's resident memory.
        memory_bytes: a callable returning resident bytes, overriding the above (tests).
        clock: monotonic clock in seconds (tests).
        resample_s: reads closer together than this reuse the last memory sample (saves the
            ``/proc`` read when spans open and close thousands of times a second; the error is
            at most resident size x this interval).
    """

    name = "ram-model"

    def __init__(
        self,
        w_per_gb: float = DEFAULT_RAM_W_PER_GB,
        *,
        attribution: Literal["process", "machine"] = "process",
        pid: int | None = None,
        memory_bytes: Callable[[], int] | None = None,
        clock: Callable[[], float] = time.monotonic,
        resample_s: float = 0.01,
    ) -> None:
        if not w_per_gb >= 0:
            raise ValueError(f"w_per_gb must be >= 0, got {w_per_gb!r}")
        if attribution not in ("process", "machine"):
            raise ValueError(f"attribution must be 'process' or 'machine', got {attribution!r}")
        self._reader: RssReader | None = None
        if memory_bytes is not None:
            mem = memory_bytes
            basis = "given"
        elif attribution == "machine":
            mem = machine_used_memory_bytes
            basis = "MemTotal - MemAvailable of the machine"
        else:
            self._reader = RssReader(pid)
            mem = self._reader.rss_bytes
            basis = "resident set of " + ("this process" if pid is None else f"process {pid}")
        self._mem = mem
        self._clock = clock
        self._w_per_byte = w_per_gb / BYTES_PER_GIB
        self._lock = threading.Lock()
        self._t = clock()
        self._bytes = mem()
        self._sampled_at = self._t
        self._resample_s = resample_s
        self._total = 0.0
        self._infos = (
            ComponentInfo(
                "ram",
                "ram-model",
                UNCERTAINTY_RAM,
                {"w_per_gb": w_per_gb, "gb": "GiB (2^30 bytes)", "attribution": attribution, "memory": basis},
            ),
        )

    def components(self) -> Sequence[ComponentInfo]:
        return self._infos

    def read(self) -> Sequence[float]:
        with self._lock:
            now = self._clock()
            dt = now - self._t
            if dt > 0:
                self._total += self._bytes * self._w_per_byte * dt
                self._t = now
            if now - self._sampled_at >= self._resample_s:
                self._bytes = self._mem()
                self._sampled_at = now
            return (self._total,)

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
