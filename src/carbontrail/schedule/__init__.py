"""Carbon-aware scheduling: plan deferrable work into low-carbon windows, wait, run, pause, resume.

The planning maths (:mod:`carbontrail.schedule.plan`) is pure; execution
(:mod:`carbontrail.schedule.execute`) takes a clock and a forecast function; the persistent queue
and plan records (:mod:`carbontrail.schedule.queue`) and workers (:mod:`carbontrail.schedule.worker`)
live on the ledger database (loaded lazily: ``import carbontrail.schedule`` does not import SQLAlchemy).
"""

from __future__ import annotations

from typing import Any

from carbontrail.schedule.execute import (
    PauseCallback,
    ProcessRunner,
    SimulatedClock,
    SystemClock,
    execute,
    wait_for_window,
)
from carbontrail.schedule.plan import Interruptible, Job, Plan, Signal, plan

__all__ = [
    "Interruptible",
    "Job",
    "JobQueue",
    "PauseCallback",
    "Plan",
    "PlanRecord",
    "ProcessRunner",
    "Signal",
    "SimulatedClock",
    "SystemClock",
    "Worker",
    "execute",
    "list_plans",
    "plan",
    "record_plan",
    "wait_for_window",
]

_LAZY = {
    "JobQueue": "carbontrail.schedule.queue",
    "PlanRecord": "carbontrail.schedule.queue",
    "list_plans": "carbontrail.schedule.queue",
    "record_plan": "carbontrail.schedule.queue",
    "Worker": "carbontrail.schedule.worker",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'carbontrail.schedule' has no attribute {name!r}")
