"""NVIDIA GPU energy counters through NVML (``nvidia-ml-py``, ``import pynvml``).

One component ``gpu:<nvml index>`` per GPU visible to this process, read from
``nvmlDeviceGetTotalEnergyConsumption`` (millijoules since the driver was loaded; Volta and newer).

Which GPUs: those named by ``CUDA_VISIBLE_DEVICES`` (unset = all GPUs). Entries may be indices,
``GPU-<uuid>`` (or a unique UUID prefix, as CUDA accepts), or ``MIG-<uuid>``; as in CUDA, an entry
that names no GPU ends the list. Indices are NVML indices (PCI bus order), which are CUDA's
ordinals when ``CUDA_DEVICE_ORDER=PCI_BUS_ID`` or all GPUs are alike; use UUIDs to be exact.
A MIG instance is reported ``unavailable``: NVML's energy counter covers the whole GPU, and
billing it to one instance would bill the other tenants' work.

When NVML cannot start (no NVIDIA driver, library not found) every requested GPU — or one ``gpu``
component when none was named — is ``unavailable`` with NVML's reason; :func:`default_meters
<carbontrail.meter.machine.default_meters>` leaves GPU components out entirely when there is no
NVIDIA driver and ``CUDA_VISIBLE_DEVICES`` names no GPU (a machine without GPUs, not a missing sensor).

Band ±5 %: NVIDIA specifies board power readings to ±5 % on recent data-centre GPUs, and the energy
counter integrates the same sensor.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from carbontrail.errors import MeterError
from carbontrail.meter.base import BaseMeter, ComponentInfo

logger = logging.getLogger(__name__)

__all__ = ["NvmlMeter", "parse_visible_devices"]

UNCERTAINTY_NVML = 0.05
NVML_ERROR_NOT_SUPPORTED = 3


def parse_visible_devices(value: str | None) -> list[str] | None:
    """Entries of ``CUDA_VISIBLE_DEVICES`` (None when unset = all GPUs; [] when empty = none)."""
    if value is None:
        return None
    return [e.strip() for e in value.split(",") if e.strip()]


@dataclass(frozen=True, slots=True)
class _Gpu:
    component: str
    handle: Any
    detail: dict[str, Any]


def _nvml_error(nvml: ModuleType) -> type[BaseException]:
    err = getattr(nvml, "NVMLError", None)
    return err if isinstance(err, type) and issubclass(err, BaseException) else OSError


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class NvmlMeter(BaseMeter):
    """Cumulative joules of each visible NVIDIA GPU (see the module docstring).

    Args:
        visible_devices: ``CUDA_VISIBLE_DEVICES``-style string; default: the environment variable.
        nvml: the ``pynvml`` module to use (a fake in tests); default: ``import pynvml``.

    Attributes:
        available: True when at least one GPU counter is readable.
        reason: why NVML or some GPUs are unavailable (None when all read fine).
    """

    name = "nvml"

    def __init__(self, *, visible_devices: str | None = None, nvml: ModuleType | None = None) -> None:
        if visible_devices is None:
            visible_devices = os.environ.get("CUDA_VISIBLE_DEVICES")
        wanted = parse_visible_devices(visible_devices)
        self._lock = threading.Lock()
        self._nvml: ModuleType | None = None
        self._gpus: list[_Gpu] = []
        infos: list[ComponentInfo] = []
        reasons: list[str] = []
        self.driver_loaded = False
        if nvml is None:
            try:
                import pynvml as nvml_mod
            except ImportError:
                nvml_mod = None
            nvml = nvml_mod
        if nvml is None:
            self._fail(wanted, "nvidia-ml-py is not installed (pip install nvidia-ml-py)", infos, reasons)
        else:
            err = _nvml_error(nvml)
            try:
                nvml.nvmlInit()
            except err as exc:
                self._fail(wanted, f"NVML did not start: {exc}", infos, reasons)
            else:
                self._nvml = nvml
                self.driver_loaded = True
                try:
                    self._select(nvml, wanted, infos, reasons)
                except err as exc:
                    self._gpus.clear()
                    infos.clear()
                    self._fail(wanted, f"NVML error listing GPUs: {exc}", infos, reasons)
        if not infos:
            reason = (
                "CUDA_VISIBLE_DEVICES is empty: no GPU visible" if wanted == [] else "NVML reports no GPU"
            )
            reasons.append(reason)
            infos.append(ComponentInfo("gpu", "unavailable", 0.0, {"reason": reason}))
        self._infos = tuple(infos)
        self._index = [i for i, info in enumerate(infos) if info.method == "nvml"]
        self.available = bool(self._gpus)
        self.reason = "; ".join(dict.fromkeys(reasons)) or None
        self._origin = [0] * len(self._gpus)
        self._last = [0] * len(self._gpus)
        self._acc = [0] * len(self._gpus)
        for k, g in enumerate(self._gpus):
            raw = self._energy_mj(g)
            self._origin[k] = self._last[k] = raw
        self._closed = False
        self._last_out = tuple(0.0 for _ in infos)

    @staticmethod
    def _fail(wanted: list[str] | None, reason: str, infos: list[ComponentInfo], reasons: list[str]) -> None:
        reasons.append(reason)
        for entry in wanted or ["gpu"]:
            name = "gpu" if entry == "gpu" else f"gpu:{entry}"
            infos.append(ComponentInfo(name, "unavailable", 0.0, {"reason": reason}))

    def _select(
        self, nvml: ModuleType, wanted: list[str] | None, infos: list[ComponentInfo], reasons: list[str]
    ) -> None:
        err = _nvml_error(nvml)
        count = int(nvml.nvmlDeviceGetCount())
        handles = [nvml.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
        uuids = [_text(nvml.nvmlDeviceGetUUID(h)) for h in handles]
        chosen: list[tuple[int, str]] = []
        if wanted is None:
            chosen = [(i, str(i)) for i in range(count)]
        else:
            for entry in wanted:
                if entry.isdigit():
                    idx = int(entry)
                    if idx >= count:
                        break
                    chosen.append((idx, entry))
                    continue
                if entry.startswith("MIG-"):
                    reason = f"{entry}: MIG instance; NVML's energy counter covers the whole GPU"
                    reasons.append(reason)
                    infos.append(ComponentInfo(f"gpu:{entry}", "unavailable", 0.0, {"reason": reason}))
                    continue
                hits = [i for i, u in enumerate(uuids) if u.startswith(entry)]
                if len(hits) != 1:
                    break  # CUDA stops at the first entry that names no single GPU
                chosen.append((hits[0], entry))
        seen: set[int] = set()
        for idx, entry in chosen:
            if idx in seen:
                continue
            seen.add(idx)
            h = handles[idx]
            detail: dict[str, Any] = {
                "nvml_index": idx,
                "uuid": uuids[idx],
                "name": _text(nvml.nvmlDeviceGetName(h)),
                "visible_as": entry,
            }
            gpu = _Gpu(f"gpu:{idx}", h, detail)
            try:
                nvml.nvmlDeviceGetTotalEnergyConsumption(h)
            except err as exc:
                if getattr(exc, "value", None) == NVML_ERROR_NOT_SUPPORTED:
                    reason = f"GPU {idx} ({detail['name']}): no total-energy counter (needs Volta or newer)"
                else:
                    reason = f"GPU {idx}: energy counter not readable: {exc}"
                reasons.append(reason)
                infos.append(ComponentInfo(gpu.component, "unavailable", 0.0, {**detail, "reason": reason}))
                continue
            self._gpus.append(gpu)
            infos.append(ComponentInfo(gpu.component, "nvml", UNCERTAINTY_NVML, detail))

    def _energy_mj(self, gpu: _Gpu) -> int:
        nvml = self._nvml
        assert nvml is not None
        try:
            return int(nvml.nvmlDeviceGetTotalEnergyConsumption(gpu.handle))
        except _nvml_error(nvml) as exc:
            raise MeterError(f"{gpu.component}: NVML energy read failed: {exc}") from exc

    def components(self) -> Sequence[ComponentInfo]:
        return self._infos

    def read(self) -> Sequence[float]:
        """Cumulative joules per component; raises :class:`MeterError` if NVML stops answering."""
        with self._lock:
            if self._closed or not self._gpus:
                return self._last_out
            out = [0.0] * len(self._infos)
            for k, g in enumerate(self._gpus):
                raw = self._energy_mj(g)
                delta = raw - self._last[k]
                if delta < 0:  # driver reloaded: the counter restarted from zero
                    delta = raw
                self._last[k] = raw
                self._acc[k] += delta
                out[self._index[k]] = self._acc[k] * 1e-3
            self._last_out = tuple(out)
            return self._last_out

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            nvml, self._nvml = self._nvml, None
        if nvml is not None:
            try:
                nvml.nvmlShutdown()
            except _nvml_error(nvml) as exc:  # pragma: no cover - depends on the driver
                logger.debug("nvmlShutdown failed: %s", exc)
