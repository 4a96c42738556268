"""What this machine offers for metering, and the default meter set built from it.

:func:`detect` gathers the facts ``carbontrail meters`` shows: RAPL (readable or not, and why),
NVML (GPUs, or why none), virtual machine or container (``systemd-detect-virt``, ``/.dockerenv``,
``/run/.containerenv``, ``/proc/1/cgroup``, DMI product/vendor names, the ``hypervisor`` CPU
flag), and the CPU model with its TDP match.

:func:`default_meters` picks counters first and models last:

* ``rapl`` when a package counter is readable — it then replaces the CPU-time model, and a readable
  DRAM counter replaces the RAM model;
* ``nvml`` when an NVIDIA driver is present or ``CUDA_VISIBLE_DEVICES`` names GPUs;
* ``cpu`` (:class:`~carbontrail.meter.cpu.CpuTimeModel`) and ``ram``
  (:class:`~carbontrail.meter.ram.RamModel`) otherwise, with the reason RAPL was not used in the
  ``cpu`` component's detail;
* ``constant`` when ``settings.constant_power_w > 0``.

``settings.meters`` restricts the choice to the names listed (``rapl``, ``nvml``, ``cpu``, ``ram``,
``constant``); a listed counter that cannot be read is then kept, as ``unavailable`` components,
so the request is visibly unmet. ``settings.attribution`` goes to every meter.
"""

from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Literal

from carbontrail.meter.base import BaseMeter, MeterSet

if TYPE_CHECKING:
    from carbontrail.config import Settings

logger = logging.getLogger(__name__)

__all__ = ["METER_NAMES", "MachineFacts", "default_meters", "detect", "detect_virtualization"]

METER_NAMES = ("rapl", "nvml", "cpu", "ram", "constant")
POWERCAP_ROOT = "/sys/class/powercap"
_VM_DMI = {
    "kvm": "kvm",
    "qemu": "qemu",
    "vmware": "vmware",
    "virtualbox": "oracle",
    "google compute engine": "google",
    "amazon ec2": "amazon",
    "hvm domu": "xen",
    "virtual machine": "microsoft",
    "openstack": "openstack",
    "bochs": "bochs",
}


@dataclass
class MachineFacts:
    """What :func:`detect` found. All fields are JSON-ready dicts."""

    cpu: dict[str, Any] = field(default_factory=dict)
    rapl: dict[str, Any] = field(default_factory=dict)
    nvml: dict[str, Any] = field(default_factory=dict)
    virtualization: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read()
    except OSError:
        return None


def _systemd_detect_virt(flag: str) -> str | None:
    import shutil
    import subprocess

    exe = shutil.which("systemd-detect-virt")
    if exe is None:
        return None
    try:
        res = subprocess.run([exe, flag], capture_output=True, text=True, timeout=2.0, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    value = res.stdout.strip()
    return value if value and value != "none" else None


def detect_virtualization(*, use_systemd: bool = True, hypervisor_flag: bool | None = None) -> dict[str, Any]:
    """Virtual machine and container evidence.

    Returns ``{"vm": name or None, "container": name or None, "evidence": [lines]}``.
    """
    evidence: list[str] = []
    vm: str | None = None
    container: str | None = None
    if use_systemd:
        vm = _systemd_detect_virt("--vm")
        if vm:
            evidence.append(f"systemd-detect-virt --vm: {vm}")
        container = _systemd_detect_virt("--container")
        if container:
            evidence.append(f"systemd-detect-virt --container: {container}")
    if hypervisor_flag is None:
        from carbontrail.meter._proc import cpu_info

        hypervisor_flag = cpu_info().hypervisor
    if hypervisor_flag:
        evidence.append("cpuinfo: hypervisor flag set")
        vm = vm or "unknown hypervisor"
    for dmi in ("/sys/class/dmi/id/product_name", "/sys/class/dmi/id/sys_vendor"):
        text = (_read(dmi) or "").strip()
        low = text.lower()
        for key, name in _VM_DMI.items():
            if key in low:
                evidence.append(f"{dmi}: {text}")
                if vm in (None, "unknown hypervisor"):
                    vm = name
                break
    if os.path.exists("/.dockerenv"):
        evidence.append("/.dockerenv exists")
        container = container or "docker"
    if os.path.exists("/run/.containerenv"):
        evidence.append("/run/.containerenv exists")
        container = container or "podman"
    cgroup = _read("/proc/1/cgroup") or ""
    for key in ("kubepods", "docker", "containerd", "lxc", "libpod"):
        if key in cgroup:
            evidence.append(f"/proc/1/cgroup mentions {key}")
            container = container or ("kubernetes" if key == "kubepods" else key)
            break
    return {"vm": vm, "container": container, "evidence": evidence}


def _nvidia_driver_present() -> bool:
    return os.path.exists("/proc/driver/nvidia/version") or os.path.exists("/dev/nvidiactl")


def detect(
    settings: Settings | None = None,
    *,
    powercap_root: str | Path = POWERCAP_ROOT,
    nvml: ModuleType | None = None,
    cache_dir: str | Path | None = None,
    use_systemd: bool = True,
) -> MachineFacts:
    """Gather the machine facts shown by ``carbontrail meters`` (takes milliseconds; not for hot paths)."""
    from carbontrail.meter._proc import cpu_info
    from carbontrail.meter.cpu import cpu_power
    from carbontrail.meter.nvml import NvmlMeter
    from carbontrail.meter.rapl import RaplMeter, discover_rapl

    info = cpu_info()
    power = cpu_power(
        power_w=settings.cpu_power_w if settings else None,
        cpu_model=settings.cpu_model if settings else None,
        info=info,
        cache_dir=cache_dir,
    )
    facts = MachineFacts()
    facts.cpu = {
        "model": (settings.cpu_model if settings and settings.cpu_model else info.model),
        "logical_cpus": info.logical_cpus,
        "machine_cpus": info.machine_cpus,
        "threads_per_package": info.threads_per_package,
        "packages": info.packages,
        "hypervisor_flag": info.hypervisor,
        "per_thread_w": round(power.per_thread_w, 4),
        "power_source": power.source,
        "uncertainty_rel": power.uncertainty_rel,
        "power_detail": power.detail,
    }
    domains = discover_rapl(powercap_root)
    rapl = RaplMeter(powercap_root, attribution="machine")
    try:
        facts.rapl = {
            "root": str(powercap_root),
            "domains": [d.component for d in domains],
            "readable": rapl.available,
            "reason": rapl.reason,
        }
    finally:
        rapl.close()
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if nvml is None and not _nvidia_driver_present() and not visible:
        facts.nvml = {
            "driver": False,
            "gpus": [],
            "readable": False,
            "reason": (
                "no NVIDIA driver (/proc/driver/nvidia/version and /dev/nvidiactl absent): no GPU components"
            ),
            "cuda_visible_devices": visible,
        }
    else:
        nm = NvmlMeter(nvml=nvml)
        try:
            facts.nvml = {
                "driver": nm.driver_loaded,
                "gpus": [{"component": c.component, "method": c.method, **c.detail} for c in nm.components()],
                "readable": nm.available,
                "reason": nm.reason,
                "cuda_visible_devices": visible,
            }
        finally:
            nm.close()
    facts.virtualization = detect_virtualization(use_systemd=use_systemd, hypervisor_flag=info.hypervisor)
    return facts


def default_meters(
    settings: Settings | None = None,
    *,
    pid: int | None = None,
    powercap_root: str | Path = POWERCAP_ROOT,
    nvml: ModuleType | None = None,
    cache_dir: str | Path | None = None,
) -> MeterSet:
    """The meter set for this machine and these settings (see the module docstring).

    Args:
        settings: carbontrail settings (``load_settings()`` when None).
        pid: meter another process (CPU time and resident memory of ``pid``) instead of this one,
            in process attribution. RAPL's process share then uses that process's CPU time.
        powercap_root, nvml, cache_dir: for tests (fake sysfs tree, fake ``pynvml``, cache folder).

    ``settings.disabled`` is not looked at here: the tracker turns metering off before asking.
    """
    if settings is None:
        from carbontrail.config import load_settings

        settings = load_settings()
    wanted = tuple(settings.meters)
    unknown = [m for m in wanted if m not in METER_NAMES]
    if unknown:
        from carbontrail.errors import ConfigError

        raise ConfigError(f"unknown meter name(s) {unknown} in settings.meters; known: {list(METER_NAMES)}")
    explicit = bool(wanted)
    chosen = set(wanted) if explicit else set(METER_NAMES)
    attribution: Literal["process", "machine"] = "machine" if settings.attribution == "machine" else "process"
    meters: list[BaseMeter] = []
    rapl_note: str | None = None
    have_package = have_dram = False

    if "rapl" in chosen:
        from carbontrail.meter.rapl import RaplMeter

        cpu_clocks = None
        if pid is not None and attribution == "process":
            from carbontrail.meter._proc import MachineCpu, ProcStatCpu

            pc, mc = ProcStatCpu(pid), MachineCpu()

            def cpu_clocks() -> tuple[float, float]:
                return pc.cpu_s(), mc.busy_s()

            def _close() -> None:
                pc.close()
                mc.close()

            cpu_clocks.close = _close  # type: ignore[attr-defined]

        rapl = RaplMeter(powercap_root, attribution=attribution, cpu_clocks=cpu_clocks)
        readable = {c.component.split(":", 1)[0] for c in rapl.components() if c.method == "rapl"}
        have_package, have_dram = "cpu" in readable, "dram" in readable
        if rapl.available or explicit:
            meters.append(rapl)
        else:
            rapl_note = rapl.reason
            rapl.close()
        if rapl.reason and rapl.available:
            rapl_note = rapl.reason

    if "cpu" in chosen and not (have_package and not explicit):
        if have_package:
            logger.warning("both rapl and cpu meters selected: CPU energy is counted twice")
        from carbontrail.meter.cpu import CpuTimeModel, cpu_power

        extra = {"rapl": f"not used: {rapl_note}"} if rapl_note and not have_package else None
        power = cpu_power(power_w=settings.cpu_power_w, cpu_model=settings.cpu_model, cache_dir=cache_dir)
        meters.append(CpuTimeModel(power, attribution=attribution, pid=pid, extra_detail=extra))

    if "ram" in chosen and not (have_dram and not explicit):
        if have_dram:
            logger.warning("both rapl (dram) and ram meters selected: memory energy is counted twice")
        from carbontrail.meter.ram import RamModel

        meters.append(RamModel(settings.ram_power_w_per_gb, attribution=attribution, pid=pid))

    if "nvml" in chosen:
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        if explicit or nvml is not None or _nvidia_driver_present() or visible:
            from carbontrail.meter.nvml import NvmlMeter

            nm = NvmlMeter(nvml=nvml)
            if nm.available or explicit or visible:
                meters.append(nm)
            else:
                logger.info("no GPU metered: %s", nm.reason)
                nm.close()

    if "constant" in chosen and (settings.constant_power_w > 0 or explicit):
        from carbontrail.meter.constant import ConstantPower

        meters.append(ConstantPower(settings.constant_power_w, settings.constant_power_label))

    return MeterSet(meters)
