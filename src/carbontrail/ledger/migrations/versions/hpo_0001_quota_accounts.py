"""hpo: quota accounts, reservations and charges

Revision ID: hpo_0001
Revises: core_0001
"""

from __future__ import annotations

from alembic import op

from carbontrail.hpo.tables import hpo_accounts, hpo_charges, hpo_reservations

revision = "hpo_0001"
down_revision = "core_0001"
branch_labels = ("hpo",)
depends_on = None

_TABLES = (hpo_accounts, hpo_reservations, hpo_charges)


def upgrade() -> None:
    bind = op.get_bind()
    for table in _TABLES:
        table.create(bind)


def downgrade() -> None:
    bind = op.get_bind()
    for table in reversed(_TABLES):
        table.drop(bind)
