"""Carbon-aware scheduling: plan deferrable work into low-carbon windows, wait, run, pause, resume.

The planning maths (:mod:`carbontrail.schedule.plan`) is pure; execution
(:mod:`carbontrail.schedule.execute`) and the persistent queue (:mod:`carbontrail.schedule.queue`)
are adapters that take a clock and a ledger.
"""

from carbontrail.schedule.plan import Interruptible, Job, Plan, Signal, plan

__all__ = ["Interruptible", "Job", "Plan", "Signal", "plan"]
