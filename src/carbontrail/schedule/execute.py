"""Execution: wait for the planned window, run, pause and resume — re-planning as forecasts update.

Everything here takes a :class:`Clock` (``SystemClock`` in production, :class:`SimulatedClock` in
tests, demos and benchmarks) and a *forecast function* ``forecast(now_s, until_s) -> Signal`` that
returns the forecast available at ``now_s`` (so a simulated run sees exactly what a live one would).

* :func:`wait_for_window` blocks until the plan says "start now", re-planning every
  ``replan_every_s`` as forecasts update; it returns the plan in force at the start.
* :func:`execute` runs a job through a :class:`Runner` (start, pause, resume, poll): contiguous jobs
  run once; interruptible jobs run the plan's first chunk, pause, and re-plan the remaining work
  (with its checkpoint overhead and remaining pause budget) until the work is done. A job that
  finishes early ends the loop; a job that runs longer than its estimate is left to finish.
* :class:`ProcessRunner` runs a command as a child process; pauses are ``SIGSTOP``/``SIGCONT``
  (``pause_mode="stop"``) or ``SIGTERM`` then a restart (``pause_mode="term"``: the program
  checkpoints on SIGTERM and resumes from its checkpoint when started again).
* :class:`PauseCallback` is a training-loop hook: call it every step; at the plan's boundaries it
  calls your ``checkpoint()`` and waits (through the clock) until the next low-carbon chunk.
"""

from __future__ import annotations

import logging
import math
import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from carbontrail.errors import ScheduleError
from carbontrail.schedule.plan import Interruptible, Job, Objective, Plan, Signal, plan

__all__ = [
    "Clock",
    "Execution",
    "ForecastFn",
    "PauseCallback",
    "ProcessRunner",
    "Runner",
    "SimulatedClock",
    "SimulatedRunner",
    "SystemClock",
    "TrackedRunner",
    "execute",
    "rest_of",
    "wait_for_window",
    "work_left_s",
]

log = logging.getLogger(__name__)

#: ``forecast(now_s, until_s)``: the signal available at ``now_s`` covering up to ``until_s``
ForecastFn = Callable[[float, float], Signal]


class Clock(Protocol):
    """Time source: ``now()`` in POSIX seconds (UTC) and ``sleep_until(t_s)``."""

    def now(self) -> float: ...

    def sleep_until(self, t_s: float) -> None: ...


class SystemClock:
    """The real clock (``time.time``, ``time.sleep``)."""

    def now(self) -> float:
        return time.time()

    def sleep_until(self, t_s: float) -> None:
        while True:
            d = t_s - time.time()
            if d <= 0:
                return
            time.sleep(min(d, 60.0))


class SimulatedClock:
    """A clock that jumps: ``sleep_until`` sets the time (tests, demos, benchmarks)."""

    def __init__(self, start_s: float) -> None:
        self.t_s = float(start_s)
        self.sleeps: list[tuple[float, float]] = []

    def now(self) -> float:
        return self.t_s

    def sleep_until(self, t_s: float) -> None:
        if t_s > self.t_s:
            self.sleeps.append((self.t_s, t_s))
            self.t_s = float(t_s)


def _dt(t_s: float) -> datetime:
    return datetime.fromtimestamp(t_s, UTC)


def _step_of(sig: Signal) -> float:
    return min(float(s.step_s) for s in sig.forecasts.values())


def wait_for_window(
    job: Job,
    forecast: ForecastFn,
    *,
    clock: Clock,
    replan_every_s: float = 3600.0,
    on_plan: Callable[[Plan], None] | None = None,
    min_saving_rel: float = 0.0,
    error_band_z: float = 0.5,
    objective: Objective = "emissions",
) -> Plan:
    """Wait (on ``clock``) until the job should start; return the plan in force at that moment.

    Re-plans with a fresh forecast at least every ``replan_every_s`` seconds and at every planned
    start. If the deadline no longer leaves room on the forecast's slot grid, the job starts at
    once (the plan's reason says so). ``on_plan`` sees every plan made (for recording).
    """
    first = True
    while True:
        now = clock.now()
        deadline = job.deadline_at.timestamp()
        if now >= deadline:
            raise ScheduleError(f"{job.name}: the deadline {job.deadline_at.isoformat()} has passed")
        ref = job.run_now_at.timestamp() if job.run_now_at else now
        j = replace(
            job,
            earliest_at=_dt(max(job.earliest_at.timestamp(), now)),
            run_now_at=_dt(max(ref, now)),
        )
        sig = forecast(now, deadline)
        try:
            # the run-now guard judges the first decision only: once waiting, follow the forecast
            p = plan(
                j,
                sig,
                min_saving_rel=min_saving_rel if first else 0.0,
                error_band_z=error_band_z if first else 0.0,
                objective=objective,
            )
            first = False
        except ScheduleError as exc:
            if j.earliest_at.timestamp() > now:
                clock.sleep_until(j.earliest_at.timestamp())
                continue
            log.warning("%s: %s; starting now", job.name, exc)
            p = _start_now_plan(j, sig, f"starting at once: {exc}")
        if on_plan is not None:
            on_plan(p)
        if p.decision == "run-now":
            # run at the reference time: now, or a later nominal time (e.g. a nightly job's 01:00)
            ref_at = j.run_now_at.timestamp() if j.run_now_at else now
            if ref_at > now + 1e-6:
                clock.sleep_until(ref_at)
            return p
        start = p.start_at.timestamp()
        step = _step_of(sig)
        if start <= now + 1e-6 or (start - now < step and not _is_boundary(now, step)):
            if start > now + 1e-6:
                clock.sleep_until(start)
            return p
        clock.sleep_until(min(start, now + replan_every_s))


def _is_boundary(t: float, step: float) -> bool:
    r = t % step
    return r < 1e-6 or step - r < 1e-6


def _start_now_plan(job: Job, sig: Signal, reason: str) -> Plan:
    now = job.earliest_at
    end = _dt(now.timestamp() + float(job.duration_s or 0))
    zone = (job.zones or tuple(sig.forecasts))[0]
    return Plan(
        zone=zone, chunks=((now, end),), expected_emissions_g=math.nan, run_now_emissions_g=math.nan,
        saving_g=0.0, saving_pct=0.0, uncertainty_g=math.nan, energy_j=job.energy_j, decision="run-now",
        reason=reason, forecast_generated_at=sig.generated_at,
        forecast_source=next(iter(sig.forecasts.values())).provenance.source, best_shift_chunks=((now, end),),
    )


class Runner(Protocol):
    """What :func:`execute` drives. ``poll()`` returns True once the work has finished."""

    def start(self) -> None: ...

    def pause(self) -> None: ...

    def resume(self) -> None: ...

    def poll(self) -> bool: ...

    def finish(self) -> None: ...


@dataclass
class Execution:
    """What happened: the chunks actually run (UTC), every plan made, and whether the work finished."""

    chunks: list[tuple[datetime, datetime]] = field(default_factory=list)
    plans: list[Plan] = field(default_factory=list)
    finished: bool = False

    @property
    def first_plan(self) -> Plan | None:
        return self.plans[0] if self.plans else None


def execute(
    job: Job,
    forecast: ForecastFn,
    runner: Runner,
    *,
    clock: Clock,
    replan_every_s: float = 3600.0,
    poll_s: float = 5.0,
    on_plan: Callable[[Plan], None] | None = None,
    min_saving_rel: float = 0.0,
    error_band_z: float = 0.5,
    objective: Objective = "emissions",
) -> Execution:
    """Wait for the window, run, and (for interruptible jobs) pause and resume at the plan's boundaries.

    The runner is polled every ``poll_s`` seconds of clock time while a chunk runs. After the
    estimated work is done the job is left running until it finishes by itself.
    """
    ex = Execution()

    def record(p: Plan) -> None:
        ex.plans.append(p)
        if on_plan is not None:
            on_plan(p)

    remaining = float(job.duration_s or 0.0)
    started = False
    pauses = 0
    cur = job
    while True:
        p = wait_for_window(
            cur, forecast, clock=clock, replan_every_s=replan_every_s, on_plan=record,
            min_saving_rel=min_saving_rel, error_band_z=error_band_z, objective=objective,
        )
        b = p.chunks[0][1]
        t0 = clock.now()
        if not started:
            runner.start()
            started = True
        else:
            runner.resume()
        last_chunk = len(p.chunks) == 1
        end = b.timestamp() if not last_chunk else math.inf
        done = False
        while True:
            now = clock.now()
            if runner.poll():
                done = True
                break
            if now >= end - 1e-6:
                break
            clock.sleep_until(min(end, now + poll_s))
        t1 = clock.now()
        ex.chunks.append((_dt(t0), _dt(t1)))
        if done:
            ex.finished = True
            runner.finish()
            return ex
        # pause at the boundary and re-plan the rest
        runner.pause()
        remaining = work_left_s(job, remaining, t1 - t0, resumed=pauses > 0)
        pauses += 1
        cur = rest_of(job, remaining, pauses, t1)


def work_left_s(job: Job, remaining_s: float, ran_s: float, *, resumed: bool) -> float:
    """Work left after a chunk of ``ran_s`` seconds (a resumed chunk first spent its restore overhead).

    When the estimate runs out before the job finishes, the job keeps going for another minimum
    chunk (or a minute) in the next window.
    """
    it = job.interruptible or Interruptible()
    left = remaining_s - max(0.0, ran_s - (it.checkpoint_overhead_s if resumed else 0.0))
    return left if left > 0 else (it.min_chunk_s or 60.0)


def rest_of(job: Job, remaining_s: float, pauses: int, now_s: float) -> Job:
    """The rest of an interrupted ``job`` as a job of its own: ``remaining_s`` of work from ``now_s``.

    The next chunk pays the restore overhead; the pauses left shrink by ``pauses`` (none left: the
    rest runs in one go).
    """
    it = job.interruptible or Interruptible()
    left_pauses = None if it.max_pauses is None else max(0, it.max_pauses - pauses)
    return replace(
        job,
        earliest_at=_dt(now_s),
        run_now_at=None,
        duration_s=remaining_s + it.checkpoint_overhead_s,
        power_profile_w=None,
        interruptible=replace(it, max_pauses=left_pauses) if left_pauses != 0 else None,
    )


class SimulatedRunner:
    """A runner for simulations: ``work_s`` seconds of work, done on ``clock`` time.

    ``intervals`` lists the ``(start_s, end_s)`` spans of actual work, the last one cut at the
    moment the work completed.
    """

    def __init__(self, clock: Clock, work_s: float) -> None:
        self.clock = clock
        self.work_s = float(work_s)
        self.intervals: list[tuple[float, float]] = []
        self._since: float | None = None
        self._done_s = 0.0

    def start(self) -> None:
        self._since = self.clock.now()

    resume = start

    def _close(self, t: float) -> None:
        if self._since is not None:
            self.intervals.append((self._since, t))
            self._done_s += t - self._since
            self._since = None

    def pause(self) -> None:
        self._close(self.clock.now())

    def poll(self) -> bool:
        if self._since is None:
            return self._done_s >= self.work_s - 1e-6
        need = self.work_s - self._done_s
        if self.clock.now() - self._since >= need - 1e-6:
            self._close(self._since + need)
            return True
        return False

    def finish(self) -> None:
        return None


class ProcessRunner:
    """Run ``argv`` as a child process that can be paused and resumed.

    Args:
        argv: the command.
        pause_mode: ``"stop"`` (SIGSTOP/SIGCONT, memory kept) or ``"term"`` (SIGTERM, the program
            checkpoints and exits; it is started again to resume).
        env: extra environment; ``CARBONTRAIL_RESUME=1`` is set on restarts in term mode.
        term_timeout_s: how long to wait for the program to exit after SIGTERM before SIGKILL.
    """

    def __init__(
        self,
        argv: Sequence[str],
        *,
        pause_mode: str = "stop",
        env: dict[str, str] | None = None,
        term_timeout_s: float = 60.0,
        on_start: Callable[[subprocess.Popen[bytes]], None] | None = None,
    ) -> None:
        if pause_mode not in ("stop", "term"):
            raise ScheduleError(f"pause_mode must be 'stop' or 'term', got {pause_mode!r}")
        if not argv:
            raise ScheduleError("no command given")
        self.argv = list(argv)
        self.pause_mode = pause_mode
        self.env = env or {}
        self.term_timeout_s = term_timeout_s
        self.proc: subprocess.Popen[bytes] | None = None
        self.returncode: int | None = None
        self.restarts = 0
        self._on_start = on_start
        self._terminated_by_us = False

    def _spawn(self, resume: bool) -> None:
        env = {**os.environ, **self.env}
        if resume:
            env["CARBONTRAIL_RESUME"] = "1"
        try:
            self.proc = subprocess.Popen(self.argv, env=env)
        except OSError as exc:
            raise ScheduleError(f"cannot start {self.argv[0]!r}: {exc}") from exc
        if self._on_start is not None:
            self._on_start(self.proc)

    def start(self) -> None:
        self._spawn(resume=False)

    def pause(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        if self.pause_mode == "stop":
            self.proc.send_signal(signal.SIGSTOP)
        else:
            self._terminated_by_us = True
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(self.term_timeout_s)
            except subprocess.TimeoutExpired:
                log.warning("%s did not exit %ss after SIGTERM; killing it", self.argv[0], self.term_timeout_s)
                self.proc.kill()
                self.proc.wait()

    def resume(self) -> None:
        if self.pause_mode == "stop":
            if self.proc is not None and self.proc.poll() is None:
                self.proc.send_signal(signal.SIGCONT)
        else:
            self.restarts += 1
            self._terminated_by_us = False
            self._spawn(resume=True)

    def poll(self) -> bool:
        if self.proc is None:
            return False
        rc = self.proc.poll()
        if rc is None:
            return False
        self.returncode = rc
        return True

    def finish(self) -> None:
        if self.proc is not None:
            self.returncode = self.proc.wait()

    def kill(self) -> None:
        """Stop the child for good (on our own shutdown)."""
        if self.proc is not None and self.proc.poll() is None:
            if self.pause_mode == "stop":
                self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
            self.proc.wait()


class TrackedRunner:
    """Wraps a :class:`Runner` so that every chunk it runs is a tracked span (energy per time bucket).

    Uses :class:`carbontrail.meter.track.Tracker`; ``records`` holds the closed spans'
    :class:`~carbontrail.span.SpanRecord` (energy, buckets) once each chunk ends.
    """

    def __init__(
        self, inner: Runner, *, name: str, zone: str | None, settings: object = None, ledger: object = None,
        kind: str = "other", tracker: object = None,
    ) -> None:
        from carbontrail.meter.track import Tracker

        self.inner = inner
        self.name = name
        self.zone = zone
        self.kind = kind
        self.tracker = tracker or Tracker(settings, ledger=ledger)  # type: ignore[arg-type]
        self.records: list[Any] = []
        self._span: object = None

    def _open(self) -> None:
        self._span = self.tracker.start(self.name, kind=self.kind, zone=self.zone)  # type: ignore[attr-defined]

    def _close(self, status: str = "ok") -> None:
        if self._span is not None:
            self.records.append(self._span.stop(status=status))  # type: ignore[attr-defined]
            self._span = None

    def start(self) -> None:
        self._open()
        self.inner.start()

    def resume(self) -> None:
        self._open()
        self.inner.resume()

    def pause(self) -> None:
        self.inner.pause()
        self._close()

    def poll(self) -> bool:
        return self.inner.poll()

    def finish(self) -> None:
        self.inner.finish()
        rc = getattr(self.inner, "returncode", 0)
        self._close("ok" if not rc else ("killed" if rc < 0 else "failed"))

    def close(self) -> None:
        """Stop any open span and flush the tracker's journal to the ledger."""
        self._close("killed")
        self.tracker.close()  # type: ignore[attr-defined]


class PauseCallback:
    """A training-loop hook that checkpoints and pauses through high-intensity periods.

    Call it once per step (``callback(step)``); it returns quickly while the current chunk runs.
    At a chunk's planned end it calls ``checkpoint()``, waits on ``clock`` until the next planned
    chunk (re-planning the remaining work then), and returns. ``job`` describes the whole training
    run (estimated duration, deadline, interruptible settings); the first call starts the clock on
    the work done.
    """

    def __init__(
        self,
        job: Job,
        forecast: ForecastFn,
        *,
        clock: Clock,
        checkpoint: Callable[[], None] | None = None,
        replan_every_s: float = 3600.0,
        error_band_z: float = 0.5,
    ) -> None:
        if job.interruptible is None:
            raise ScheduleError("PauseCallback needs an interruptible job (min chunk, max pauses)")
        self.job = job
        self.forecast = forecast
        self.clock = clock
        self.checkpoint = checkpoint
        self.replan_every_s = replan_every_s
        self.error_band_z = error_band_z
        self.plans: list[Plan] = []
        self.pauses: list[tuple[datetime, datetime]] = []
        self._done_s = 0.0
        self._chunk_start: float | None = None
        self._chunk_end = math.inf

    def _plan_next(self) -> None:
        it = self.job.interruptible or Interruptible()
        remaining = max(float(self.job.duration_s or 0) - self._done_s, it.min_chunk_s or 60.0)
        used = len(self.pauses)
        left = None if it.max_pauses is None else max(0, it.max_pauses - used)
        overhead = it.checkpoint_overhead_s if used else 0.0
        job = replace(
            self.job,
            earliest_at=_dt(max(self.clock.now(), self.job.earliest_at.timestamp())),
            run_now_at=None,
            duration_s=remaining + overhead,
            interruptible=replace(it, max_pauses=left) if left != 0 else None,
        )
        p = wait_for_window(
            job, self.forecast, clock=self.clock, replan_every_s=self.replan_every_s,
            on_plan=self.plans.append, error_band_z=self.error_band_z,
        )
        self._chunk_start = self.clock.now()
        self._chunk_end = p.chunks[0][1].timestamp() if len(p.chunks) > 1 else math.inf

    def __call__(self, step: int | None = None) -> None:
        if self._chunk_start is None:
            self._plan_next()
            return
        now = self.clock.now()
        if now < self._chunk_end:
            return
        self._done_s += now - self._chunk_start
        if self.checkpoint is not None:
            self.checkpoint()
        t0 = now
        self._plan_next()
        self.pauses.append((_dt(t0), _dt(self.clock.now())))
