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


def upgrade() -> None:
    with op.batch_alter_table("hpo_reservations") as batch:
        batch.add_column(
            sa.Column(
                "intensity_g_per_kwh",
                sa.Float,
                nullable=True,
                comment="intensity this reservation's energy is counted at (carbon-aware timing); null: the quota's",
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("hpo_reservations") as batch:
        batch.drop_column("intensity_g_per_kwh")
