"""RAPL energy counters through Linux powercap (``/sys/class/powercap/intel-rapl:*``).

Domains found: ``intel-rapl:N`` whose ``name`` starts with ``package`` (component
``cpu:package-N``) and their ``intel-rapl:N:M`` sub-domain named ``dram`` (component
``dram:package-N``). Core/uncore sub-domains are inside the package figure and are skipped, as is
``intel-rapl-mmio`` (the same package seen through MMIO: reading both would double count). AMD
Zen CPUs expose the same ``intel-rapl`` tree on recent kernels.

* **Reads at window edges only.** ``energy_uj`` files are opened once and re-read with
  :func:`os.pread`; nothing samples in the background.
* **Wrap-around.** Counters wrap at ``max_energy_range_uj`` (tens to hundreds of kJ: minutes at
  high power). The last raw value of each domain is kept under a lock; a decrease adds the range.
  Two wraps between reads cannot be seen, so a long window must be read at least once per wrap
  period (``max_energy_range_uj / package power``: about 20 min for 262 kJ at 200 W) — e.g. at the
  span time-bucket boundaries.
* **Permission denied.** Since Linux 5.10 (CVE-2020-8694, the PLATYPUS power side channel)
  ``energy_uj`` is readable by root only. The meter then lists its components as ``unavailable``
  with the reason and how to grant access, logs one warning, and :func:`default_meters
  <carbontrail.meter.machine.default_meters>` falls back to the model meters.
* **Attribution.** ``machine`` bills the counters as read. ``process`` (the default) bills, for
  each interval between two reads, the package energy times the tracked process's share of the
  machine's busy CPU time in that interval, accumulated into a cumulative counter: a sleeping
  tracked process is not billed for another tenant's load, and nested windows still add up
  because every window is a union of the same intervals. An interval in which the machine shows no
  busy CPU tick yet (``/proc/stat`` counts in 10 ms ticks) is merged into the next one.

Uncertainty bands: package ±5 % (RAPL package energy tracks wall-plug measurements of the
package within a few percent on Intel since Haswell and on AMD Zen), DRAM ±10 % (modelled rather
than measured on some platforms); in process attribution +10 % for the CPU-time share (it assumes
every busy CPU-second costs the same).
"""

from __future__ import annotations

import errno
import logging
import os
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from carbontrail.errors import MeterError
from carbontrail.meter.base import BaseMeter, ComponentInfo

logger = logging.getLogger(__name__)

__all__ = ["RaplDomain", "RaplMeter", "discover_rapl"]

UNCERTAINTY_PACKAGE = 0.05
UNCERTAINTY_DRAM = 0.10
UNCERTAINTY_SHARE = 0.10
PERMISSION_HINT = (
    "energy_uj is readable by root only since Linux 5.10 (CVE-2020-8694); run as root or grant read "
    "access, e.g. `sudo chmod o+r /sys/class/powercap/intel-rapl:*/energy_uj "
    "/sys/class/powercap/intel-rapl:*:*/energy_uj` (or a udev rule)"
)

_DOMAIN = re.compile(r"^intel-rapl:(\d+)(?::(\d+))?$")


@dataclass(frozen=True, slots=True)
class RaplDomain:
    """One powercap domain carbontrail reads.

    Attributes:
        component: ``cpu:package-N`` or ``dram:package-N``.
        kind: ``package`` or ``dram``.
        path: the domain folder.
        max_energy_range_uj: counter range in microjoules (0 when unreadable).
    """

    component: str
    kind: str
    path: str
    max_energy_range_uj: int


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def discover_rapl(root: str | Path = "/sys/class/powercap") -> list[RaplDomain]:
    """Package and DRAM domains under ``root`` (empty when there is no powercap tree)."""
    root = Path(root)
    try:
        entries = sorted(os.listdir(root))
    except OSError:
        return []
    packages: dict[str, str] = {}
    subs: list[tuple[str, str, str]] = []
    for entry in entries:
        m = _DOMAIN.match(entry)
        if not m:
            continue
        name = _read_text(root / entry / "name")
        if name is None:
            continue
        if m.group(2) is None:
            if name.startswith("package"):
                packages[m.group(1)] = name
        elif name == "dram":
            subs.append((m.group(1), entry, name))
    out: list[RaplDomain] = []

    def _range(entry: str) -> int:
        raw = _read_text(root / entry / "max_energy_range_uj")
        return int(raw) if raw and raw.isdigit() else 0

    for n, pkg in sorted(packages.items(), key=lambda kv: int(kv[0])):
        entry = f"intel-rapl:{n}"
        out.append(RaplDomain(f"cpu:{pkg}", "package", str(root / entry), _range(entry)))
        for pn, sub_entry, _ in subs:
            if pn == n:
                out.append(RaplDomain(f"dram:{pkg}", "dram", str(root / sub_entry), _range(sub_entry)))
    return out


def _default_opener(path: str) -> int:
    return os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))


def _default_cpu_clocks() -> Callable[[], tuple[float, float]]:
    from carbontrail.meter._proc import MachineCpu, process_cpu_s

    machine = MachineCpu()

    def clocks() -> tuple[float, float]:
        return process_cpu_s(), machine.busy_s()

    clocks.close = machine.close  # type: ignore[attr-defined]
    return clocks


class RaplMeter(BaseMeter):
    """Cumulative joules of the RAPL package and DRAM domains (see the module docstring).

    Args:
        root: the powercap folder (a fake tree in tests).
        attribution: ``process`` (share of busy CPU time, default) or ``machine`` (raw counters).
        opener: ``opener(path) -> fd`` used to open ``energy_uj`` (default :func:`os.open`).
        cpu_clocks: ``() -> (process_cpu_s, machine_busy_cpu_s)`` for process attribution
            (default: this process and its waited-for children vs ``/proc/stat``); a ``close``
            attribute on it is called when the meter closes.
        strict: raise :class:`MeterError` instead of reporting ``unavailable`` components.

    Attributes:
        available: True when at least one domain is readable.
        reason: why some or all domains are unavailable (None when all read fine).
    """

    name = "rapl"

    def __init__(
        self,
        root: str | Path = "/sys/class/powercap",
        *,
        attribution: Literal["process", "machine"] = "process",
        opener: Callable[[str], int] | None = None,
        cpu_clocks: Callable[[], tuple[float, float]] | None = None,
        strict: bool = False,
    ) -> None:
        if attribution not in ("process", "machine"):
            raise ValueError(f"attribution must be 'process' or 'machine', got {attribution!r}")
        self.root = str(root)
        self.attribution = attribution
        opener = opener or _default_opener
        self._lock = threading.Lock()
        self._fds: list[int] = []
        self._paths: list[str] = []
        self._ranges: list[int] = []
        self._last_raw: list[int] = []
        self._index: list[int] = []  # position in components() of each readable domain
        infos: list[ComponentInfo] = []
        reasons: list[str] = []
        domains = discover_rapl(root)
        if not domains:
            reason = f"no RAPL package domain under {root} (no powercap driver, not an x86 CPU, or a VM)"
            reasons.append(reason)
            infos.append(ComponentInfo("cpu:rapl", "unavailable", 0.0, {"reason": reason}))
        for d in domains:
            path = os.path.join(d.path, "energy_uj")
            try:
                fd = opener(path)
            except OSError as exc:
                reason = self._why(path, exc)
                reasons.append(reason)
                infos.append(
                    ComponentInfo(d.component, "unavailable", 0.0, {"reason": reason, "domain": d.path})
                )
                continue
            try:
                raw = self._pread(fd, path)
            except MeterError as exc:
                os.close(fd)
                reasons.append(str(exc))
                infos.append(
                    ComponentInfo(d.component, "unavailable", 0.0, {"reason": str(exc), "domain": d.path})
                )
                continue
            band = UNCERTAINTY_PACKAGE if d.kind == "package" else UNCERTAINTY_DRAM
            detail: dict[str, Any] = {
                "domain": d.path,
                "max_energy_range_uj": d.max_energy_range_uj,
                "attribution": attribution,
            }
            if attribution == "process":
                band += UNCERTAINTY_SHARE
                detail["share"] = (
                    "tracked process CPU time / machine busy CPU time, per interval between reads"
                )
            if not d.max_energy_range_uj:
                detail["warning"] = "max_energy_range_uj unreadable: a wrap-around cannot be corrected"
            self._index.append(len(infos))
            infos.append(ComponentInfo(d.component, "rapl", band, detail))
            self._fds.append(fd)
            self._paths.append(path)
            self._ranges.append(d.max_energy_range_uj)
            self._last_raw.append(raw)
        self._infos = tuple(infos)
        self.available = bool(self._fds)
        self.reason = "; ".join(dict.fromkeys(reasons)) or None
        if self.reason:
            if strict:
                self.close()
                raise MeterError(f"RAPL unavailable: {self.reason}")
            if domains:
                logger.warning("RAPL energy counters not readable: %s", self.reason)
        n = len(self._fds)
        self._acc_uj = [0] * n  # unwrapped machine energy since construction
        self._clocks = (cpu_clocks or _default_cpu_clocks()) if attribution == "process" and n > 0 else None
        if cpu_clocks is not None and self._clocks is None:
            getattr(cpu_clocks, "close", lambda: None)()
        self._snap_uj = [0] * n
        self._attr_j = [0.0] * n
        self._snap_cpu = self._clocks() if self._clocks is not None else (0.0, 0.0)
        self._zeros = [0.0] * len(self._infos)
        self._closed = False
        self._last_out: tuple[float, ...] = tuple(self._zeros)

    @staticmethod
    def _why(path: str, exc: OSError) -> str:
        if exc.errno in (errno.EACCES, errno.EPERM):
            return f"permission denied reading {path}: {PERMISSION_HINT}"
        return f"cannot open {path}: {exc.strerror or exc}"

    @staticmethod
    def _pread(fd: int, path: str) -> int:
        try:
            raw = os.pread(fd, 32, 0)
        except OSError as exc:
            if exc.errno in (errno.EACCES, errno.EPERM):
                raise MeterError(f"permission denied reading {path}: {PERMISSION_HINT}") from exc
            raise MeterError(f"cannot read {path}: {exc.strerror or exc}") from exc
        try:
            return int(raw)
        except ValueError as exc:
            raise MeterError(f"{path} does not hold an integer: {raw[:32]!r}") from exc

    def components(self) -> Sequence[ComponentInfo]:
        return self._infos

    def read(self) -> Sequence[float]:
        """Cumulative joules per component; raises :class:`MeterError` if a counter stops reading."""
        with self._lock:
            if self._closed:
                return self._last_out
            fds = self._fds
            acc = self._acc_uj
            for i, fd in enumerate(fds):
                raw = self._pread(fd, self._paths[i])
                delta = raw - self._last_raw[i]
                if delta < 0:  # wrapped
                    delta += self._ranges[i]
                    if delta < 0:  # range unknown or counter reset: skip the interval
                        delta = 0
                self._last_raw[i] = raw
                acc[i] += delta
            if self._clocks is None:
                values = [a * 1e-6 for a in acc]
            else:
                cpu, busy = self._clocks()
                d_busy = busy - self._snap_cpu[1]
                if d_busy > 0:
                    share = min(1.0, max(0.0, cpu - self._snap_cpu[0]) / d_busy)
                    for i in range(len(fds)):
                        self._attr_j[i] += (acc[i] - self._snap_uj[i]) * 1e-6 * share
                        self._snap_uj[i] = acc[i]
                    self._snap_cpu = (cpu, busy)
                values = self._attr_j
            if len(values) == len(self._infos):
                self._last_out = tuple(values)
            else:
                out = list(self._zeros)
                for k, v in zip(self._index, values, strict=True):
                    out[k] = v
                self._last_out = tuple(out)
            return self._last_out

    def close(self) -> None:
        with self._lock:
            self._closed = True
            fds, self._fds = self._fds, []
            clocks = getattr(self, "_clocks", None)
            self._clocks = None
        for fd in fds:
            try:
                os.close(fd)
            except OSError:
                pass
        if clocks is not None:
            closer = getattr(clocks, "close", None)
            if closer is not None:
                closer()
