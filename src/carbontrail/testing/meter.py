"""Fakes of the hardware interfaces the meters read: a powercap sysfs tree and the ``pynvml`` module.

:func:`make_rapl_tree` writes the files Linux exposes under ``/sys/class/powercap`` into a folder,
so :class:`~carbontrail.meter.rapl.RaplMeter` runs its real discovery and ``pread`` code on it;
:func:`set_energy_uj` advances a counter. :class:`FakeNvml` is a module object with the
``pynvml`` functions :class:`~carbontrail.meter.nvml.NvmlMeter` calls, backed by in-memory GPUs.
"""

from __future__ import annotations

import threading
import types
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["FakeGpu", "FakeNvml", "make_rapl_tree", "set_energy_uj"]


def make_rapl_tree(
    root: str | Path,
    *,
    packages: int = 1,
    dram: bool = True,
    core: bool = True,
    mmio: bool = True,
    energy_uj: int = 1_000_000,
    max_energy_range_uj: int = 262_143_328_850,
) -> Path:
    """Write a powercap tree: ``intel-rapl:N`` (package-N) with ``:0`` core and ``:1`` dram sub-domains.

    Sub-domains appear both at the top level (as the kernel's symlinks do) and nested.
    ``intel-rapl-mmio:0`` duplicates package 0, as on recent Intel machines.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)

    def domain(path: Path, name: str) -> None:
        path.mkdir(parents=True, exist_ok=True)
        (path / "name").write_text(name + "\n")
        (path / "energy_uj").write_text(f"{energy_uj}\n")
        (path / "max_energy_range_uj").write_text(f"{max_energy_range_uj}\n")

    for n in range(packages):
        pkg = root / f"intel-rapl:{n}"
        domain(pkg, f"package-{n}")
        subs = []
        if core:
            subs.append((f"intel-rapl:{n}:0", "core"))
        if dram:
            subs.append((f"intel-rapl:{n}:{len(subs)}", "dram"))
        for entry, name in subs:
            domain(root / entry, name)
            domain(pkg / entry, name)
    if mmio:
        domain(root / "intel-rapl-mmio:0", "package-0")
    return root


def set_energy_uj(root: str | Path, entry: str, value: int) -> None:
    """Set the raw counter of domain ``entry`` (e.g. ``"intel-rapl:0"``), in place (same inode)."""
    path = Path(root) / entry / "energy_uj"
    with open(path, "r+") as fh:
        fh.seek(0)
        fh.write(f"{value}\n")
        fh.truncate()


class _NVMLError(Exception):
    def __init__(self, value: int) -> None:
        super().__init__(value)
        self.value = value

    def __str__(self) -> str:
        return {3: "Not Supported", 9: "Driver Not Loaded", 12: "NVML Shared Library Not Found"}.get(
            self.value, f"NVML error {self.value}"
        )


@dataclass
class FakeGpu:
    """One fake GPU: ``energy_mj`` is its total-energy counter; ``supported=False`` mimics pre-Volta."""

    uuid: str
    name: str = "NVIDIA H100 80GB HBM3"
    energy_mj: int = 0
    supported: bool = True
    calls: int = field(default=0, repr=False)


class FakeNvml(types.ModuleType):
    """A stand-in for the ``pynvml`` module (only the calls carbontrail makes).

    Args:
        gpus: the GPUs, in NVML index order.
        init_error: an NVML error code ``nvmlInit`` raises (9 driver not loaded, 12 library not found).
    """

    NVML_ERROR_NOT_SUPPORTED = 3
    NVML_ERROR_DRIVER_NOT_LOADED = 9
    NVML_ERROR_LIBRARY_NOT_FOUND = 12
    NVMLError = _NVMLError

    def __init__(self, gpus: list[FakeGpu] | None = None, *, init_error: int | None = None) -> None:
        super().__init__("pynvml")
        self.gpus = list(gpus or [])
        self.init_error = init_error
        self.initialised = 0
        self.shutdowns = 0
        self._lock = threading.Lock()

    def nvmlInit(self) -> None:
        if self.init_error is not None:
            raise _NVMLError(self.init_error)
        self.initialised += 1

    def nvmlShutdown(self) -> None:
        self.shutdowns += 1

    def _check(self) -> None:
        if self.initialised <= self.shutdowns:
            raise _NVMLError(1)  # uninitialised

    def nvmlDeviceGetCount(self) -> int:
        self._check()
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> FakeGpu:
        self._check()
        if not 0 <= index < len(self.gpus):
            raise _NVMLError(2)  # invalid argument
        return self.gpus[index]

    def nvmlDeviceGetUUID(self, handle: FakeGpu) -> str:
        return handle.uuid

    def nvmlDeviceGetName(self, handle: FakeGpu) -> bytes:
        return handle.name.encode()

    def nvmlDeviceGetTotalEnergyConsumption(self, handle: FakeGpu) -> int:
        self._check()
        if not handle.supported:
            raise _NVMLError(3)
        with self._lock:
            handle.calls += 1
            return handle.energy_mj
