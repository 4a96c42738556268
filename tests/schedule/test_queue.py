"""The queue on both backends: claim, lease, heartbeat, expiry, exactly-once completion, plan records."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from carbontrail.errors import LedgerError, ScheduleError
from carbontrail.grid.series import IntensitySeries
from carbontrail.provenance import IntensityProvenance
from carbontrail.schedule.execute import SimulatedClock
from carbontrail.schedule.plan import Interruptible, Job, Signal, plan
from carbontrail.schedule.queue import (
    JobQueue,
    job_from_spec,
    job_spec,
    list_plans,
    realised_emissions_g,
    realised_for_plan,
    record_plan,
    record_realised,
)

T0 = datetime(2024, 3, 1, tzinfo=UTC)


def _signal() -> Signal:
    prov = IntensityProvenance(zone="AA", source="forecast:blend", dataset="x", vintage="2024")
    s = IntensitySeries(
        start_s=T0.timestamp(),
        step_s=3600.0,
        values_g_per_kwh=np.array([500, 400, 100, 100, 300, 500.0]),
        provenance=prov,
        uncertainty_rel=np.full(6, 0.01),
    )
    return Signal.single(s, T0)


def _job(name: str = "train") -> Job:
    return Job(earliest_at=T0, deadline_at=T0 + timedelta(hours=6), duration_s=7200, power_w=500, name=name)


def test_spec_round_trip() -> None:
    j = Job(
        earliest_at=T0,
        deadline_at=T0 + timedelta(hours=6),
        duration_s=7200,
        zones=("A", "B"),
        interruptible=Interruptible(min_chunk_s=1800, max_pauses=2, checkpoint_overhead_s=60),
    )
    k = job_from_spec(job_spec(j))
    assert (k.earliest_at, k.deadline_at, k.duration_s, k.zones, k.interruptible) == (
        j.earliest_at,
        j.deadline_at,
        j.duration_s,
        j.zones,
        j.interruptible,
    )


def test_claim_lease_expiry_and_exactly_once(ledger) -> None:
    clock = SimulatedClock(T0.timestamp())
    q = JobQueue(ledger, clock=clock)
    p = plan(_job(), _signal())
    assert p.start_at == T0 + timedelta(hours=2)
    jid = q.submit(_job(), ["true"], p)
    assert q.claim("w1") is None  # not due yet
    clock.sleep_until(p.start_at.timestamp())
    a = q.claim("w1", lease_s=30)
    assert a is not None and a.job_id == jid and a.attempts == 1 and a.status == "running"
    assert q.claim("w2") is None  # leased
    assert q.heartbeat(jid, a.lease_token, lease_s=30)
    clock.sleep_until(clock.now() + 31)  # w1 died: no heartbeat
    b = q.claim("w2", lease_s=30)
    assert b is not None and b.job_id == jid and b.attempts == 2 and b.lease_owner == "w2"
    # the dead worker's token no longer works
    assert not q.heartbeat(jid, a.lease_token)
    assert not q.complete(jid, a.lease_token, returncode=0)
    assert q.complete(jid, b.lease_token, returncode=0, result={"ok": True})
    assert not q.complete(jid, b.lease_token, returncode=0)  # twice: refused
    done = q.get(jid)
    assert done.status == "done" and done.completions == 1 and done.returncode == 0
    assert q.claim("w3") is None


def test_job_fails_after_max_attempts(ledger) -> None:
    clock = SimulatedClock(T0.timestamp())
    q = JobQueue(ledger, clock=clock)
    j = _job()
    jid = q.submit(j, ["true"], plan(j, _signal()), max_attempts=2)
    clock.sleep_until(T0.timestamp() + 3 * 3600)
    for _ in range(2):
        assert q.claim("w", lease_s=10) is not None
        clock.sleep_until(clock.now() + 11)
    assert q.claim("w") is None
    assert q.get(jid).status == "failed"


def test_release_cancel_and_errors(ledger) -> None:
    clock = SimulatedClock(T0.timestamp() + 10 * 3600)
    q = JobQueue(ledger, clock=clock)
    j = _job()
    p = plan(j, _signal())
    j1 = q.submit(j, ["true"], p)
    j2 = q.submit(j, ["true"], p)
    c = q.claim("w")
    assert c is not None and q.release(c.job_id, c.lease_token)
    assert q.get(c.job_id).status == "queued"
    assert q.cancel(j2) and not q.cancel(j2)
    assert {x.job_id for x in q.jobs(status="queued")} == {j1} | ({c.job_id} - {j2})
    with pytest.raises(ScheduleError):
        q.submit(j, [], p)
    with pytest.raises(LedgerError):
        q.get("nope")


def test_plan_records_for_reports(ledger) -> None:
    sig = _signal()
    j = _job()
    p = plan(j, sig)
    pid = record_plan(ledger, p, sig, job=j)
    jid = JobQueue(ledger).submit(j, ["true"], p, plan_id=pid)
    [r] = list_plans(ledger)
    assert r.plan_id == pid and r.job_id == jid and r.decision == "shift"
    assert r.chunks == [[(T0 + timedelta(hours=2)).isoformat(), (T0 + timedelta(hours=4)).isoformat()]]
    assert r.immediate_chunks[0][0] == T0.isoformat()
    assert r.forecast_generated_at == T0 and len(r.forecast_digest) == 64
    assert r.forecast["AA"]["values_g_per_kwh"][2] == 100
    assert r.expected_emissions_g == pytest.approx(100.0) and r.run_now_emissions_g == pytest.approx(450.0)
    assert r.realised_saving_g is None
    record_realised(
        ledger,
        pid,
        realised_emissions_g=210.0,
        realised_run_now_emissions_g=880.0,
        energy_j=7.2e6,
        span_ids=["s1"],
    )
    [r] = list_plans(ledger, job_id=jid)
    assert r.realised_saving_g == pytest.approx(670.0) and r.realised_span_ids == ["s1"]
    with pytest.raises(LedgerError):
        record_realised(ledger, "missing", realised_emissions_g=1.0)


def test_realised_emissions_from_buckets() -> None:
    sig = _signal()
    s = next(iter(sig.forecasts.values()))
    t = T0.timestamp()
    # 1 kWh in the 100 g/kWh hour and 1 kWh in the 500 g/kWh hour
    assert realised_emissions_g([(t + 2 * 3600, 3.6e6), (t + 5 * 3600, 3.6e6)], s) == pytest.approx(600.0)
    real, now = realised_for_plan(
        [(t + 2 * 3600, 3.6e6), (t + 3 * 3600, 3.6e6)], s, run_now_s=t, bucket_s=3600
    )
    assert real == pytest.approx(200.0) and now == pytest.approx(900.0)
    real, now = realised_for_plan([(t + 20 * 3600, 1.0)], s, run_now_s=t + 30 * 3600, bucket_s=3600)
    assert real is None and now is None


def _moved_signal() -> Signal:
    """A later forecast: the cheap hours moved from 2-3 to 4-5."""
    s = _signal().forecasts["AA"]
    return Signal.single(replace(s, values_g_per_kwh=np.array([500, 400, 450, 450, 90, 80.0])), T0)


def test_replan_moves_a_waiting_job_and_records_the_plan(ledger) -> None:
    clock = SimulatedClock(T0.timestamp())
    q = JobQueue(ledger, clock=clock)
    j = _job()
    p = plan(j, _signal())
    pid = record_plan(ledger, p, _signal(), job=j)
    jid = q.submit(j, ["true"], p, plan_id=pid, replan=True)
    queued = q.get(jid)
    assert queued.spec["replan"] and queued.spec["objective"] == "emissions"
    p2 = plan(j, _moved_signal(), error_band_z=0)
    new_pid = q.replan(queued, p2, _moved_signal())
    assert new_pid is not None
    moved = q.get(jid)
    assert moved.planned_start_at == T0 + timedelta(hours=4) and moved.plan_id == new_pid
    assert moved.chunks == list(p2.chunks) and moved.spec["replanned_at"]
    assert {r.plan_id for r in list_plans(ledger, job_id=jid)} == {pid, new_pid}
    # optimistic: a stale read (someone re-planned since) writes nothing
    assert q.replan(queued, p, _signal()) is None
    assert q.get(jid).planned_start_at == T0 + timedelta(hours=4)
    # a running job is never moved
    clock.sleep_until((T0 + timedelta(hours=4)).timestamp())
    running = q.claim("w")
    assert running is not None
    assert q.replan(running, p, _signal()) is None
    assert len(list_plans(ledger, job_id=jid)) == 2


def test_claim_only_in_the_workers_zones(ledger) -> None:
    clock = SimulatedClock(T0.timestamp() + 10 * 3600)
    q = JobQueue(ledger, clock=clock)
    j = _job()
    jid = q.submit(j, ["true"], plan(j, _signal()))  # planned in zone AA
    assert q.claim("w-b", zones=["BB"]) is None
    c = q.claim("w-a", zones=["BB", "AA"])
    assert c is not None and c.job_id == jid
