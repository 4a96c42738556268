"""RAM power model and user-stated constant power."""

from __future__ import annotations

import math

import pytest

from carbontrail.meter.constant import ConstantPower
from carbontrail.meter.ram import RamModel
from carbontrail.testing import MeterContract

GIB = 1024**3


class TestRamProcessContract(MeterContract):
    @pytest.fixture
    def meter(self):
        m = RamModel(0.375)
        yield m
        m.close()


class TestRamMachineContract(MeterContract):
    @pytest.fixture
    def meter(self):
        m = RamModel(0.375, attribution="machine")
        yield m
        m.close()


class TestConstantContract(MeterContract):
    @pytest.fixture
    def meter(self):
        return ConstantPower(12.0, "nas")


def test_ram_integrates_piecewise_constant_from_the_previous_read():
    t = [100.0]
    mem = [2 * GIB]
    m = RamModel(0.5, memory_bytes=lambda: mem[0], clock=lambda: t[0])
    assert m.read() == (0.0,)  # nothing elapsed yet
    t[0] += 10.0
    mem[0] = 6 * GIB  # grows after 10 s at 2 GiB
    assert m.read() == pytest.approx((0.5 * 2 * 10,))
    t[0] += 4.0  # 4 s at 6 GiB, the size seen at the previous read
    assert m.read() == pytest.approx((10.0 + 0.5 * 6 * 4,))
    info = m.components()[0]
    assert (info.component, info.method, info.uncertainty_rel) == ("ram", "ram-model", 0.5)
    assert info.detail["w_per_gb"] == 0.5


def test_ram_reads_within_the_resample_interval_reuse_the_sample():
    t = [0.0]
    mem = [GIB]
    calls = []

    def sample() -> int:
        calls.append(t[0])
        return mem[0]

    m = RamModel(1.0, memory_bytes=sample, clock=lambda: t[0], resample_s=0.01)
    t[0] = 0.004
    mem[0] = 3 * GIB
    assert m.read() == pytest.approx((0.004,))  # 1 GiB for 4 ms; 3 GiB not sampled yet
    t[0] = 0.012
    assert m.read() == pytest.approx((0.012,))  # still 1 GiB held; now resampled
    t[0] = 1.012
    assert m.read() == pytest.approx((0.012 + 3.0,))
    assert calls == [0.0, 0.012, 1.012]


def test_ram_reads_this_process_resident_memory():
    m = RamModel(0.375)
    try:
        first = m.read()[0]
        ballast = bytearray(64 * 1024 * 1024)  # 64 MiB resident
        ballast[::4096] = b"x" * len(ballast[::4096])
        m.read()
        total = m.read()[0]
        assert total >= first and math.isfinite(total)
        assert m._reader is not None and m._reader.rss_bytes() > 64 * 1024 * 1024
        del ballast
    finally:
        m.close()


def test_ram_rejects_bad_inputs():
    with pytest.raises(ValueError):
        RamModel(-1.0)
    with pytest.raises(ValueError):
        RamModel(float("nan"))
    with pytest.raises(ValueError):
        RamModel(0.3, attribution="rack")  # type: ignore[arg-type]


def test_constant_power_times_elapsed_seconds():
    t = [5.0]
    m = ConstantPower(20.0, "switch", clock=lambda: t[0])
    assert m.read() == (0.0,)
    t[0] = 8.5
    assert m.read() == pytest.approx((70.0,))
    info = m.components()[0]
    assert (info.component, info.method) == ("constant:switch", "constant")
    assert info.detail == {"power_w": 20.0, "source": "stated"}
    assert info.uncertainty_rel == 0.25


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf")])
def test_constant_rejects_bad_power(bad):
    with pytest.raises(ValueError):
        ConstantPower(bad)


@pytest.mark.parametrize("label", ["", "a:b"])
def test_constant_rejects_bad_label(label):
    with pytest.raises(ValueError):
        ConstantPower(1.0, label)
