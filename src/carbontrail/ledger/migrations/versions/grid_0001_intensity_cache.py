"""grid: persistent cache of live-provider intensity data

Revision ID: grid_0001
Revises: core_0001

The table is defined here as it was at this revision (not imported from
:mod:`carbontrail.grid.tables`), so that later revisions change it with ``op`` calls. The
naming convention is the one frozen for these revisions, so that constraints get the same names.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from carbontrail.ledger.migrations.frozen import metadata_0001
from carbontrail.ledger.schema import UTCDateTime

revision = "grid_0001"
down_revision = "core_0001"
branch_labels = ("grid",)
depends_on = None

_md = metadata_0001()

grid_intensity_cache = sa.Table(
    "grid_intensity_cache",
    _md,
    sa.Column("provider", sa.String(64), primary_key=True),
    sa.Column("zone", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(16), primary_key=True),
    sa.Column("signal", sa.String(16), primary_key=True),
    sa.Column("basis", sa.String(16), primary_key=True),
    sa.Column("t_s", sa.Float, primary_key=True, comment="POSIX start of the interval"),
    sa.Column("step_s", sa.Float, nullable=False),
    sa.Column("intensity_g_per_kwh", sa.Float, nullable=False),
    sa.Column("estimated", sa.Boolean, nullable=False),
    sa.Column("dataset", sa.String(300), nullable=False),
    sa.Column("vintage", sa.String(64), nullable=False),
    sa.Column("retrieved_at", UTCDateTime(), nullable=False),
)


def upgrade() -> None:
    grid_intensity_cache.create(op.get_bind())


def downgrade() -> None:
    grid_intensity_cache.drop(op.get_bind())
