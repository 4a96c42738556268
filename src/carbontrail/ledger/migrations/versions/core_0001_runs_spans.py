"""core: runs, spans, factor snapshots

Revision ID: core_0001
Revises:
"""

from __future__ import annotations

from alembic import op

from carbontrail.ledger.schema import factor_snapshots, runs, spans

revision = "core_0001"
down_revision = None
branch_labels = ("core",)
depends_on = None

_TABLES = (runs, spans, factor_snapshots)


def upgrade() -> None:
    bind = op.get_bind()
    for table in _TABLES:
        table.create(bind)


def downgrade() -> None:
    bind = op.get_bind()
    for table in reversed(_TABLES):
        table.drop(bind)
