"""schedule: queue of deferred jobs and plan records

Revision ID: schedule_0001
Revises: core_0001
"""

from __future__ import annotations

from alembic import op

from carbontrail.schedule.tables import schedule_jobs, schedule_plans

revision = "schedule_0001"
down_revision = "core_0001"
branch_labels = ("schedule",)
depends_on = None

_TABLES = (schedule_jobs, schedule_plans)


def upgrade() -> None:
    bind = op.get_bind()
    for table in _TABLES:
        table.create(bind)


def downgrade() -> None:
    bind = op.get_bind()
    for table in reversed(_TABLES):
        table.drop(bind)
