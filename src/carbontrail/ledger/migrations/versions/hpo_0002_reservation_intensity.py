"""hpo: the intensity a reservation's energy is counted at (carbon-aware timing under a carbon quota)

Revision ID: hpo_0002
Revises: hpo_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "hpo_0002"
down_revision = "hpo_0001"
branch_labels = None
depends_on = None


def _has_column() -> bool:
    cols = sa.inspect(op.get_bind()).get_columns("hpo_reservations")
    return any(c["name"] == "intensity_g_per_kwh" for c in cols)


def upgrade() -> None:
    # hpo_0001 creates the tables from the current metadata, so a new database already has the column
    if not _has_column():
        with op.batch_alter_table("hpo_reservations") as batch:
            batch.add_column(sa.Column("intensity_g_per_kwh", sa.Float, nullable=True))


def downgrade() -> None:
    if _has_column():
        with op.batch_alter_table("hpo_reservations") as batch:
            batch.drop_column("intensity_g_per_kwh")
