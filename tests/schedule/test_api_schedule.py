"""The public surface of carbontrail.schedule is pinned."""

from __future__ import annotations

import subprocess
import sys

import carbontrail.schedule as sched


def test_all_is_pinned_and_resolves() -> None:
    assert sched.__all__ == [
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
    for name in sched.__all__:
        assert getattr(sched, name) is not None


def test_import_does_not_load_the_database_layer() -> None:
    code = "import sys, carbontrail.schedule; print('sqlalchemy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
