"""Ledger tables of the scheduler: the queue of deferred jobs and the record of every plan."""

from __future__ import annotations

import sqlalchemy as sa

from carbontrail.ledger.schema import UTCDateTime, metadata

__all__ = ["schedule_jobs", "schedule_plans"]

#: deferred jobs; a worker claims a due job by taking a lease (owner, token, expiry) and renews it
#: by heartbeats; a job whose lease expired is claimable again; completion needs the current token
schedule_jobs = sa.Table(
    "schedule_jobs",
    metadata,
    sa.Column("job_id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("argv", sa.JSON, nullable=False),
    sa.Column("spec", sa.JSON, nullable=False, comment="job spec: duration_s, deadline, zones, power_w..."),
    sa.Column("status", sa.String(16), nullable=False, index=True, comment="queued|running|done|failed|cancelled"),
    sa.Column("planned_start_at", UTCDateTime(), nullable=False, index=True),
    sa.Column("deadline_at", UTCDateTime(), nullable=False),
    sa.Column("zone", sa.String(64), nullable=True),
    sa.Column("plan_id", sa.String(64), nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("max_attempts", sa.Integer, nullable=False, server_default="3"),
    sa.Column("lease_owner", sa.String(200), nullable=True),
    sa.Column("lease_token", sa.String(64), nullable=True),
    sa.Column("lease_expires_at", UTCDateTime(), nullable=True, index=True),
    sa.Column("heartbeat_at", UTCDateTime(), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("started_at", UTCDateTime(), nullable=True),
    sa.Column("finished_at", UTCDateTime(), nullable=True),
    sa.Column("returncode", sa.Integer, nullable=True),
    sa.Column("completions", sa.Integer, nullable=False, server_default="0"),
    sa.Column("result", sa.JSON, nullable=True),
)

#: every plan made: the forecast used, chosen vs immediate slot, expected and realised emissions
schedule_plans = sa.Table(
    "schedule_plans",
    metadata,
    sa.Column("plan_id", sa.String(64), primary_key=True),
    sa.Column("job_id", sa.String(64), nullable=True, index=True),
    sa.Column("job_name", sa.String(200), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False, index=True),
    sa.Column("zone", sa.String(64), nullable=False),
    sa.Column("decision", sa.String(16), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("objective", sa.String(16), nullable=False),
    sa.Column("chunks", sa.JSON, nullable=False, comment="chosen [[start_iso, end_iso], ...]"),
    sa.Column("immediate_chunks", sa.JSON, nullable=False, comment="the run-now slot"),
    sa.Column("energy_j", sa.Float, nullable=False),
    sa.Column("expected_emissions_g", sa.Float, nullable=True),
    sa.Column("run_now_emissions_g", sa.Float, nullable=True),
    sa.Column("saving_g", sa.Float, nullable=True),
    sa.Column("uncertainty_g", sa.Float, nullable=True),
    sa.Column("forecast_source", sa.String(100), nullable=False),
    sa.Column("forecast_generated_at", UTCDateTime(), nullable=False),
    sa.Column("forecast_digest", sa.String(64), nullable=False),
    sa.Column("forecast", sa.JSON, nullable=False, comment="{zone: {start_s, step_s, values, uncertainty_rel}}"),
    sa.Column("realised_emissions_g", sa.Float, nullable=True),
    sa.Column("realised_run_now_emissions_g", sa.Float, nullable=True),
    sa.Column("realised_energy_j", sa.Float, nullable=True),
    sa.Column("realised_span_ids", sa.JSON, nullable=True),
    sa.Column("realised_at", UTCDateTime(), nullable=True),
)
