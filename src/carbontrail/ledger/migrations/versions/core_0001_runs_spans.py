"""core: runs, spans, factor snapshots

Revision ID: core_0001
Revises:

The tables are defined here as they were at this revision (not imported from
:mod:`carbontrail.ledger.schema`), so that later revisions change them with ``op`` calls. The
naming convention is the one frozen for these revisions, so that constraints get the same names.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from carbontrail.ledger.migrations.frozen import metadata_0001
from carbontrail.ledger.schema import UTCDateTime

revision = "core_0001"
down_revision = None
branch_labels = ("core",)
depends_on = None

_md = metadata_0001()

runs = sa.Table(
    "runs",
    _md,
    sa.Column("run_id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("started_at", UTCDateTime(), nullable=False),
    sa.Column("host", sa.String(200), nullable=False, server_default=""),
    sa.Column("pid", sa.Integer, nullable=False, server_default="0"),
    sa.Column("tags", sa.JSON, nullable=False),
)

spans = sa.Table(
    "spans",
    _md,
    sa.Column("span_id", sa.String(64), primary_key=True),
    sa.Column("run_id", sa.String(64), nullable=False, index=True),
    sa.Column("parent_id", sa.String(64), nullable=True, index=True),
    sa.Column("name", sa.String(300), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False, index=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("started_at", UTCDateTime(), nullable=False, index=True),
    sa.Column("ended_at", UTCDateTime(), nullable=False),
    sa.Column("duration_s", sa.Float, nullable=False),
    sa.Column("energy_j", sa.Float, nullable=False),
    sa.Column("emissions_g", sa.Float, nullable=True),
    sa.Column("intensity_g_per_kwh", sa.Float, nullable=True),
    sa.Column("zone", sa.String(64), nullable=True, index=True),
    sa.Column("attribution", sa.String(16), nullable=False),
    sa.Column("pipeline", sa.String(200), nullable=True, index=True),
    sa.Column("model", sa.String(200), nullable=True, index=True),
    sa.Column("team", sa.String(200), nullable=True, index=True),
    sa.Column("host", sa.String(200), nullable=False, server_default=""),
    sa.Column("pid", sa.Integer, nullable=False, server_default="0"),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("tags", sa.JSON, nullable=False),
    sa.Column("components", sa.JSON, nullable=False),
    sa.Column("buckets", sa.JSON, nullable=False),
    sa.Column("provenance", sa.JSON, nullable=True),
    sa.Column("recorded_at", UTCDateTime(), nullable=False),
)

factor_snapshots = sa.Table(
    "factor_snapshots",
    _md,
    sa.Column("snapshot_id", sa.String(64), primary_key=True, comment="digest of the data"),
    sa.Column("zone", sa.String(64), nullable=False, index=True),
    sa.Column("source", sa.String(64), nullable=False),
    sa.Column("dataset", sa.String(300), nullable=False),
    sa.Column("vintage", sa.String(64), nullable=False),
    sa.Column("signal", sa.String(16), nullable=False),
    sa.Column("basis", sa.String(16), nullable=False),
    sa.Column("resolution_s", sa.Float, nullable=False),
    sa.Column("retrieved_at", UTCDateTime(), nullable=False),
    sa.Column("data", sa.JSON, nullable=False, comment="[[epoch_s, g_per_kwh], ...] or {value: ...}"),
)

_TABLES = (runs, spans, factor_snapshots)


def upgrade() -> None:
    bind = op.get_bind()
    for table in _TABLES:
        table.create(bind)


def downgrade() -> None:
    bind = op.get_bind()
    for table in reversed(_TABLES):
        table.drop(bind)
