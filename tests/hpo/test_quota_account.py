"""Quota parsing and the ledger account (both backends)."""

from __future__ import annotations

import math
import random
import threading
from datetime import UTC, datetime, timedelta

import pytest

from carbontrail.errors import ConfigError, UnitError
from carbontrail.hpo import Quota, QuotaAccount

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_quota_parse_units():
    assert Quota.parse("2 kJ").limit == 2000.0
    assert Quota.parse("0.001 kWh").limit == pytest.approx(3600.0)
    assert Quota.parse(500).limit == 500.0
    q = Quota.parse("3 kgCO2e", intensity_g_per_kwh=400)
    assert (q.basis, q.limit, q.unit) == ("carbon", 3000.0, "gCO2e")
    assert q.cost(3.6e6) == pytest.approx(400.0)
    assert q.energy_for(400.0) == pytest.approx(3.6e6)


@pytest.mark.parametrize("bad", ["5 parsecs", "abc", "-3 J", "0 J", math.nan, math.inf])
def test_quota_rejects_bad_input(bad):
    with pytest.raises(UnitError):
        Quota.parse(bad)


def test_carbon_quota_needs_intensity():
    with pytest.raises(ConfigError):
        Quota.parse("1 kgCO2e")


def test_reserve_topup_settle_and_counts(ledger):
    acc = QuotaAccount.open(ledger, "s1", Quota.parse("100 J"), now=T0)
    r1 = acc.reserve(60.0, trial_number=0, now=T0)
    assert r1 is not None
    assert acc.reserve(50.0, trial_number=1, now=T0) is None  # 60 + 50 > 100
    r2 = acc.reserve(40.0, trial_number=1, now=T0)
    assert r2 is not None
    assert not acc.top_up(r2, 1.0, now=T0)  # account full
    acc.settle(r1, energy_j=30.0, emissions_g=1.0, state="FAIL", now=T0)
    assert acc.top_up(r2, 20.0, now=T0)
    acc.settle(r2, energy_j=55.0, emissions_g=2.0, state="PRUNED", now=T0)
    st = acc.state()
    assert st.spent_j == pytest.approx(85.0) and st.spent_g == pytest.approx(3.0)
    assert st.reserved_j == 0 and st.n_open == 0
    assert st.counts["FAIL"] == 1 and st.counts["PRUNED"] == 1 and st.counts["REFUSED"] == 1
    assert st.overshoot == 0
    assert sorted(c["state"] for c in acc.charges()) == ["FAIL", "PRUNED"]
    with pytest.raises(UnitError):
        acc.reserve(math.nan, now=T0)


def test_stale_reservation_reclaimed_and_late_settle_corrected(ledger):
    acc = QuotaAccount.open(ledger, "s2", Quota.parse("100 J"), now=T0)
    dead = acc.reserve(80.0, trial_number=0, worker="dead-host:1", now=T0)
    assert dead is not None
    assert acc.heartbeat(dead, 12.0, now=T0 + timedelta(seconds=1))
    live = acc.reserve(10.0, trial_number=1, now=T0 + timedelta(seconds=50))
    assert acc.reserve(20.0, now=T0 + timedelta(seconds=50)) is None  # the dead one still holds 80
    reclaimed = acc.reclaim_stale(30.0, now=T0 + timedelta(seconds=60))
    assert [r["reservation_id"] for r in reclaimed] == [dead]  # the live one is fresh
    assert reclaimed[0]["charged_j"] == pytest.approx(80.0)
    st = acc.state()
    # the energy after the last heartbeat (12 J) is unknown: the whole reservation is charged, never less
    assert st.spent_j == pytest.approx(80.0) and st.reserved_j == pytest.approx(10.0)
    assert st.counts["RECLAIMED"] == 1 and st.n_open == 1
    assert [c["energy_j"] for c in acc.charges() if c["state"] == "RECLAIMED"] == [pytest.approx(80.0)]
    assert not acc.heartbeat(dead, 13.0, now=T0 + timedelta(seconds=61))  # the worker learns it lost it
    assert acc.reserve(11.0, now=T0 + timedelta(seconds=61)) is None  # 80 charged + 10 held: 10 J left
    assert acc.reserve(10.0, now=T0 + timedelta(seconds=61)) is not None  # no reservation leaks
    # the "dead" worker was only partitioned: its late settle corrects the charge to the truth
    acc.settle(dead, energy_j=15.0, emissions_g=0.0, state="COMPLETE", now=T0 + timedelta(seconds=62))
    st = acc.state()
    assert st.spent_j == pytest.approx(15.0)  # corrected down to the measured energy
    assert st.counts["RECLAIMED"] == 1 and st.counts["COMPLETE"] == 0
    assert live is not None


def test_concurrent_writers_never_overcommit(ledger):
    acc = QuotaAccount.open(ledger, "s3", Quota.parse("1000 J"), now=T0)
    granted: list[float] = []
    lock = threading.Lock()

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(15):
            amt = rng.uniform(5, 60)
            rid = acc.reserve(amt, now=datetime.now(UTC))
            if rid is not None:
                with lock:
                    granted.append(amt)
                acc.settle(rid, energy_j=amt, emissions_g=0.0, state="COMPLETE", now=datetime.now(UTC))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    st = acc.state()
    assert st.spent_j == pytest.approx(sum(granted))
    assert st.spent_j <= 1000.0 + 1e-9
    assert st.counts["COMPLETE"] == len(granted)


def test_resume_keeps_spending_and_stopped_refuses(ledger):
    acc = QuotaAccount.open(ledger, "s4", Quota.parse("100 J"), now=T0)
    rid = acc.reserve(10.0, now=T0)
    assert rid is not None
    acc.settle(rid, energy_j=10.0, emissions_g=0.0, state="COMPLETE", now=T0)
    acc.set_status("stopped", now=T0)
    assert acc.reserve(1.0, now=T0) is None
    again = QuotaAccount.open(ledger, "s4", Quota.parse("200 J"), now=T0)  # resume, raise the limit
    st = again.state()
    assert st.status == "open" and st.spent_j == 10.0 and st.quota.limit == 200.0
    with pytest.raises(ConfigError):
        QuotaAccount.open(ledger, "s4", None, now=T0, resume=False)
    with pytest.raises(ConfigError):
        QuotaAccount.open(ledger, "missing", None, now=T0)


def test_public_surface_is_pinned():
    import carbontrail.hpo as hpo

    assert sorted(hpo.__all__) == sorted([
        "AccountState", "CarbonTiming", "Checkpoints", "CostAwareSampler", "EnergyAwarePruner", "Fidelity",
        "HpoResult", "Quota",
        "QuotaAccount", "TrackMeasure", "TrialContext", "TrialMeasure", "TrialWindow", "WorkerReport",
        "load_objective", "optimize", "parse_space", "promote", "warm_start",
    ])
    assert all(hasattr(hpo, n) for n in hpo.__all__)


def test_carbon_quota_counts_each_reservation_at_its_own_intensity(ledger):
    # 1 g at the stated 360 g/kWh is 10 kJ; energy reserved for a green window (100 g/kWh) counts less
    acc = QuotaAccount.open(ledger, "s-green", Quota.parse("1 g", intensity_g_per_kwh=360.0), now=T0)
    green = acc.reserve(20_000.0, trial_number=0, intensity_g_per_kwh=100.0, now=T0)  # 0.556 g
    assert green is not None
    assert acc.reserve(5_000.0, now=T0) is None  # 0.5 g at the stated intensity: 1.056 g > 1 g
    plain = acc.reserve(4_000.0, now=T0)  # 0.4 g
    assert plain is not None
    st = acc.state()
    assert st.reserved_j == pytest.approx(24_000.0)
    assert st.reserved == pytest.approx(20_000.0 / 3.6e6 * 100.0 + 0.4)
    assert st.remaining == pytest.approx(1.0 - st.reserved)
    # a top-up of the green reservation is counted at its intensity too
    assert acc.top_up(green, 1_000.0, now=T0)  # 0.028 g
    assert not acc.top_up(green, 1_000.0, now=T0)  # 0.028 g more would exceed the quota
    # a dead worker's green reservation is charged at its intensity
    reclaimed = acc.reclaim_stale(10.0, now=T0 + timedelta(seconds=60))
    assert len(reclaimed) == 2
    st = acc.state()
    assert st.spent_g == pytest.approx(21_000.0 / 3.6e6 * 100.0 + 0.4)
    assert st.overshoot == 0 and st.spent_g <= 1.0


def test_migration_adds_the_reservation_intensity_to_an_older_ledger(ledger_url):
    import sqlalchemy as sa

    from carbontrail.ledger import Ledger

    old = Ledger.open(ledger_url, upgrade=False)
    assert old.upgrade("hpo_0001") == ["hpo_0001"]  # the schema as hpo_0001 left it
    cols = {c["name"] for c in sa.inspect(old.engine).get_columns("hpo_reservations")}
    assert "intensity_g_per_kwh" not in cols and "measured_j" in cols
    old.close()
    led = Ledger.open(ledger_url)
    try:
        assert "hpo_0002" in led.current_heads()
        cols = {c["name"] for c in sa.inspect(led.engine).get_columns("hpo_reservations")}
        assert "intensity_g_per_kwh" in cols
        acc = QuotaAccount.open(led, "old", Quota.parse("1 kJ"), now=T0)
        assert acc.reserve(10.0, intensity_g_per_kwh=50.0, now=T0) is not None
    finally:
        led.close()
