"""RaplMeter on fake powercap trees: discovery, reading, wrap-around, permission denied, attribution."""

from __future__ import annotations

import errno
import logging
import os

import pytest

from carbontrail.errors import MeterError
from carbontrail.meter.rapl import RaplMeter, discover_rapl
from carbontrail.testing import MeterContract, make_rapl_tree, set_energy_uj

MAX = 262_143_328_850


@pytest.fixture
def tree(tmp_path):
    return make_rapl_tree(tmp_path / "powercap", packages=2, energy_uj=5_000_000, max_energy_range_uj=MAX)


def _denying_opener(path: str) -> int:
    """What the kernel answers a non-root reader of energy_uj since Linux 5.10."""
    if path.endswith("energy_uj"):
        raise PermissionError(errno.EACCES, "Permission denied", path)
    return os.open(path, os.O_RDONLY)


class TestRaplMachineContract(MeterContract):
    @pytest.fixture
    def meter(self, tree):
        m = RaplMeter(tree, attribution="machine")
        yield m
        m.close()


class TestRaplProcessContract(MeterContract):
    @pytest.fixture
    def meter(self, tree):
        m = RaplMeter(tree, attribution="process")
        yield m
        m.close()


class TestRaplDeniedContract(MeterContract):
    @pytest.fixture
    def meter(self, tree):
        m = RaplMeter(tree, opener=_denying_opener)
        yield m
        m.close()


class TestRaplMissingContract(MeterContract):
    @pytest.fixture
    def meter(self, tmp_path):
        m = RaplMeter(tmp_path / "nothing-here")
        yield m
        m.close()


def test_discovery_finds_packages_and_dram_only(tree):
    comps = [d.component for d in discover_rapl(tree)]
    # core sub-domains are inside the package; intel-rapl-mmio duplicates package-0
    assert comps == ["cpu:package-0", "dram:package-0", "cpu:package-1", "dram:package-1"]
    m = RaplMeter(tree, attribution="machine")
    try:
        infos = m.components()
        assert [i.component for i in infos] == comps
        assert {i.method for i in infos} == {"rapl"}
        assert infos[0].uncertainty_rel == pytest.approx(0.05)
        assert infos[1].uncertainty_rel == pytest.approx(0.10)
        assert infos[0].detail["max_energy_range_uj"] == MAX
        assert infos[0].detail["attribution"] == "machine"
        assert m.available and m.reason is None
    finally:
        m.close()


def test_reads_joules_from_counters(tree):
    m = RaplMeter(tree, attribution="machine")
    try:
        assert m.read() == (0.0, 0.0, 0.0, 0.0)
        set_energy_uj(tree, "intel-rapl:0", 5_000_000 + 12_500_000)  # +12.5 J
        set_energy_uj(tree, "intel-rapl:1:1", 5_000_000 + 2_000_000)  # dram of package 1: +2 J
        assert m.read() == pytest.approx((12.5, 0.0, 0.0, 2.0))
    finally:
        m.close()


def test_wrap_around_uses_max_energy_range(tmp_path):
    root = make_rapl_tree(tmp_path / "pc", packages=1, dram=False, energy_uj=MAX - 3_000_000)
    m = RaplMeter(root, attribution="machine")
    try:
        set_energy_uj(root, "intel-rapl:0", MAX - 1_000_000)  # +2 J
        assert m.read()[0] == pytest.approx(2.0)
        set_energy_uj(root, "intel-rapl:0", 4_000_000)  # wrapped: +1 J to the top, +4 J after
        assert m.read()[0] == pytest.approx(7.0)
        set_energy_uj(root, "intel-rapl:0", 9_000_000)
        assert m.read()[0] == pytest.approx(12.0)
        # a second wrap later on is handled the same way
        set_energy_uj(root, "intel-rapl:0", MAX - 500_000)
        set_energy_uj(root, "intel-rapl:0", MAX - 500_000)
        before = m.read()[0]
        set_energy_uj(root, "intel-rapl:0", 500_000)
        assert m.read()[0] - before == pytest.approx(1.0)
    finally:
        m.close()


def test_permission_denied_reports_unavailable_with_reason(tree, caplog):
    with caplog.at_level(logging.WARNING, logger="carbontrail.meter.rapl"):
        m = RaplMeter(tree, opener=_denying_opener)
    try:
        assert not m.available
        infos = m.components()
        assert {i.method for i in infos} == {"unavailable"}
        assert len(infos) == 4
        reason = infos[0].detail["reason"]
        assert "permission denied" in reason and "energy_uj" in reason and "chmod" in reason
        assert m.read() == (0.0, 0.0, 0.0, 0.0)
        assert any("RAPL energy counters not readable" in r.message for r in caplog.records)
    finally:
        m.close()


def test_permission_denied_strict_raises(tree):
    with pytest.raises(MeterError, match="permission denied"):
        RaplMeter(tree, opener=_denying_opener, strict=True)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a mode-000 file anyway")
def test_permission_denied_by_file_mode(tree):
    for entry in ("intel-rapl:0", "intel-rapl:0:1", "intel-rapl:1", "intel-rapl:1:1"):
        os.chmod(tree / entry / "energy_uj", 0)
    m = RaplMeter(tree)
    assert not m.available and "permission denied" in (m.reason or "")
    m.close()


def test_unreadable_counter_is_unavailable(tmp_path):
    """A counter that cannot be read (here a folder where the file should be: EISDIR even for root)."""
    root = make_rapl_tree(tmp_path / "pc", packages=1, dram=True)
    (root / "intel-rapl:0:1" / "energy_uj").unlink()
    (root / "intel-rapl:0:1" / "energy_uj").mkdir()
    m = RaplMeter(root, attribution="machine")
    try:
        infos = {i.component: i for i in m.components()}
        assert infos["cpu:package-0"].method == "rapl"
        assert infos["dram:package-0"].method == "unavailable"
        assert "cannot read" in infos["dram:package-0"].detail["reason"]
        set_energy_uj(root, "intel-rapl:0", 1_000_000 + 3_000_000)
        assert m.read() == pytest.approx((3.0, 0.0))
    finally:
        m.close()


def test_garbage_counter_raises_meter_error_at_read(tmp_path):
    root = make_rapl_tree(tmp_path / "pc", packages=1, dram=False)
    m = RaplMeter(root, attribution="machine")
    try:
        (root / "intel-rapl:0" / "energy_uj").write_text("not a number\n")
        with pytest.raises(MeterError, match=r"intel-rapl:0/energy_uj does not hold an integer"):
            m.read()
    finally:
        m.close()


def test_process_attribution_bills_the_cpu_time_share(tmp_path):
    root = make_rapl_tree(tmp_path / "pc", packages=1, dram=True, energy_uj=0)
    clocks = iter(
        [
            (0.0, 0.0),  # construction
            (0.5, 1.0),  # interval 1: tracked process used half the machine's busy CPU time
            (0.5, 3.0),  # interval 2: tracked process asleep, another tenant busy
            (0.5, 3.0),  # interval 3: no busy tick at all yet: merged into the next interval
            (1.5, 4.0),  # interval 3+4: tracked process alone (share 1)
            (9.0, 5.0),  # share above 1 (clock granularity) is clamped
        ]
    )
    m = RaplMeter(root, attribution="process", cpu_clocks=lambda: next(clocks))
    try:
        info = m.components()[0]
        assert info.detail["attribution"] == "process"
        assert info.uncertainty_rel == pytest.approx(0.15)
        set_energy_uj(root, "intel-rapl:0", 10_000_000)
        set_energy_uj(root, "intel-rapl:0:1", 2_000_000)
        assert m.read() == pytest.approx((5.0, 1.0))
        set_energy_uj(root, "intel-rapl:0", 30_000_000)  # +20 J of someone else's work
        assert m.read() == pytest.approx((5.0, 1.0))
        set_energy_uj(root, "intel-rapl:0", 34_000_000)
        assert m.read() == pytest.approx((5.0, 1.0))
        set_energy_uj(root, "intel-rapl:0", 40_000_000)
        assert m.read() == pytest.approx((15.0, 1.0))
        set_energy_uj(root, "intel-rapl:0", 41_000_000)
        assert m.read() == pytest.approx((16.0, 1.0))
    finally:
        m.close()


def test_read_after_close_keeps_last_values(tree):
    m = RaplMeter(tree, attribution="machine")
    set_energy_uj(tree, "intel-rapl:0", 6_000_000)
    last = m.read()
    m.close()
    assert m.read() == last
