"""Workers on real processes: kill -9 mid-job, two workers on one queue, a Dask LocalCluster."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from carbontrail.grid.series import IntensitySeries
from carbontrail.ledger import Ledger
from carbontrail.provenance import IntensityProvenance
from carbontrail.schedule.plan import Job, Signal, plan
from carbontrail.schedule.queue import JobQueue
from carbontrail.schedule.worker import Worker

SRC = str(Path(__file__).resolve().parents[2] / "src")
JOB = """
import os, sys, time
path, jid, secs = sys.argv[1], sys.argv[2], float(sys.argv[3])
with open(path, "a") as fh:
    fh.write(f"start {jid} {os.getpid()}\\n")
time.sleep(secs)
with open(path, "a") as fh:
    fh.write(f"done {jid}\\n")
"""


def _submit(q: JobQueue, log: Path, jid: str, secs: float) -> str:
    now = datetime.now(UTC)
    t0 = now.replace(minute=0, second=0, microsecond=0)
    prov = IntensityProvenance(zone="AA", source="series", dataset="flat", vintage="2024")
    s = IntensitySeries(
        start_s=t0.timestamp(), step_s=3600.0, values_g_per_kwh=np.full(8, 300.0), provenance=prov
    )
    job = Job(earliest_at=t0, deadline_at=t0 + timedelta(hours=8), duration_s=600, name=jid)
    p = plan(job, Signal.single(s, t0))
    assert p.start_at <= now  # due at once
    return q.submit(job, [sys.executable, "-c", JOB, str(log), jid, str(secs)], p, job_id=jid)


def _worker_proc(url: str, *args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": SRC}
    return subprocess.Popen(
        [sys.executable, "-m", "carbontrail", "worker", "--ledger", url, "--poll", "0.1s", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _wait_for(pred, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


def _lines(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


@pytest.mark.slow
def test_kill_9_requeues_and_completes_exactly_once(ledger_url, tmp_path) -> None:
    led = Ledger.open(ledger_url)
    q = JobQueue(led)
    log = tmp_path / "job.log"
    _submit(q, log, "job-1", 2.0)
    a = _worker_proc(ledger_url, "--lease", "1.5s", "--max-jobs", "1")
    try:
        _wait_for(lambda: any(x.startswith("start") for x in _lines(log)))
        first_pid = int(_lines(log)[0].split()[2])
        a.kill()  # SIGKILL: no cleanup, no release
        a.wait()
    finally:
        if a.poll() is None:
            a.kill()
    # the job's process dies with its worker
    _wait_for(lambda: not _alive(first_pid), timeout=10)
    assert q.get("job-1").status == "running"  # still leased by the dead worker
    w = Worker(led, worker_id="rescuer", lease_s=1.5, poll_s=0.1)
    w.run(max_jobs=1)
    job = q.get("job-1")
    assert (
        job.status == "done" and job.completions == 1 and job.attempts == 2 and job.lease_owner == "rescuer"
    )
    lines = _lines(log)
    assert sum(x.startswith("start") for x in lines) == 2
    assert lines.count("done job-1") == 1
    led.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead for our purpose
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split()[2] != "Z"
    except OSError:
        return False


@pytest.mark.slow
def test_two_workers_on_postgresql_run_each_job_once(pg_url, tmp_path) -> None:
    led = Ledger.open(pg_url)
    q = JobQueue(led)
    log = tmp_path / "jobs.log"
    ids = [f"j{i}" for i in range(8)]
    for jid in ids:
        _submit(q, log, jid, 0.2)
    procs = [_worker_proc(pg_url, "--until-idle", "--id", f"w{i}") for i in range(2)]
    for p in procs:
        _, errout = p.communicate(timeout=120)
        assert p.returncode == 0, errout.decode()
    lines = _lines(log)
    for jid in ids:
        assert lines.count(f"done {jid}") == 1
        assert sum(1 for x in lines if x.startswith(f"start {jid} ")) == 1
    jobs = q.jobs()
    assert all(j.status == "done" and j.completions == 1 and j.attempts == 1 for j in jobs)
    assert {j.lease_owner for j in jobs} <= {"w0", "w1"}
    led.close()


@pytest.mark.slow
def test_worker_submits_to_a_dask_local_cluster(ledger_url, tmp_path) -> None:
    distributed = pytest.importorskip("distributed")
    led = Ledger.open(ledger_url)
    q = JobQueue(led)
    log = tmp_path / "dask.log"
    ids = [f"d{i}" for i in range(3)]
    for jid in ids:
        _submit(q, log, jid, 0.1)
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cl,
        distributed.Client(cl) as client,
    ):
        stats = Worker(led, dask_client=client, lease_s=10, poll_s=0.1).run(until_idle=True)
    assert sorted(stats.claimed) == ids
    assert all(r.get("completed") for r in stats.results), stats.results
    lines = _lines(log)
    assert all(lines.count(f"done {jid}") == 1 for jid in ids)
    assert all(q.get(j).status == "done" and q.get(j).completions == 1 for j in ids)
    led.close()


def test_worker_tracks_the_job_and_records_realised_energy(ledger_url, tmp_path) -> None:
    from carbontrail.schedule.queue import list_plans, record_plan

    led = Ledger.open(ledger_url)
    q = JobQueue(led)
    log = tmp_path / "t.log"
    now = datetime.now(UTC)
    t0 = now.replace(minute=0, second=0, microsecond=0)
    prov = IntensityProvenance(zone="AA", source="series", dataset="flat", vintage="2024")
    s = IntensitySeries(start_s=t0.timestamp(), step_s=3600.0, values_g_per_kwh=np.full(8, 300.0), provenance=prov)
    job = Job(earliest_at=t0, deadline_at=t0 + timedelta(hours=8), duration_s=600, name="tracked")
    sig = Signal.single(s, t0)
    p = plan(job, sig)
    pid = record_plan(led, p, sig, job=job)
    q.submit(job, [sys.executable, "-c", JOB, str(log), "t", "0.3"], p, plan_id=pid, job_id="tracked")
    stats = Worker(led, lease_s=10, poll_s=0.1).run(max_jobs=1)
    assert stats.results[0]["completed"]
    [rec] = list_plans(led)
    assert rec.job_id == "tracked" and rec.realised_energy_j is not None and rec.realised_energy_j >= 0
    assert rec.realised_span_ids and len(rec.realised_span_ids) == 1
    assert rec.realised_emissions_g is None  # zone AA has no actual series: not invented
    led.close()


def _flat_then(values, start_s: float, step_s: float, zone: str = "AA") -> IntensitySeries:
    prov = IntensityProvenance(zone=zone, source="forecast:test", dataset="test", vintage="2024")
    return IntensitySeries(start_s=start_s, step_s=step_s, values_g_per_kwh=np.asarray(values, float), provenance=prov)


def test_worker_replans_waiting_jobs_on_fresh_forecasts(ledger) -> None:
    from carbontrail.schedule.execute import SimulatedClock
    from carbontrail.schedule.queue import list_plans, record_plan

    t0 = datetime(2024, 3, 1, tzinfo=UTC)
    clock = SimulatedClock(t0.timestamp())
    first = _flat_then([500, 400, 100, 100, 450, 500, 500, 500], t0.timestamp(), 3600.0)
    later = _flat_then([500, 400, 450, 450, 90, 80, 500, 500], t0.timestamp(), 3600.0)
    current = {"fc": first}
    calls: list[tuple[tuple[str, ...], str]] = []

    def forecasts(zones, objective):
        calls.append((zones, objective))
        return lambda now_s, until_s: Signal.single(current["fc"].window(now_s, until_s), t0)

    job = Job(earliest_at=t0, deadline_at=t0 + timedelta(hours=8), duration_s=7200, name="wait", zones=("AA",))
    p = plan(job, Signal.single(first, t0))
    q = JobQueue(ledger, clock=clock)
    pid = record_plan(ledger, p, Signal.single(first, t0), job=job)
    jid = q.submit(job, ["true"], p, plan_id=pid, replan=True)
    fixed = q.submit(job, ["true"], p)  # queued without replan: left as planned
    w = Worker(ledger, clock=clock, forecasts=forecasts, replan_every_s=900)
    assert w.replan_queued() == 0  # same forecast: plan recorded, start unchanged
    current["fc"] = later
    assert w.replan_queued() == 0  # re-planned less than 15 min ago: skipped
    clock.sleep_until(clock.now() + 1800)
    assert w.replan_queued() == 1
    assert q.get(jid).planned_start_at == t0 + timedelta(hours=4)
    assert q.get(fixed).planned_start_at == t0 + timedelta(hours=2)
    assert calls == [(("AA",), "emissions")] * 2
    assert len(list_plans(ledger, job_id=jid)) == 3


@pytest.mark.slow
def test_an_interrupted_job_replans_its_rest_at_each_pause(ledger_url, tmp_path) -> None:
    """The stored plan resumes at +5 s; the fresh forecast at the pause says +2 s: the worker follows it."""
    from carbontrail.schedule.plan import Interruptible
    from carbontrail.schedule.queue import list_plans

    led = Ledger.open(ledger_url)
    q = JobQueue(led)
    t0 = float(int(time.time()) + 1)
    stored = _flat_then([100, 900, 900, 900, 900, 100, 100] + [900] * 20, t0, 1.0)
    fresh = _flat_then([100, 900, 50, 50, 50, 900, 900] + [900] * 20, t0, 1.0)
    job = Job(
        earliest_at=datetime.fromtimestamp(t0, UTC),
        deadline_at=datetime.fromtimestamp(t0 + 20, UTC),
        duration_s=2.0,
        interruptible=Interruptible(min_chunk_s=1.0),
        zones=("AA",),
        name="rest",
    )
    p = plan(job, Signal.single(stored), error_band_z=0)
    assert [c[0].timestamp() - t0 for c in p.chunks] == [0.0, 5.0]
    work = "import time\nt = time.process_time()\nwhile time.process_time() - t < 1.6: pass\n"
    jid = q.submit(job, [sys.executable, "-c", work], p, replan=True, job_id="rest")
    time.sleep(max(0.0, t0 - time.time()))
    seen = []

    def forecasts(zones, objective):
        seen.append(zones)
        return lambda now_s, until_s: Signal.single(fresh.window(now_s, until_s))

    stats = Worker(led, lease_s=10, poll_s=0.05, forecasts=forecasts, replan_every_s=None).run(max_jobs=1)
    assert stats.results[0]["completed"], stats.results
    done = q.get(jid)
    starts = [a - t0 for a, _ in done.result["run_intervals"]]
    assert seen and seen[0] == ("AA",)
    assert len(starts) >= 2 and starts[1] < 4.5  # resumed in the fresh cheap window, not at +5 s
    assert len(list_plans(led, job_id=jid)) >= 1
    led.close()


def test_one_forecast_serves_every_waiting_job_of_the_same_zones(ledger) -> None:
    from carbontrail.schedule.execute import SimulatedClock
    from carbontrail.schedule.queue import list_plans

    t0 = datetime(2024, 3, 1, tzinfo=UTC)
    clock = SimulatedClock(t0.timestamp())
    fc = _flat_then([500, 400, 100, 100, 450, 500, 90, 500, 500, 500, 500, 500], t0.timestamp(), 3600.0)
    calls: list[float] = []

    def forecasts(zones, objective):
        def fn(now_s, until_s):
            calls.append(until_s)
            return Signal.single(fc.window(now_s, until_s), t0)

        return fn

    q = JobQueue(ledger, clock=clock)
    ids = {}
    for hours in (5, 8):
        job = Job(earliest_at=t0, deadline_at=t0 + timedelta(hours=hours), duration_s=3600, name=f"by{hours}",
                  zones=("AA",))
        ids[hours] = q.submit(job, ["true"], plan(job, Signal.single(fc, t0)), replan=True)
    Worker(ledger, clock=clock, forecasts=forecasts).replan_queued()
    assert calls == [(t0 + timedelta(hours=8)).timestamp()]  # one forecast, to the latest deadline
    assert q.get(ids[5]).planned_start_at == t0 + timedelta(hours=2)  # 06:00's 90 g is past its deadline
    assert q.get(ids[8]).planned_start_at == t0 + timedelta(hours=6)
    [rec5] = list_plans(ledger, job_id=ids[5])
    assert len(rec5.forecast["AA"]["values_g_per_kwh"]) == 5  # its record holds the forecast it could use
