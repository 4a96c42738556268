"""schedule: queue of deferred jobs and plan records

Revision ID: schedule_0001
Revises: core_0001

The tables are defined here as they were at this revision (not imported from
:mod:`carbontrail.schedule.tables`), so that later revisions change them with ``op`` calls. The
naming convention is the one frozen for these revisions, so that constraints get the same names.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from carbontrail.ledger.migrations.frozen import metadata_0001
from carbontrail.ledger.schema import UTCDateTime

revision = "schedule_0001"
down_revision = "core_0001"
branch_labels = ("schedule",)
depends_on = None

_md = metadata_0001()

schedule_jobs = sa.Table(
    "schedule_jobs",
    _md,
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

schedule_plans = sa.Table(
    "schedule_plans",
    _md,
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

_TABLES = (schedule_jobs, schedule_plans)


def upgrade() -> None:
    bind = op.get_bind()
    for table in _TABLES:
        table.create(bind)


def downgrade() -> None:
    bind = op.get_bind()
    for table in reversed(_TABLES):
        table.drop(bind)
