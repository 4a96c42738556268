"""The persistent queue of deferred jobs and the record of every plan, in the ledger database.

* :class:`JobQueue` — ``submit`` a job with its plan; workers ``claim`` due jobs atomically
  (``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite), hold a
  lease renewed by ``heartbeat``, and ``complete`` with the lease token. A job whose worker died
  (no heartbeat before the lease expires) is claimable again; a completion with a stale token is
  refused, so a job completes exactly once. After ``max_attempts`` lost leases the job fails.
* :func:`record_plan`, :func:`record_realised`, :func:`list_plans` — every plan with the forecast
  used (values, digest, generated_at), the chosen and the immediate slot, expected emissions and,
  once the job has run, realised emissions (tracked energy × actual intensity) — for reports.
* :func:`realised_emissions_g` — pure: energy per time bucket × the intensity in force then.
"""

from __future__ import annotations

import logging
import socket
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import sqlalchemy as sa

from carbontrail.errors import LedgerError, ScheduleError
from carbontrail.grid.series import IntensitySeries
from carbontrail.provenance import digest
from carbontrail.schedule.plan import Interruptible, Job, Plan, Signal
from carbontrail.schedule.tables import schedule_jobs, schedule_plans
from carbontrail.units import J_PER_KWH

__all__ = [
    "JobQueue",
    "PlanRecord",
    "QueuedJob",
    "job_from_spec",
    "job_spec",
    "list_plans",
    "realised_emissions_g",
    "realised_for_plan",
    "record_plan",
    "record_realised",
]

log = logging.getLogger(__name__)


def _now(clock: Any) -> datetime:
    return datetime.fromtimestamp(clock.now(), UTC) if clock is not None else datetime.now(UTC)


# ---------------------------------------------------------------------------------------------
# job specs
# ---------------------------------------------------------------------------------------------


def job_spec(
    job: Job,
    *,
    pause_mode: str = "stop",
    objective: str = "emissions",
    replan: bool = False,
) -> dict[str, Any]:
    """A JSON-ready description of ``job`` (what the queue stores).

    ``replan``: workers may re-plan the job on fresh forecasts of its zones (not when the plan was
    made against a forecast file only the submitting machine has).
    """
    it = job.interruptible
    return {
        "name": job.name,
        "earliest_at": job.earliest_at.isoformat(),
        "deadline_at": job.deadline_at.isoformat(),
        "duration_s": job.duration_s,
        "power_w": job.power_w,
        "zones": list(job.zones),
        "interruptible": None
        if it is None
        else {
            "min_chunk_s": it.min_chunk_s,
            "max_pauses": it.max_pauses,
            "checkpoint_overhead_s": it.checkpoint_overhead_s,
        },
        "pause_mode": pause_mode,
        "objective": objective,
        "replan": replan,
        "run_now_at": None if job.run_now_at is None else job.run_now_at.isoformat(),
    }


def job_from_spec(spec: dict[str, Any]) -> Job:
    """Inverse of :func:`job_spec`."""
    it = spec.get("interruptible")
    return Job(
        name=spec.get("name", "job"),
        earliest_at=datetime.fromisoformat(spec["earliest_at"]),
        deadline_at=datetime.fromisoformat(spec["deadline_at"]),
        duration_s=float(spec["duration_s"]),
        power_w=float(spec.get("power_w", 100.0)),
        zones=tuple(spec.get("zones") or ()),
        interruptible=None if it is None else Interruptible(**it),
        run_now_at=datetime.fromisoformat(spec["run_now_at"]) if spec.get("run_now_at") else None,
    )


@dataclass(frozen=True)
class QueuedJob:
    """A row of the queue (see :data:`carbontrail.schedule.tables.schedule_jobs`)."""

    job_id: str
    name: str
    argv: list[str]
    spec: dict[str, Any]
    status: str
    planned_start_at: datetime
    deadline_at: datetime
    zone: str | None
    plan_id: str | None
    attempts: int
    max_attempts: int
    lease_owner: str | None
    lease_token: str | None
    lease_expires_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    returncode: int | None
    completions: int
    result: dict[str, Any] | None

    @classmethod
    def from_row(cls, row: Any) -> QueuedJob:
        m = dict(row._mapping)
        m.pop("created_at", None)
        m.pop("heartbeat_at", None)
        return cls(**m)

    @property
    def chunks(self) -> list[tuple[datetime, datetime]]:
        """The planned chunks stored with the job."""
        return [(datetime.fromisoformat(a), datetime.fromisoformat(b)) for a, b in self.spec.get("chunks", [])]


class JobQueue:
    """Deferred jobs shared by any number of workers through the ledger database.

    Args:
        ledger: an open :class:`carbontrail.ledger.Ledger`.
        clock: time source with ``now()`` (POSIX seconds); the real clock when ``None``.
    """

    def __init__(self, ledger: Any, *, clock: Any = None) -> None:
        self.ledger = ledger
        self.clock = clock

    def submit(
        self,
        job: Job,
        argv: Sequence[str],
        plan: Plan,
        *,
        plan_id: str | None = None,
        pause_mode: str = "stop",
        max_attempts: int = 3,
        job_id: str | None = None,
        replan: bool = False,
    ) -> str:
        """Queue ``argv`` to run as planned; return the job id.

        With ``replan`` workers re-plan the job on fresh forecasts until it starts (see
        :meth:`replan`) and re-plan the rest of an interruptible job at each pause.
        """
        if not argv:
            raise ScheduleError("no command to queue")
        if pause_mode not in ("stop", "term"):
            raise ScheduleError(f"pause_mode must be 'stop' or 'term', got {pause_mode!r}")
        jid = job_id or uuid.uuid4().hex
        spec = job_spec(job, pause_mode=pause_mode, objective=plan.objective, replan=replan)
        spec["chunks"] = [[a.isoformat(), b.isoformat()] for a, b in plan.chunks]
        row = {
            "job_id": jid,
            "name": job.name,
            "argv": list(argv),
            "spec": spec,
            "status": "queued",
            "planned_start_at": plan.start_at,
            "deadline_at": job.deadline_at,
            "zone": plan.zone,
            "plan_id": plan_id,
            "attempts": 0,
            "max_attempts": max_attempts,
            "created_at": _now(self.clock),
            "completions": 0,
        }
        with self.ledger.write() as conn:
            conn.execute(schedule_jobs.insert(), [row])
            if plan_id is not None:
                conn.execute(
                    schedule_plans.update().where(schedule_plans.c.plan_id == plan_id).values(job_id=jid)
                )
        return jid

    def claim(
        self, worker_id: str, *, lease_s: float = 30.0, zones: Sequence[str] | None = None
    ) -> QueuedJob | None:
        """Atomically take the most overdue due job (or one whose lease expired); ``None`` if none.

        ``zones``: take only jobs planned in one of these zones (a worker that runs in a zone).
        """
        now = _now(self.clock)
        t = schedule_jobs.c
        due = sa.or_(
            sa.and_(t.status == "queued", t.planned_start_at <= now),
            sa.and_(t.status == "running", t.lease_expires_at < now),
        )
        if zones:
            due = sa.and_(due, t.zone.in_(list(zones)))
        q = (
            sa.select(schedule_jobs)
            .where(due)
            .order_by(t.planned_start_at, t.job_id)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        with self.ledger.write() as conn:
            row = conn.execute(q).first()
            if row is None:
                return None
            job = QueuedJob.from_row(row)
            if job.status == "running":
                log.warning("job %s: lease of %s expired; re-queued", job.job_id, job.lease_owner)
                if job.attempts >= job.max_attempts:
                    conn.execute(
                        schedule_jobs.update()
                        .where(t.job_id == job.job_id)
                        .values(
                            status="failed",
                            finished_at=now,
                            lease_token=None,
                            result={"error": f"lost its worker {job.attempts} times"},
                        )
                    )
                    return None
            token = uuid.uuid4().hex
            conn.execute(
                schedule_jobs.update()
                .where(t.job_id == job.job_id)
                .values(
                    status="running",
                    lease_owner=worker_id,
                    lease_token=token,
                    lease_expires_at=now + timedelta(seconds=lease_s),
                    heartbeat_at=now,
                    attempts=t.attempts + 1,
                    started_at=now,
                )
            )
            row = conn.execute(sa.select(schedule_jobs).where(t.job_id == job.job_id)).one()
        return QueuedJob.from_row(row)

    def heartbeat(self, job_id: str, token: str, *, lease_s: float = 30.0) -> bool:
        """Extend the lease; ``False`` if the lease was lost (another worker may own the job now)."""
        now = _now(self.clock)
        t = schedule_jobs.c
        with self.ledger.write() as conn:
            res = conn.execute(
                schedule_jobs.update()
                .where(t.job_id == job_id, t.lease_token == token, t.status == "running")
                .values(lease_expires_at=now + timedelta(seconds=lease_s), heartbeat_at=now)
            )
        return bool(res.rowcount == 1)

    def complete(
        self, job_id: str, token: str, *, returncode: int, result: dict[str, Any] | None = None
    ) -> bool:
        """Mark the job done (returncode 0) or failed; ``False`` (and nothing written) if the token is stale."""
        now = _now(self.clock)
        t = schedule_jobs.c
        with self.ledger.write() as conn:
            res = conn.execute(
                schedule_jobs.update()
                .where(t.job_id == job_id, t.lease_token == token, t.status == "running")
                .values(
                    status="done" if returncode == 0 else "failed",
                    finished_at=now,
                    returncode=returncode,
                    result=result or {},
                    lease_token=None,
                    lease_expires_at=None,
                    completions=t.completions + 1,
                )
            )
        ok = bool(res.rowcount == 1)
        if not ok:
            log.warning("job %s: completion with a stale lease ignored", job_id)
        return ok

    def release(self, job_id: str, token: str) -> bool:
        """Give a claimed job back to the queue (graceful worker shutdown)."""
        t = schedule_jobs.c
        with self.ledger.write() as conn:
            res = conn.execute(
                schedule_jobs.update()
                .where(t.job_id == job_id, t.lease_token == token, t.status == "running")
                .values(status="queued", lease_token=None, lease_owner=None, lease_expires_at=None,
                        attempts=t.attempts - 1)
            )
        return bool(res.rowcount == 1)

    def replan(self, job: QueuedJob, new: Plan, signal: Signal) -> str | None:
        """Move a queued job to ``new`` (made on ``signal``) and record that plan; return its plan id.

        Optimistic: nothing is written (``None``) if the job was claimed, cancelled or re-planned by
        someone else since ``job`` was read — a job is never moved while it runs.
        """
        t = schedule_jobs.c
        spec = {**job.spec, "chunks": [[a.isoformat(), b.isoformat()] for a, b in new.chunks]}
        spec["replanned_at"] = _now(self.clock).isoformat()
        row = _plan_row(new, signal, job=job_from_spec(job.spec), job_id=job.job_id, clock=self.clock)
        with self.ledger.write() as conn:
            res = conn.execute(
                schedule_jobs.update()
                .where(
                    t.job_id == job.job_id,
                    t.status == "queued",
                    t.plan_id.is_(None) if job.plan_id is None else t.plan_id == job.plan_id,  # the version
                )
                .values(planned_start_at=new.start_at, zone=new.zone, spec=spec, plan_id=row["plan_id"])
            )
            if res.rowcount != 1:
                return None
            conn.execute(schedule_plans.insert(), [row])
        return str(row["plan_id"])

    def cancel(self, job_id: str) -> bool:
        """Cancel a job that has not started."""
        t = schedule_jobs.c
        with self.ledger.write() as conn:
            res = conn.execute(
                schedule_jobs.update().where(t.job_id == job_id, t.status == "queued").values(status="cancelled")
            )
        return bool(res.rowcount == 1)

    def get(self, job_id: str) -> QueuedJob:
        """One job by id."""
        with self.ledger.engine.connect() as conn:
            row = conn.execute(sa.select(schedule_jobs).where(schedule_jobs.c.job_id == job_id)).first()
        if row is None:
            raise LedgerError(f"no queued job {job_id!r}")
        return QueuedJob.from_row(row)

    def jobs(self, *, status: str | None = None) -> list[QueuedJob]:
        """Jobs, by planned start."""
        q = sa.select(schedule_jobs).order_by(schedule_jobs.c.planned_start_at, schedule_jobs.c.job_id)
        if status is not None:
            q = q.where(schedule_jobs.c.status == status)
        with self.ledger.engine.connect() as conn:
            return [QueuedJob.from_row(r) for r in conn.execute(q)]

    def next_due_at(self) -> datetime | None:
        """Planned start of the next queued job (to sleep until)."""
        with self.ledger.engine.connect() as conn:
            return conn.execute(
                sa.select(sa.func.min(schedule_jobs.c.planned_start_at)).where(schedule_jobs.c.status == "queued")
            ).scalar()


# ---------------------------------------------------------------------------------------------
# plan records
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlanRecord:
    """A recorded plan (one row of ``schedule_plans``), for reports.

    Emissions in grams CO2e; ``realised_*`` are ``None`` until the job has run and its energy was
    matched with actual intensity.
    """

    plan_id: str
    job_id: str | None
    job_name: str
    created_at: datetime
    zone: str
    decision: str
    reason: str
    objective: str
    chunks: list[list[str]]
    immediate_chunks: list[list[str]]
    energy_j: float
    expected_emissions_g: float | None
    run_now_emissions_g: float | None
    saving_g: float | None
    uncertainty_g: float | None
    forecast_source: str
    forecast_generated_at: datetime
    forecast_digest: str
    forecast: dict[str, Any]
    realised_emissions_g: float | None
    realised_run_now_emissions_g: float | None
    realised_energy_j: float | None
    realised_span_ids: list[str] | None
    realised_at: datetime | None

    @property
    def realised_saving_g(self) -> float | None:
        """Realised run-now emissions minus realised emissions, when both are known."""
        if self.realised_emissions_g is None or self.realised_run_now_emissions_g is None:
            return None
        return self.realised_run_now_emissions_g - self.realised_emissions_g


def _forecast_json(signal: Signal) -> dict[str, Any]:
    return {
        z: {
            "start_s": s.start_s,
            "step_s": s.step_s,
            "values_g_per_kwh": [round(float(x), 6) for x in s.values_g_per_kwh],
            "uncertainty_rel": [round(float(x), 6) for x in s.uncertainty_rel],
            "source": s.provenance.source,
            "dataset": s.provenance.dataset,
        }
        for z, s in signal.forecasts.items()
    }


def _finite(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


def record_plan(
    ledger: Any, plan: Plan, signal: Signal, *, job: Job, job_id: str | None = None, clock: Any = None
) -> str:
    """Store ``plan`` with the forecast it used; return the plan id."""
    row = _plan_row(plan, signal, job=job, job_id=job_id, clock=clock)
    with ledger.write() as conn:
        conn.execute(schedule_plans.insert(), [row])
    return str(row["plan_id"])


def _plan_row(plan: Plan, signal: Signal, *, job: Job, job_id: str | None, clock: Any) -> dict[str, Any]:
    fc = _forecast_json(signal)
    pid = uuid.uuid4().hex
    run_now_at = job.run_now_at or job.earliest_at
    immediate = [[run_now_at.isoformat(), (run_now_at + timedelta(seconds=float(job.duration_s or 0))).isoformat()]]
    return {
        "plan_id": pid,
        "job_id": job_id,
        "job_name": job.name,
        "created_at": _now(clock),
        "zone": plan.zone,
        "decision": plan.decision,
        "reason": plan.reason,
        "objective": plan.objective,
        "chunks": [[a.isoformat(), b.isoformat()] for a, b in plan.chunks],
        "immediate_chunks": immediate,
        "energy_j": plan.energy_j,
        "expected_emissions_g": _finite(plan.expected_emissions_g),
        "run_now_emissions_g": _finite(plan.run_now_emissions_g),
        "saving_g": _finite(plan.saving_g),
        "uncertainty_g": _finite(plan.uncertainty_g),
        "forecast_source": plan.forecast_source,
        "forecast_generated_at": plan.forecast_generated_at,
        "forecast_digest": digest(fc),
        "forecast": fc,
    }


def record_realised(
    ledger: Any,
    plan_id: str,
    *,
    realised_emissions_g: float | None,
    realised_run_now_emissions_g: float | None = None,
    energy_j: float | None = None,
    span_ids: Sequence[str] = (),
    clock: Any = None,
) -> None:
    """Attach what actually happened to a recorded plan."""
    with ledger.write() as conn:
        res = conn.execute(
            schedule_plans.update()
            .where(schedule_plans.c.plan_id == plan_id)
            .values(
                realised_emissions_g=realised_emissions_g,
                realised_run_now_emissions_g=realised_run_now_emissions_g,
                realised_energy_j=energy_j,
                realised_span_ids=list(span_ids),
                realised_at=_now(clock),
            )
        )
    if res.rowcount != 1:
        raise LedgerError(f"no plan {plan_id!r} to attach realised emissions to")


def list_plans(
    ledger: Any,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    job_id: str | None = None,
    job_name: str | None = None,
) -> list[PlanRecord]:
    """Recorded plans, oldest first; ``since``/``until`` bound ``created_at``."""
    c = schedule_plans.c
    q = sa.select(schedule_plans).order_by(c.created_at, c.plan_id)
    if since is not None:
        q = q.where(c.created_at >= since)
    if until is not None:
        q = q.where(c.created_at < until)
    if job_id is not None:
        q = q.where(c.job_id == job_id)
    if job_name is not None:
        q = q.where(c.job_name == job_name)
    with ledger.engine.connect() as conn:
        return [PlanRecord(**dict(r._mapping)) for r in conn.execute(q)]


def realised_emissions_g(
    buckets: Sequence[tuple[float, float]], series: IntensitySeries, *, shift_s: float = 0.0
) -> float:
    """Emissions (g) of energy ``buckets`` (``[(bucket_start_s, energy_j), ...]``) at ``series``' intensity.

    ``shift_s`` evaluates the same energy profile moved in time (e.g. to the run-now start, for the
    realised counterfactual). Raises :class:`GridError` if a bucket falls outside the series.
    """
    tot = 0.0
    for start_s, energy_j in buckets:
        tot += float(energy_j) / J_PER_KWH * series.value_at(float(start_s) + shift_s)
    return tot


def _covers(series: IntensitySeries, a: float, b: float) -> bool:
    return series.start_s <= a and b <= series.end_s


def realised_for_plan(
    buckets: Sequence[tuple[float, float]], series: IntensitySeries, *, run_now_s: float, bucket_s: float
) -> tuple[float | None, float | None]:
    """(realised, realised run-now) emissions in g, ``None`` where ``series`` does not cover the times.

    The run-now counterfactual packs the same bucket energies, in order, contiguously from
    ``run_now_s`` (the job without its waits and pauses).
    """
    if not buckets:
        return None, None
    ordered = sorted(buckets)
    real: float | None = None
    now: float | None = None
    if _covers(series, ordered[0][0], ordered[-1][0] + bucket_s):
        real = realised_emissions_g(ordered, series)
    packed = [(run_now_s + i * bucket_s, e) for i, (_, e) in enumerate(ordered)]
    if _covers(series, run_now_s, run_now_s + len(packed) * bucket_s):
        now = realised_emissions_g(packed, series)
    return real, now


def worker_name() -> str:
    """A default worker id: host and process id."""
    import os

    return f"{socket.gethostname()}:{os.getpid()}"
