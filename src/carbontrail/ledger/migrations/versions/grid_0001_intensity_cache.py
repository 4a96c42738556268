"""grid: persistent cache of live-provider intensity data

Revision ID: grid_0001
Revises: core_0001
"""

from __future__ import annotations

from alembic import op

from carbontrail.grid.tables import grid_intensity_cache

revision = "grid_0001"
down_revision = "core_0001"
branch_labels = ("grid",)
depends_on = None


def upgrade() -> None:
    grid_intensity_cache.create(op.get_bind())


def downgrade() -> None:
    grid_intensity_cache.drop(op.get_bind())
