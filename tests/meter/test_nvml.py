"""NvmlMeter through a fake pynvml module, and the real pynvml on a machine without a driver."""

from __future__ import annotations

import pytest

from carbontrail.errors import MeterError
from carbontrail.meter.nvml import NvmlMeter, parse_visible_devices
from carbontrail.testing import FakeGpu, FakeNvml, MeterContract


def _gpus() -> list[FakeGpu]:
    return [
        FakeGpu("GPU-aaaa1111-0000", energy_mj=1_000),
        FakeGpu("GPU-bbbb2222-0000", energy_mj=50_000),
        FakeGpu("GPU-cccc3333-0000", name="Tesla P100", energy_mj=0, supported=False),
    ]


class TestNvmlContract(MeterContract):
    @pytest.fixture
    def meter(self):
        m = NvmlMeter(visible_devices=None, nvml=FakeNvml(_gpus()))
        yield m
        m.close()


class TestNvmlNoDriverContract(MeterContract):
    @pytest.fixture
    def meter(self):
        m = NvmlMeter(visible_devices="0,1", nvml=FakeNvml(init_error=12))
        yield m
        m.close()


def test_all_gpus_when_unset_and_joules_from_millijoules():
    nvml = FakeNvml(_gpus())
    m = NvmlMeter(visible_devices=None, nvml=nvml)
    try:
        infos = m.components()
        assert [(i.component, i.method) for i in infos] == [
            ("gpu:0", "nvml"),
            ("gpu:1", "nvml"),
            ("gpu:2", "unavailable"),
        ]
        assert infos[0].uncertainty_rel == pytest.approx(0.05)
        assert infos[1].detail["uuid"] == "GPU-bbbb2222-0000"
        assert "Volta" in infos[2].detail["reason"]
        assert m.read() == (0.0, 0.0, 0.0)
        nvml.gpus[0].energy_mj += 2_500
        nvml.gpus[1].energy_mj += 100_000
        assert m.read() == pytest.approx((2.5, 100.0, 0.0))
    finally:
        m.close()


@pytest.mark.parametrize(
    ("visible", "expected"),
    [
        ("1", ["gpu:1"]),
        ("1,0", ["gpu:1", "gpu:0"]),
        ("GPU-bbbb", ["gpu:1"]),  # a unique UUID prefix, as CUDA accepts
        ("0,7,1", ["gpu:0"]),  # CUDA ignores every entry after one that names no GPU
        ("GPU-", []),  # an ambiguous prefix ends the list too
        (" 0 , 1 ", ["gpu:0", "gpu:1"]),
    ],
)
def test_cuda_visible_devices_selects_gpus(visible, expected):
    m = NvmlMeter(visible_devices=visible, nvml=FakeNvml(_gpus()))
    try:
        names = [i.component for i in m.components() if i.method == "nvml"]
        assert names == expected
    finally:
        m.close()


def test_environment_variable_is_the_default(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-aaaa1111-0000")
    m = NvmlMeter(nvml=FakeNvml(_gpus()))
    try:
        assert [i.component for i in m.components()] == ["gpu:0"]
        assert m.components()[0].detail["visible_as"] == "GPU-aaaa1111-0000"
    finally:
        m.close()


def test_empty_visible_devices_means_no_gpu():
    m = NvmlMeter(visible_devices="", nvml=FakeNvml(_gpus()))
    try:
        (info,) = m.components()
        assert info.method == "unavailable" and "empty" in info.detail["reason"]
        assert m.read() == (0.0,)
    finally:
        m.close()


def test_mig_instance_is_unavailable():
    m = NvmlMeter(visible_devices="MIG-1234-5678", nvml=FakeNvml(_gpus()))
    try:
        (info,) = m.components()
        assert info.component == "gpu:MIG-1234-5678"
        assert info.method == "unavailable" and "whole GPU" in info.detail["reason"]
    finally:
        m.close()


@pytest.mark.parametrize(("code", "text"), [(12, "Library Not Found"), (9, "Driver Not Loaded")])
def test_nvml_missing_makes_requested_gpus_unavailable(code, text):
    m = NvmlMeter(visible_devices="0,1", nvml=FakeNvml(init_error=code))
    try:
        assert not m.available and not m.driver_loaded
        assert [i.component for i in m.components()] == ["gpu:0", "gpu:1"]
        assert all(i.method == "unavailable" for i in m.components())
        assert text in m.components()[0].detail["reason"]
        assert m.read() == (0.0, 0.0)
    finally:
        m.close()


def test_nvml_missing_without_named_gpus_gives_one_component():
    m = NvmlMeter(visible_devices=None, nvml=FakeNvml(init_error=12))
    try:
        assert [(i.component, i.method) for i in m.components()] == [("gpu", "unavailable")]
    finally:
        m.close()


def test_real_pynvml_without_driver_is_unavailable():
    pynvml = pytest.importorskip("pynvml")
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        pass
    else:  # pragma: no cover - only on machines with an NVIDIA driver
        pynvml.nvmlShutdown()
        pytest.skip("this machine has a working NVIDIA driver")
    m = NvmlMeter(visible_devices=None)
    try:
        (info,) = m.components()
        assert info.method == "unavailable" and "NVML did not start" in info.detail["reason"]
    finally:
        m.close()


def test_driver_reload_keeps_counter_monotonic():
    nvml = FakeNvml(_gpus()[:1])
    m = NvmlMeter(visible_devices=None, nvml=nvml)
    try:
        nvml.gpus[0].energy_mj = 5_000  # +4 J
        assert m.read() == pytest.approx((4.0,))
        nvml.gpus[0].energy_mj = 1_500  # driver reloaded, counter restarted at 0
        assert m.read() == pytest.approx((5.5,))
    finally:
        m.close()


def test_read_failure_raises_meter_error():
    nvml = FakeNvml(_gpus()[:1])
    m = NvmlMeter(visible_devices=None, nvml=nvml)
    nvml.gpus[0].supported = False
    with pytest.raises(MeterError, match="gpu:0"):
        m.read()
    m.close()


def test_close_shuts_nvml_down_once():
    nvml = FakeNvml(_gpus())
    m = NvmlMeter(visible_devices=None, nvml=nvml)
    m.close()
    m.close()
    assert nvml.shutdowns == 1


def test_parse_visible_devices():
    assert parse_visible_devices(None) is None
    assert parse_visible_devices("") == []
    assert parse_visible_devices("0,GPU-x,") == ["0", "GPU-x"]
