"""Execution on a simulated clock: waiting, re-planning, pausing; real child processes for signals."""

from __future__ import annotations

import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from carbontrail.errors import ScheduleError
from carbontrail.grid.series import IntensitySeries
from carbontrail.provenance import IntensityProvenance
from carbontrail.schedule.execute import (
    PauseCallback,
    ProcessRunner,
    SimulatedClock,
    SimulatedRunner,
    execute,
    wait_for_window,
)
from carbontrail.schedule.plan import Interruptible, Job, Signal

T0 = datetime(2024, 3, 1, tzinfo=UTC)
H = 3600.0


def _series(values) -> IntensitySeries:
    prov = IntensityProvenance(zone="AA", source="forecast:test", dataset="x", vintage="2024")
    return IntensitySeries(
        start_s=T0.timestamp(), step_s=H, values_g_per_kwh=np.asarray(values, float), provenance=prov
    )


def _static(values):
    """A forecast function that always returns the same forecast (cut at now)."""
    calls: list[float] = []

    def fc(now_s: float, until_s: float) -> Signal:
        calls.append(now_s)
        return Signal.single(_series(values).window(now_s, until_s), datetime.fromtimestamp(now_s, UTC))

    return fc, calls


def test_wait_for_window_sleeps_until_the_planned_start_and_replans() -> None:
    fc, calls = _static([500, 500, 500, 100, 500, 500, 500, 500])
    clock = SimulatedClock(T0.timestamp())
    job = Job(earliest_at=T0, deadline_at=T0 + timedelta(hours=8), duration_s=H)
    p = wait_for_window(job, fc, clock=clock, replan_every_s=H, error_band_z=0)
    assert clock.now() == (T0 + timedelta(hours=3)).timestamp()
    assert p.start_at == T0 + timedelta(hours=3)
    assert calls == [T0.timestamp() + i * H for i in range(4)]  # re-planned hourly and at the start


def test_forecast_updates_move_the_start() -> None:
    clock = SimulatedClock(T0.timestamp())

    # first forecast: hour 5 is best; from hour 2 on the forecast says hour 2 is best
    def fc(now_s: float, until_s: float) -> Signal:
        v = (
            [500, 500, 400, 500, 500, 100, 500, 500]
            if now_s < T0.timestamp() + 2 * H
            else [500, 500, 50, 500, 500, 300, 500, 500]
        )
        return Signal.single(_series(v).window(now_s, until_s), datetime.fromtimestamp(now_s, UTC))

    job = Job(earliest_at=T0, deadline_at=T0 + timedelta(hours=8), duration_s=H)
    plans = []
    p = wait_for_window(job, fc, clock=clock, replan_every_s=H, on_plan=plans.append, error_band_z=0)
    assert p.start_at == T0 + timedelta(hours=2)
    assert plans[0].start_at == T0 + timedelta(hours=5)


def test_run_now_decision_starts_immediately_mid_slot() -> None:
    fc, _ = _static([300] * 8)
    clock = SimulatedClock(T0.timestamp() + 600)
    job = Job(earliest_at=T0, deadline_at=T0 + timedelta(hours=8), duration_s=H)
    p = wait_for_window(job, fc, clock=clock)
    assert p.decision == "run-now" and clock.now() == T0.timestamp() + 600


def test_deadline_pressure_and_past_deadline() -> None:
    fc, _ = _static([300] * 8)
    clock = SimulatedClock(T0.timestamp() + 1800)
    job = Job(earliest_at=T0, deadline_at=T0 + timedelta(hours=1, minutes=30), duration_s=H)
    p = wait_for_window(job, fc, clock=clock)
    assert p.start_at.timestamp() == clock.now()
    late = SimulatedClock(T0.timestamp() + 3 * H)
    with pytest.raises(ScheduleError, match="deadline"):
        wait_for_window(job, fc, clock=late)


def test_execute_interruptible_job_pauses_through_the_peak() -> None:
    fc, _ = _static([100, 100, 900, 900, 100, 100, 500, 500])
    clock = SimulatedClock(T0.timestamp())
    runner = SimulatedRunner(clock, 4 * H)
    job = Job(
        earliest_at=T0,
        deadline_at=T0 + timedelta(hours=8),
        duration_s=4 * H,
        interruptible=Interruptible(min_chunk_s=H),
    )
    ex = execute(job, fc, runner, clock=clock, poll_s=600, error_band_z=0)
    assert ex.finished
    assert runner.intervals == [
        (T0.timestamp(), T0.timestamp() + 2 * H),
        (T0.timestamp() + 4 * H, T0.timestamp() + 6 * H),
    ]
    assert [(a.hour, b.hour) for a, b in ex.chunks] == [(0, 2), (4, 6)]


def test_execute_stops_when_the_work_ends_early() -> None:
    fc, _ = _static([100, 100, 900, 900, 100, 100, 500, 500])
    clock = SimulatedClock(T0.timestamp())
    runner = SimulatedRunner(clock, 1.5 * H)  # shorter than the 4 h estimate
    job = Job(
        earliest_at=T0,
        deadline_at=T0 + timedelta(hours=8),
        duration_s=4 * H,
        interruptible=Interruptible(min_chunk_s=H),
    )
    ex = execute(job, fc, runner, clock=clock, poll_s=600, error_band_z=0)
    assert ex.finished and len(runner.intervals) == 1
    assert runner.intervals[0][1] == T0.timestamp() + 1.5 * H


def test_pause_callback_checkpoints_and_waits_in_a_training_loop() -> None:
    fc, _ = _static([100, 100, 900, 900, 100, 100, 500, 500])
    clock = SimulatedClock(T0.timestamp())
    saved: list[float] = []
    job = Job(
        earliest_at=T0,
        deadline_at=T0 + timedelta(hours=8),
        duration_s=4 * H,
        interruptible=Interruptible(min_chunk_s=H),
    )
    cb = PauseCallback(job, fc, clock=clock, checkpoint=lambda: saved.append(clock.now()), error_band_z=0)
    steps = 0
    work = 0.0
    while work < 4 * H:
        cb(steps)
        clock.sleep_until(clock.now() + 60)  # one training step = 1 simulated minute
        work += 60
        steps += 1
    assert saved == [T0.timestamp() + 2 * H]
    assert cb.pauses == [(T0 + timedelta(hours=2), T0 + timedelta(hours=4))]
    with pytest.raises(ScheduleError, match="interruptible"):
        PauseCallback(Job(earliest_at=T0, deadline_at=T0 + timedelta(hours=8), duration_s=H), fc, clock=clock)


CHILD = """
import os, signal, sys, time
path = sys.argv[1]
resumed = os.environ.get("CARBONTRAIL_RESUME") == "1"
def on_term(*_):
    with open(path, "a") as fh:
        fh.write("checkpoint\\n")
    sys.exit(0)
signal.signal(signal.SIGTERM, on_term)
with open(path, "a") as fh:
    fh.write("resume\\n" if resumed else "start\\n")
for _ in range(400):
    with open(path + ".ticks", "a") as fh:
        fh.write("t")
    time.sleep(0.01)
with open(path, "a") as fh:
    fh.write("end\\n")
"""


def _ticks(p: Path) -> int:
    t = Path(str(p) + ".ticks")
    return len(t.read_text()) if t.exists() else 0


def _wait(pred, timeout=20.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.02)
    raise AssertionError("timed out")


def test_process_runner_stop_mode_freezes_the_child(tmp_path) -> None:
    log = tmp_path / "c.log"
    r = ProcessRunner([sys.executable, "-c", CHILD, str(log)], pause_mode="stop")
    r.start()
    try:
        _wait(lambda: _ticks(log) > 3)
        r.pause()
        time.sleep(0.05)
        n = _ticks(log)
        time.sleep(0.3)
        assert _ticks(log) == n  # frozen
        r.resume()
        _wait(lambda: _ticks(log) > n)
        assert not r.poll()
    finally:
        r.kill()
    assert log.read_text().splitlines() == ["start"]


def test_process_runner_term_mode_checkpoints_and_restarts(tmp_path) -> None:
    log = tmp_path / "c.log"
    r = ProcessRunner([sys.executable, "-c", CHILD, str(log)], pause_mode="term")
    r.start()
    try:
        _wait(lambda: _ticks(log) > 3)
        r.pause()
        assert r.proc is not None and r.proc.returncode == 0
        r.resume()
        _wait(lambda: log.read_text().splitlines()[-1:] == ["resume"])
        assert r.restarts == 1
    finally:
        r.kill()
    assert log.read_text().splitlines()[:3] == ["start", "checkpoint", "resume"]


def test_process_runner_errors() -> None:
    with pytest.raises(ScheduleError, match="pause_mode"):
        ProcessRunner(["true"], pause_mode="nap")
    with pytest.raises(ScheduleError, match="no command"):
        ProcessRunner([])
    r = ProcessRunner([os.path.join("/nonexistent", "cmd")])
    with pytest.raises(ScheduleError, match="cannot start"):
        r.start()
