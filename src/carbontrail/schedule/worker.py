"""``carbontrail worker``: launch queued jobs at their planned time, locally or on a Dask cluster.

A worker loops: claim a due job (an atomic lease in the ledger), run it through its planned chunks
(start, pause, resume — ``SIGSTOP``/``SIGCONT`` or ``SIGTERM`` and restart, as the job asks) while a
heartbeat thread renews the lease, then complete it with the lease token. The child process is
bound to its worker (``PR_SET_PDEATHSIG`` on Linux), so when a worker is killed (``kill -9``) its
job dies with it, the lease expires, and another worker runs the job again from the start; the
stale worker can never complete it, so every job completes exactly once.

With ``dask_address`` the claimed job is run by :func:`run_claimed` as a task on the Dask cluster
(each task opens the ledger itself and heartbeats its own lease), so many machines draw from one
queue on PostgreSQL.
"""

from __future__ import annotations

import logging
import math
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from carbontrail.errors import CarbontrailError, ConfigError
from carbontrail.grid.series import IntensitySeries
from carbontrail.schedule.execute import Clock, ForecastFn, ProcessRunner, SystemClock, rest_of, work_left_s
from carbontrail.schedule.plan import Job, Signal
from carbontrail.schedule.queue import JobQueue, QueuedJob, job_from_spec, worker_name

__all__ = ["ForecastFactory", "Worker", "WorkerStats", "run_claimed", "settings_forecasts"]

log = logging.getLogger(__name__)

#: ``factory(zones, objective)`` -> the forecast function used to (re-)plan jobs in those zones
ForecastFactory = Callable[[tuple[str, ...], str], ForecastFn]


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class _BoundRunner(ProcessRunner):
    """A :class:`ProcessRunner` whose child is killed when the worker dies."""

    def _spawn(self, resume: bool) -> None:
        import os

        env = {**os.environ, **self.env}
        if resume:
            env["CARBONTRAIL_RESUME"] = "1"
        try:
            self.proc = subprocess.Popen(self.argv, env=env, preexec_fn=_die_with_parent)
        except OSError as exc:
            raise CarbontrailError(f"cannot start {self.argv[0]!r}: {exc}") from exc


def run_claimed(
    ledger_url: str,
    job: QueuedJob,
    *,
    worker_id: str,
    lease_s: float = 30.0,
    heartbeat_s: float | None = None,
    clock: Clock | None = None,
    track: bool = True,
    forecasts: ForecastFactory | None = None,
) -> dict[str, Any]:
    """Run a claimed job through its planned chunks and complete it. Usable as a Dask task.

    A job queued with ``replan`` has the rest of its work re-planned at every pause, on a fresh
    forecast of the zone it runs in (``forecasts``; default :func:`settings_forecasts`), and every
    such plan is recorded against the job.

    With ``track`` every chunk is a tracked span, and the plan's realised energy and emissions
    (energy per bucket × the zone's actual intensity, where a bundled series covers the run) are
    recorded against the job's plan.

    Returns ``{"job_id", "returncode", "completed", "lost_lease"}``.
    """
    from carbontrail.ledger import Ledger

    clk = clock or SystemClock()
    ledger = Ledger.open(ledger_url, upgrade=False)
    try:
        q = JobQueue(ledger)
        hb = heartbeat_s or max(0.2, lease_s / 3.0)
        token = job.lease_token or ""
        lost = threading.Event()
        stop = threading.Event()
        inner = _BoundRunner(job.argv, pause_mode=str(job.spec.get("pause_mode", "stop")))
        runner: Any = inner
        if track:
            from carbontrail.config import load_settings
            from carbontrail.schedule.execute import TrackedRunner

            runner = TrackedRunner(inner, name=job.name, zone=job.zone, settings=load_settings(), ledger=ledger)

        def beat() -> None:
            while not stop.wait(hb):
                try:
                    ok = q.heartbeat(job.job_id, token, lease_s=lease_s)
                except CarbontrailError as exc:
                    log.warning("heartbeat for %s failed: %s", job.job_id, exc)
                    continue
                if not ok:
                    lost.set()
                    inner.kill()
                    return

        th = threading.Thread(target=beat, name=f"heartbeat-{job.job_id[:8]}", daemon=True)
        th.start()
        pending = job.chunks or [(datetime.now(UTC), job.deadline_at)]
        replan = bool(job.spec.get("replan")) and job.zone is not None and len(pending) > 1
        jdef = job_from_spec(job.spec)
        remaining = float(jdef.duration_s or 0.0)
        rc: int | None = None
        spans: list[tuple[float, float]] = []
        try:
            pauses = 0
            while pending:
                a, b = pending.pop(0)
                if not spans:
                    # a job claimed late starts now; later chunks keep their planned times
                    runner.start()
                else:
                    _sleep_until(clk, a.timestamp(), lost)
                    if lost.is_set():
                        break
                    runner.resume()
                t0 = clk.now()
                while not lost.is_set():
                    if runner.poll():
                        rc = inner.returncode
                        break
                    if pending and clk.now() >= b.timestamp():
                        break
                    time.sleep(0.05)
                spans.append((t0, clk.now()))
                if rc is not None or lost.is_set():
                    break
                runner.pause()
                if runner.poll() and inner.pause_mode == "stop":
                    rc = inner.returncode
                    break
                remaining = work_left_s(jdef, remaining, spans[-1][1] - t0, resumed=pauses > 0)
                pauses += 1
                if replan:
                    pending = _replan_rest(ledger, job, jdef, remaining, pauses, clk, forecasts) or pending
        finally:
            stop.set()
            th.join()
            if rc is None:
                inner.kill()
            if track:
                if rc is not None:
                    runner.finish()
                runner.close()
        if lost.is_set() or rc is None:
            return {"job_id": job.job_id, "returncode": rc, "completed": False, "lost_lease": True}
        completed = q.complete(
            job.job_id,
            token,
            returncode=int(rc),
            result={"worker": worker_id, "run_intervals": spans, "restarts": inner.restarts},
        )
        if completed and track and job.plan_id:
            _record_realised(ledger, job, runner.records)
        return {"job_id": job.job_id, "returncode": rc, "completed": completed, "lost_lease": not completed}
    finally:
        ledger.close()


def settings_forecasts(zones: tuple[str, ...], objective: str) -> ForecastFn:
    """The default forecasts of a worker: :class:`ForecastSource` on this machine's settings."""
    from carbontrail.config import load_settings
    from carbontrail.schedule.signals import ForecastSource

    return ForecastSource(zones, settings=load_settings(), objective=objective)


def _replan_rest(
    ledger: Any,
    job: QueuedJob,
    jdef: Job,
    remaining_s: float,
    pauses: int,
    clock: Clock,
    forecasts: ForecastFactory | None,
) -> list[tuple[datetime, datetime]] | None:
    """Chunks for the rest of ``job`` on a fresh forecast of its zone; ``None``: keep the stored ones."""
    from carbontrail.schedule.plan import plan
    from carbontrail.schedule.queue import record_plan

    now = clock.now()
    zone = job.zone or ""
    objective = str(job.spec.get("objective", "emissions"))
    rest = replace(rest_of(jdef, remaining_s, pauses, now), zones=(zone,))
    try:
        sig = (forecasts or settings_forecasts)((zone,), objective)(now, jdef.deadline_at.timestamp())
        p = plan(rest, sig, error_band_z=0.0, objective=objective)  # type: ignore[arg-type]
    except CarbontrailError as exc:
        log.warning("job %s: cannot re-plan the rest (%s); keeping the stored chunks", job.job_id, exc)
        return None
    try:
        record_plan(ledger, p, sig, job=rest, job_id=job.job_id, clock=clock)
    except CarbontrailError as exc:
        log.warning("job %s: plan not recorded: %s", job.job_id, exc)
    return list(p.chunks)


def _cut(sig: Signal, until_s: float) -> Signal:
    """``sig`` up to ``until_s`` (what one job's plan used, for its record)."""

    def cut(series: Mapping[str, IntensitySeries]) -> dict[str, IntensitySeries]:
        return {z: s.window(s.start_s, min(until_s, s.end_s)) for z, s in series.items()}

    return Signal(cut(sig.forecasts), sig.generated_at, renewable_share=cut(sig.renewable_share))


def _record_realised(ledger: Any, job: QueuedJob, records: list[Any]) -> None:
    from carbontrail.schedule.queue import realised_for_plan, record_realised

    buckets = [b for r in records for b in r.buckets]
    energy = sum(r.energy_j for r in records)
    real = now = None
    if job.zone and buckets:
        try:
            from carbontrail.grid.bundled import load_series

            series = load_series(job.zone)
            width = buckets[1][0] - buckets[0][0] if len(buckets) > 1 else 300.0
            ref = datetime.fromisoformat(job.spec["earliest_at"]).timestamp()
            real, now = realised_for_plan(buckets, series, run_now_s=ref, bucket_s=width)
        except CarbontrailError as exc:
            log.info("no actual intensity for %s: %s", job.zone, exc)
    try:
        record_realised(ledger, job.plan_id or "", realised_emissions_g=real, realised_run_now_emissions_g=now,
                        energy_j=energy, span_ids=[r.span_id for r in records])
    except CarbontrailError as exc:
        log.warning("could not record realised emissions of job %s: %s", job.job_id, exc)


def _sleep_until(clock: Clock, t_s: float, stop: threading.Event) -> None:
    while not stop.is_set():
        d = t_s - clock.now()
        if d <= 0:
            return
        stop.wait(min(d, 0.5))


@dataclass
class WorkerStats:
    """What a worker did: jobs claimed and their results."""

    claimed: list[str] = field(default_factory=list)
    results: list[dict[str, Any]] = field(default_factory=list)


class Worker:
    """Draws due jobs from the queue in ``ledger`` and runs them.

    Args:
        ledger: an open :class:`carbontrail.ledger.Ledger`.
        worker_id: name recorded as lease owner (default ``host:pid``).
        lease_s: lease length; a job whose worker sends no heartbeat for this long is re-queued.
        heartbeat_s: heartbeat period (default a third of the lease).
        poll_s: how long to sleep when nothing is due.
        dask_address: run jobs on this Dask scheduler instead of locally (needs ``carbontrail[dask]``).
        dask_client: an existing ``distributed.Client`` (tests use a ``LocalCluster``).
        zones: run only jobs planned in these zones (the zones this worker's machines are in);
            ``None``: any job.
        replan_every_s: re-plan queued jobs (submitted with ``replan``) on fresh forecasts when their
            last plan is older than this; ``None`` or 0: never.
        forecasts: ``factory(zones, objective)`` -> forecast function (default: this machine's
            settings: live providers, else the built-in forecaster over the zone's history).
        clock: time source (default: the system clock).
    """

    def __init__(
        self,
        ledger: Any,
        *,
        worker_id: str | None = None,
        lease_s: float = 30.0,
        heartbeat_s: float | None = None,
        poll_s: float = 5.0,
        dask_address: str | None = None,
        dask_client: Any = None,
        zones: tuple[str, ...] | None = None,
        replan_every_s: float | None = 900.0,
        forecasts: ForecastFactory | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.ledger = ledger
        self.worker_id = worker_id or worker_name()
        self.lease_s = lease_s
        self.heartbeat_s = heartbeat_s
        self.poll_s = poll_s
        self.zones = tuple(zones) if zones else None
        self.replan_every_s = replan_every_s or 0.0
        self.forecasts = forecasts or settings_forecasts
        self.clock = clock or SystemClock()
        self.queue = JobQueue(ledger, clock=clock)
        self._last_replan_s = -math.inf
        self.stats = WorkerStats()
        self._client = dask_client
        if dask_address is not None and dask_client is None:
            try:
                from distributed import Client
            except ImportError as exc:
                raise ConfigError("--dask needs the dask extra: pip install 'carbontrail[dask]'") from exc
            self._client = Client(dask_address, timeout="30s")
        self._futures: list[Any] = []

    def _slots(self) -> int:
        if self._client is None:
            return 1
        info = self._client.scheduler_info()
        return max(1, sum(int(w.get("nthreads", 1)) for w in info.get("workers", {}).values()))

    def _collect(self) -> None:
        still = []
        for f in self._futures:
            if f.done():
                try:
                    self.stats.results.append(f.result())
                except Exception as exc:  # a task that raised: its lease expires and the job is re-run
                    log.warning("dask task failed: %s", exc)
                    self.stats.results.append({"error": str(exc)})
            else:
                still.append(f)
        self._futures = still

    def replan_queued(self) -> int:
        """Re-plan the queued jobs whose last plan is older than ``replan_every_s``; return how many moved.

        Each job is planned again from now to its deadline over its candidate zones (it may move to
        another zone, where a worker of that zone will take it). The run-now guard judged the first
        decision at submit time; a waiting job follows the fresh forecast. Jobs claimed meanwhile
        are left alone (:meth:`JobQueue.replan` is optimistic).
        """
        from carbontrail.schedule.plan import plan

        now = self.clock.now()
        due: dict[tuple[tuple[str, ...], str], list[tuple[QueuedJob, Job]]] = {}
        for qj in self.queue.jobs(status="queued"):
            spec = qj.spec
            last = spec.get("replanned_at")
            fresh = last and now - datetime.fromisoformat(last).timestamp() < self.replan_every_s
            if not spec.get("replan") or fresh:
                continue
            jdef = job_from_spec(spec)
            if jdef.deadline_at.timestamp() > now:
                due.setdefault((jdef.zones, str(spec.get("objective", "emissions"))), []).append((qj, jdef))
        moved = 0
        for (zones, objective), group in due.items():
            # one forecast per set of zones, as far as the latest deadline; each job plans on its own window
            until = max(jdef.deadline_at.timestamp() for _, jdef in group)
            try:
                full = self.forecasts(zones, objective)(now, until)
            except CarbontrailError as exc:
                log.warning("%d job(s) in %s not re-planned: %s", len(group), ", ".join(zones), exc)
                continue
            for qj, jdef in group:
                sig = _cut(full, jdef.deadline_at.timestamp())
                ref = (jdef.run_now_at or jdef.earliest_at).timestamp()
                at = datetime.fromtimestamp(now, UTC)
                j = replace(
                    jdef, earliest_at=max(jdef.earliest_at, at), run_now_at=datetime.fromtimestamp(max(ref, now), UTC)
                )
                try:
                    p = plan(j, sig, error_band_z=0.0, objective=objective)  # type: ignore[arg-type]
                except CarbontrailError as exc:
                    log.warning("job %s not re-planned: %s", qj.job_id, exc)
                    continue
                if self.queue.replan(qj, p, sig) and (p.start_at != qj.planned_start_at or p.zone != qj.zone):
                    moved += 1
                    log.info("job %s re-planned: %s in %s", qj.job_id, p.start_at.isoformat(), p.zone)
        return moved

    def run_once(self) -> bool:
        """Claim and run (or submit) one due job; ``False`` when nothing is due or no slot is free."""
        if self.replan_every_s and self.clock.now() - self._last_replan_s >= self.replan_every_s:
            self._last_replan_s = self.clock.now()
            self.replan_queued()
        if self._client is not None:
            self._collect()
            if len(self._futures) >= self._slots():
                return False
        job = self.queue.claim(self.worker_id, lease_s=self.lease_s, zones=self.zones)
        if job is None:
            return False
        self.stats.claimed.append(job.job_id)
        log.info("worker %s runs job %s (%s)", self.worker_id, job.job_id, job.name)
        if self._client is None:
            res = run_claimed(
                self.ledger.url,
                job,
                worker_id=self.worker_id,
                lease_s=self.lease_s,
                heartbeat_s=self.heartbeat_s,
                clock=self.clock,
                forecasts=self.forecasts,
            )
            self.stats.results.append(res)
        else:
            fut = self._client.submit(
                run_claimed,
                self.ledger.url,
                job,
                worker_id=f"{self.worker_id}/dask",
                lease_s=self.lease_s,
                heartbeat_s=self.heartbeat_s,
                pure=False,
                key=f"carbontrail-job-{job.job_id}-{job.attempts}",
            )
            self._futures.append(fut)
        return True

    def run(
        self,
        *,
        stop: threading.Event | None = None,
        max_jobs: int | None = None,
        until_idle: bool = False,
        sleep: Callable[[float], None] | None = None,
    ) -> WorkerStats:
        """Loop until ``stop`` is set, ``max_jobs`` were claimed, or (``until_idle``) nothing is left."""
        stop = stop or threading.Event()
        wait = sleep or stop.wait
        while not stop.is_set():
            if max_jobs is not None and len(self.stats.claimed) >= max_jobs:
                break
            if self.run_once():
                continue
            if until_idle and not self._futures and not self.queue.jobs(status="queued") and not self.queue.jobs(
                status="running"
            ):
                break
            if self._client is not None and self._futures:
                wait(min(self.poll_s, 0.2))
            else:
                wait(self.poll_s)
        if self._client is not None:
            for f in self._futures:
                try:
                    self.stats.results.append(f.result())
                except Exception as exc:
                    self.stats.results.append({"error": str(exc)})
            self._futures = []
        return self.stats
