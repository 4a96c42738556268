"""web: API tokens of the service

Revision ID: web_0001
Revises: core_0001
"""

from __future__ import annotations

from alembic import op

from carbontrail.server.tables import api_tokens

revision = "web_0001"
down_revision = "core_0001"
branch_labels = ("web",)
depends_on = None


def upgrade() -> None:
    api_tokens.create(op.get_bind())


def downgrade() -> None:
    api_tokens.drop(op.get_bind())
