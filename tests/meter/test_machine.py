"""default_meters (counters first, models last), detect, the `carbontrail meters` command, lazy imports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from carbontrail.config import load_settings
from carbontrail.errors import ConfigError
from carbontrail.meter import MeterSet, default_meters, detect
from carbontrail.meter.machine import detect_virtualization
from carbontrail.testing import FakeGpu, FakeNvml, make_rapl_tree, set_energy_uj

SRC = str(Path(__file__).resolve().parents[2] / "src")


def _names(ms: MeterSet) -> list[tuple[str, str]]:
    return [(i.component, i.method) for i in ms.infos]


@pytest.fixture
def no_gpu_env(monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)


def test_models_when_no_counters(tmp_path, no_gpu_env):
    ms = default_meters(load_settings(tmp_path), powercap_root=tmp_path / "none", cache_dir=tmp_path / "c")
    try:
        names = _names(ms)
        assert names[:2] == [("cpu", "cpu-time-model"), ("ram", "ram-model")]
        assert "no RAPL package domain" in ms.infos[0].detail["rapl"]
        a = ms.read()
        b = ms.read()
        assert all(y >= x for x, y in zip(a, b, strict=True))
    finally:
        ms.close()


def test_rapl_replaces_cpu_and_ram_models(tmp_path, no_gpu_env):
    root = make_rapl_tree(tmp_path / "pc", packages=1, dram=True)
    ms = default_meters(load_settings(tmp_path), powercap_root=root, cache_dir=tmp_path / "c")
    try:
        assert [n for n in _names(ms) if not n[0].startswith("gpu")] == [
            ("cpu:package-0", "rapl"),
            ("dram:package-0", "rapl"),
        ]
        assert ms.infos[0].detail["attribution"] == "process"
    finally:
        ms.close()


def test_rapl_package_without_dram_keeps_ram_model(tmp_path, no_gpu_env):
    root = make_rapl_tree(tmp_path / "pc", packages=1, dram=False)
    ms = default_meters(load_settings(tmp_path, attribution="machine"), powercap_root=root, cache_dir=tmp_path)
    try:
        assert _names(ms)[:2] == [("cpu:package-0", "rapl"), ("ram", "ram-model")]
        assert {i.detail["attribution"] for i in ms.infos} == {"machine"}
        set_energy_uj(root, "intel-rapl:0", 1_000_000 + 7_000_000)
        assert ms.read()[0] == pytest.approx(7.0)
    finally:
        ms.close()


def test_counter_and_model_both_asked_for_are_kept_with_a_warning(tmp_path, no_gpu_env, caplog):
    root = make_rapl_tree(tmp_path / "pc", packages=1, dram=True)
    s = load_settings(tmp_path, meters=("rapl", "cpu", "ram"))
    ms = default_meters(s, powercap_root=root, cache_dir=tmp_path)
    try:
        assert [n[1] for n in _names(ms)] == ["rapl", "rapl", "cpu-time-model", "ram-model"]
        assert "counted twice" in caplog.text
    finally:
        ms.close()


def test_unreadable_rapl_falls_back_to_models(tmp_path, no_gpu_env):
    root = make_rapl_tree(tmp_path / "pc", packages=1, dram=True)
    for entry in ("intel-rapl:0", "intel-rapl:0:1"):
        (root / entry / "energy_uj").unlink()
        (root / entry / "energy_uj").mkdir()  # unreadable even for root (EISDIR)
    ms = default_meters(load_settings(tmp_path), powercap_root=root, cache_dir=tmp_path)
    try:
        assert _names(ms)[:2] == [("cpu", "cpu-time-model"), ("ram", "ram-model")]
        assert "cannot read" in ms.infos[0].detail["rapl"]
    finally:
        ms.close()


def test_explicit_meters_are_honoured_and_unmet_requests_show(tmp_path, no_gpu_env):
    s = load_settings(tmp_path, meters=("rapl", "constant"), constant_power_w=15.0, constant_power_label="nas")
    ms = default_meters(s, powercap_root=tmp_path / "none", cache_dir=tmp_path)
    try:
        assert _names(ms) == [("cpu:rapl", "unavailable"), ("constant:nas", "constant")]
    finally:
        ms.close()
    only_cpu = default_meters(load_settings(tmp_path, meters=("cpu",)), powercap_root=tmp_path, cache_dir=tmp_path)
    assert _names(only_cpu) == [("cpu", "cpu-time-model")]
    only_cpu.close()


def test_environment_selects_meters(tmp_path, monkeypatch, no_gpu_env):
    monkeypatch.setenv("CARBONTRAIL_METERS", "ram")
    ms = default_meters(load_settings(tmp_path), powercap_root=tmp_path, cache_dir=tmp_path)
    assert _names(ms) == [("ram", "ram-model")]
    ms.close()


def test_unknown_meter_name_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="gpu-magic"):
        default_meters(load_settings(tmp_path, meters=("gpu-magic",)), powercap_root=tmp_path)


def test_constant_power_added_when_stated(tmp_path, no_gpu_env):
    s = load_settings(tmp_path, constant_power_w=30.0)
    ms = default_meters(s, powercap_root=tmp_path, cache_dir=tmp_path)
    try:
        assert ("constant:other", "constant") in _names(ms)
    finally:
        ms.close()


def test_stated_cpu_power_is_used(tmp_path, no_gpu_env):
    ms = default_meters(load_settings(tmp_path, cpu_power_w=64.0), powercap_root=tmp_path, cache_dir=tmp_path)
    try:
        d = ms.infos[0].detail
        assert d["power_source"] == "stated" and d["power_w"] == 64.0
    finally:
        ms.close()


def test_gpus_through_nvml(tmp_path, no_gpu_env):
    nvml = FakeNvml([FakeGpu("GPU-1", energy_mj=0), FakeGpu("GPU-2", energy_mj=0)])
    ms = default_meters(load_settings(tmp_path), powercap_root=tmp_path, nvml=nvml, cache_dir=tmp_path)
    try:
        assert [n for n in _names(ms) if n[0].startswith("gpu")] == [("gpu:0", "nvml"), ("gpu:1", "nvml")]
        nvml.gpus[1].energy_mj = 3_000
        assert ms.read()[-1] == pytest.approx(3.0)
    finally:
        ms.close()


def test_named_gpus_without_driver_are_unavailable(tmp_path, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    ms = default_meters(
        load_settings(tmp_path), powercap_root=tmp_path, nvml=FakeNvml(init_error=9), cache_dir=tmp_path
    )
    try:
        assert ("gpu:0", "unavailable") in _names(ms)
    finally:
        ms.close()


def test_pid_mode_meters_another_process(tmp_path, no_gpu_env):
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        ms = default_meters(load_settings(tmp_path), pid=child.pid, powercap_root=tmp_path, cache_dir=tmp_path)
        assert str(child.pid) in ms.infos[0].detail["cpu_time"]
        assert str(child.pid) in ms.infos[1].detail["memory"]
        ms.read()
        ms.close()
    finally:
        child.kill()
        child.wait()


def test_detect_reports_machine_facts(tmp_path, no_gpu_env):
    root = make_rapl_tree(tmp_path / "pc", packages=1)
    facts = detect(load_settings(tmp_path), powercap_root=root, cache_dir=tmp_path, use_systemd=False).to_dict()
    assert facts["rapl"] == {
        "root": str(root),
        "domains": ["cpu:package-0", "dram:package-0"],
        "readable": True,
        "reason": None,
    }
    assert facts["cpu"]["logical_cpus"] >= 1 and facts["cpu"]["per_thread_w"] > 0
    assert set(facts["virtualization"]) == {"vm", "container", "evidence"}
    assert facts["nvml"]["readable"] is False and facts["nvml"]["reason"]
    json.dumps(facts)


def test_detect_with_gpus(tmp_path):
    nvml = FakeNvml([FakeGpu("GPU-1")])
    facts = detect(powercap_root=tmp_path, nvml=nvml, cache_dir=tmp_path, use_systemd=False).to_dict()
    assert facts["nvml"]["driver"] is True and facts["nvml"]["readable"] is True
    assert facts["nvml"]["gpus"][0]["component"] == "gpu:0"
    assert nvml.shutdowns == 1


def test_virtualization_evidence_is_consistent():
    v = detect_virtualization(use_systemd=False, hypervisor_flag=True)
    assert v["vm"] and "cpuinfo: hypervisor flag set" in v["evidence"]
    if os.path.exists("/.dockerenv"):
        assert v["container"] == "docker"


def test_meters_command_json_and_table(tmp_path, monkeypatch, no_gpu_env):
    from carbontrail.cli.main import app

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(app, ["meters", "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["attribution"] == "process"
    assert {c["method"] for c in data["components"]} <= {
        "rapl",
        "nvml",
        "cpu-time-model",
        "ram-model",
        "constant",
        "unavailable",
    }
    assert all(0 <= c["uncertainty_rel"] <= 1 for c in data["components"])
    assert {"cpu", "rapl", "nvml", "virtualization"} <= set(data["machine"])
    res = CliRunner().invoke(app, ["meters"])
    assert res.exit_code == 0
    assert "machine" in res.output and "component" in res.output


def test_meters_command_bad_config_exits_with_config_code(tmp_path, monkeypatch):
    from carbontrail.cli.main import app

    monkeypatch.setenv("CARBONTRAIL_METERS", "nope")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    res = CliRunner().invoke(app, ["meters"])
    assert res.exit_code == 3
    assert "nope" in res.output


def test_importing_the_package_stays_light():
    code = (
        "import sys, carbontrail.meter as m\n"
        "heavy = [k for k in ('pydantic', 'pynvml', 'carbontrail.meter.rapl', 'carbontrail.meter.machine',"
        " 'csv', 'sqlalchemy') if k in sys.modules]\n"
        "print(heavy, sorted(m.__all__) == sorted(dir(m)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env={**os.environ, "PYTHONPATH": SRC},
    ).stdout.strip()
    assert out == "[] True"


def test_public_names():
    import carbontrail.meter as m

    assert set(m.__all__) >= {
        "BaseMeter",
        "ComponentInfo",
        "MeterSet",
        "RaplMeter",
        "NvmlMeter",
        "CpuTimeModel",
        "RamModel",
        "ConstantPower",
        "default_meters",
        "detect",
    }
    for name in m.__all__:
        assert getattr(m, name) is not None
    assert callable(m.detect)
    with pytest.raises(AttributeError):
        m.nothing_here  # noqa: B018
