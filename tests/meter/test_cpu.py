"""CPU-time model: power resolution, contract, and a busy vs a sleeping process under another's load."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from carbontrail.meter._proc import CpuInfo
from carbontrail.meter.cpu import DEFAULT_PER_THREAD_W, CpuPower, CpuTimeModel, cpu_power
from carbontrail.meter.rapl import RaplMeter
from carbontrail.testing import MeterContract, make_rapl_tree, set_energy_uj

BURN = "import time\nt = time.time()\nwhile time.time() - t < {s}: pass\n"
SLEEP = "import time\ntime.sleep({s})\n"


def _info(model: str, *, siblings: int = 12, hypervisor: bool = False, logical: int = 12) -> CpuInfo:
    return CpuInfo(model, logical, logical, siblings, 1, hypervisor)


class TestCpuProcessContract(MeterContract):
    @pytest.fixture
    def meter(self):
        m = CpuTimeModel(CpuPower(3.5, "default", 0.6), attribution="process")
        yield m
        m.close()


class TestCpuMachineContract(MeterContract):
    @pytest.fixture
    def meter(self):
        m = CpuTimeModel(CpuPower(3.5, "default", 0.6), attribution="machine")
        yield m
        m.close()


def test_stated_power_is_split_over_visible_cpus(tmp_path):
    p = cpu_power(power_w=40.0, info=_info("whatever", logical=8), cache_dir=tmp_path)
    assert p.source == "stated" and p.per_thread_w == pytest.approx(5.0)
    assert p.uncertainty_rel == pytest.approx(0.2)


def test_tdp_table_power_per_thread(tmp_path):
    p = cpu_power(info=_info("Intel(R) Core(TM) i7-8700 CPU @ 3.20GHz", siblings=12), cache_dir=tmp_path)
    assert p.source == "tdp-table"
    assert p.per_thread_w == pytest.approx(65.0 / 12)
    assert p.detail["tdp_name"] == "Intel Core i7-8700" and p.detail["tdp_w"] == 65.0
    assert p.uncertainty_rel == pytest.approx(0.4)


def test_virtual_machine_uses_default_and_keeps_the_match(tmp_path):
    p = cpu_power(
        info=_info("AMD EPYC 7763 64-Core Processor", siblings=2, hypervisor=True), cache_dir=tmp_path
    )
    assert p.source == "default" and p.per_thread_w == DEFAULT_PER_THREAD_W
    assert p.detail["tdp_w"] == 280.0 and "virtual machine" in p.detail["reason"]
    assert p.uncertainty_rel == pytest.approx(0.6)


def test_unknown_model_uses_default_and_says_so(tmp_path):
    p = cpu_power(info=_info("AMD EPYC"), cache_dir=tmp_path)
    assert p.source == "default" and "no TDP table match" in p.detail["reason"]
    assert "no model number" in p.detail["tdp_note"]
    p2 = cpu_power(info=_info(""), cache_dir=tmp_path)
    assert "unknown" in p2.detail["reason"]


def test_model_override_beats_cpuinfo(tmp_path):
    p = cpu_power(cpu_model="AMD Ryzen 9 5950X", info=_info("AMD EPYC", siblings=32), cache_dir=tmp_path)
    assert p.per_thread_w == pytest.approx(105.0 / 32)


def test_energy_is_power_times_cpu_seconds():
    t = [10.0]
    m = CpuTimeModel(CpuPower(4.0, "stated", 0.2), cpu_clock=lambda: t[0])
    assert m.read() == (0.0,)
    t[0] = 12.5
    assert m.read() == pytest.approx((10.0,))
    info = m.components()[0]
    assert (info.component, info.method) == ("cpu", "cpu-time-model")
    assert info.detail["attribution"] == "process" and info.detail["per_thread_w"] == 4.0


def test_bad_attribution_is_refused():
    with pytest.raises(ValueError, match="attribution"):
        CpuTimeModel(CpuPower(1.0, "default", 0.6), attribution="cluster")  # type: ignore[arg-type]


def _burn_own_cpu(cpu_s: float) -> None:
    start = time.process_time()
    x = 0
    while time.process_time() - start < cpu_s:
        x += 1


@pytest.fixture
def other_tenant():
    """Another process loading the machine for the duration of the test."""
    proc = subprocess.Popen([sys.executable, "-c", BURN.format(s=30)])
    time.sleep(0.2)
    yield proc
    proc.kill()
    proc.wait()


def test_sleeping_process_is_not_billed_for_another_process_load(other_tenant):
    power = CpuPower(3.5, "default", 0.6)
    mine = CpuTimeModel(power, attribution="process")
    machine = CpuTimeModel(power, attribution="machine")
    try:
        a, ma = mine.read(), machine.read()
        time.sleep(1.0)  # tracked process asleep while the other tenant burns CPU
        b, mb = mine.read(), machine.read()
        assert b[0] - a[0] < 0.05  # < ~15 ms of CPU at 3.5 W: our own bookkeeping only
        assert mb[0] - ma[0] > 1.0  # the machine was busy: >~0.3 CPU-s in that second
        _burn_own_cpu(0.3)
        c = mine.read()
        assert c[0] - b[0] >= 0.3 * 3.5 * 0.99
    finally:
        mine.close()
        machine.close()


def test_busy_and_sleeping_tracked_processes_by_pid(other_tenant):
    power = CpuPower(3.5, "default", 0.6)
    sleeper = subprocess.Popen([sys.executable, "-c", SLEEP.format(s=30)])
    busy = subprocess.Popen([sys.executable, "-c", BURN.format(s=30)])
    try:
        time.sleep(0.3)  # let both interpreters start
        ms, mb = CpuTimeModel(power, pid=sleeper.pid), CpuTimeModel(power, pid=busy.pid)
        s0, b0 = ms.read()[0], mb.read()[0]
        deadline = time.monotonic() + 20
        while mb.read()[0] - b0 < 0.35 and time.monotonic() < deadline:  # wait for 0.1 CPU-s of work
            time.sleep(0.1)
        s1, b1 = ms.read()[0], mb.read()[0]
        assert b1 - b0 >= 0.35  # the busy process is billed
        assert s1 - s0 < 0.05  # the sleeping one is not, over the same window
        assert "process" in ms.components()[0].detail["cpu_time"]
        ms.close()
        mb.close()
    finally:
        for p in (sleeper, busy):
            p.kill()
            p.wait()


def test_rapl_process_attribution_with_real_clocks(tmp_path, other_tenant):
    """A fake package counter that rises while the tracked process sleeps and another process works."""
    root = make_rapl_tree(tmp_path / "pc", packages=1, dram=False, energy_uj=0)
    attributed = RaplMeter(root, attribution="process")
    raw = RaplMeter(root, attribution="machine")
    try:
        a, ra = attributed.read(), raw.read()
        for k in range(1, 11):
            time.sleep(0.1)
            set_energy_uj(root, "intel-rapl:0", k * 5_000_000)  # 50 W of package power
            attributed.read()
        b, rb = attributed.read(), raw.read()
        assert rb[0] - ra[0] == pytest.approx(50.0)
        assert b[0] - a[0] < 0.2 * 50.0  # our own share of the machine's busy time is small
        assert attributed.components()[0].detail["attribution"] == "process"
    finally:
        attributed.close()
        raw.close()
