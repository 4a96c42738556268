"""Cheap readers of CPU time and resident memory (Linux ``/proc`` through ``pread`` on open fds).

Each reader opens its file once and re-reads it with :func:`os.pread` at offset 0, which makes
the kernel regenerate the content: about 1 us for ``/proc/self/statm``, about 7 us for the first
line of ``/proc/stat`` on a small machine. Process CPU time uses :func:`time.process_time`
(nanosecond clock of this process, all threads) plus the waited-for children of :func:`os.times`.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field

__all__ = [
    "CLK_TCK",
    "PAGE_SIZE",
    "CpuInfo",
    "MachineCpu",
    "ProcStatCpu",
    "RssReader",
    "cpu_info",
    "machine_used_memory_bytes",
    "process_cpu_s",
]

CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def process_cpu_s() -> float:
    """CPU seconds of this process (all threads) plus its waited-for children."""
    t = os.times()
    return time.process_time() + t[2] + t[3]


class MachineCpu:
    """Busy CPU seconds of the whole machine, summed over CPUs, from the first line of ``/proc/stat``.

    Busy = user + nice + system + irq + softirq (guest time is inside user; idle, iowait and
    steal are not busy). In a container without lxcfs this is the host's figure.
    """

    def __init__(self, path: str = "/proc/stat") -> None:
        self.path = path
        self._fd: int | None = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))

    def busy_s(self) -> float:
        fd = self._fd
        if fd is None:
            raise OSError(f"{self.path} is closed")
        line = os.pread(fd, 512, 0).split(b"\n", 1)[0].split()
        # cpu user nice system idle iowait irq softirq steal guest guest_nice
        busy = int(line[1]) + int(line[2]) + int(line[3]) + int(line[6]) + int(line[7])
        return busy / CLK_TCK

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)


class ProcStatCpu:
    """CPU seconds of another process (utime + stime + waited children) from ``/proc/<pid>/stat``.

    After the process is gone the last value is kept (it never decreases).
    """

    def __init__(self, pid: int, proc: str = "/proc") -> None:
        self.pid = pid
        self._fd: int | None = os.open(f"{proc}/{pid}/stat", os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        self._last = 0.0
        self._lock = threading.Lock()

    def cpu_s(self) -> float:
        with self._lock:
            fd = self._fd
            if fd is None:
                return self._last
            try:
                raw = os.pread(fd, 1024, 0)
            except OSError:  # ESRCH once the process is reaped
                return self._last
            if not raw:
                return self._last
            fields = raw[raw.rindex(b")") + 2 :].split()
            # fields[0] is state (field 3); utime is field 14 -> index 11
            ticks = int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])
            self._last = max(self._last, ticks / CLK_TCK)
            return self._last

    def close(self) -> None:
        with self._lock:
            fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)


class RssReader:
    """Resident set size in bytes of this process (or ``pid``) from ``/proc/<pid>/statm``."""

    def __init__(self, pid: int | None = None, proc: str = "/proc") -> None:
        who = "self" if pid is None else str(pid)
        self._fd: int | None = os.open(f"{proc}/{who}/statm", os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        self._last = 0

    def rss_bytes(self) -> int:
        fd = self._fd
        if fd is None:
            return 0
        try:
            raw = os.pread(fd, 256, 0)
        except OSError:  # process gone
            return 0
        parts = raw.split()
        if len(parts) < 2:
            return 0
        return int(parts[1]) * PAGE_SIZE

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)


def machine_used_memory_bytes(path: str = "/proc/meminfo") -> int:
    """MemTotal - MemAvailable in bytes (memory in use on the machine)."""
    total = avail = 0
    with open(path, "rb") as fh:
        for line in fh:
            if line.startswith(b"MemTotal:"):
                total = int(line.split()[1]) * 1024
            elif line.startswith(b"MemAvailable:"):
                avail = int(line.split()[1]) * 1024
                break
    return max(0, total - avail)


@dataclass(frozen=True, slots=True)
class CpuInfo:
    """What ``/proc/cpuinfo`` says about the CPU.

    Attributes:
        model: model name of the first processor (``""`` when not found).
        logical_cpus: CPUs this process may run on (affinity), else ``os.cpu_count()``.
        machine_cpus: logical CPUs of the machine (``os.cpu_count()``).
        threads_per_package: ``siblings`` of the first processor (hardware threads in one package).
        packages: distinct ``physical id`` values.
        hypervisor: the ``hypervisor`` CPU flag is set (running in a virtual machine).
    """

    model: str
    logical_cpus: int
    machine_cpus: int
    threads_per_package: int
    packages: int
    hypervisor: bool
    flags: tuple[str, ...] = field(default=(), repr=False)


def cpu_info(path: str = "/proc/cpuinfo") -> CpuInfo:
    """Parse ``/proc/cpuinfo`` (first processor block for model/siblings, all for packages)."""
    model = ""
    siblings = 0
    phys: set[str] = set()
    flags: tuple[str, ...] = ()
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            text = fh.read()
    except OSError:
        text = ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        value = value.strip()
        if key in ("model name", "Model", "cpu model") and not model:
            model = value
        elif key == "siblings" and not siblings:
            siblings = int(value) if value.isdigit() else 0
        elif key == "physical id":
            phys.add(value)
        elif key in ("flags", "Features") and not flags:
            flags = tuple(value.split())
    machine = os.cpu_count() or 1
    try:
        logical = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        logical = machine
    return CpuInfo(
        model=model,
        logical_cpus=logical,
        machine_cpus=machine,
        threads_per_package=siblings or machine,
        packages=max(1, len(phys)),
        hypervisor="hypervisor" in flags,
        flags=flags,
    )
