"""web: API tokens of the service

Revision ID: web_0001
Revises: core_0001

The table is defined here as it was at this revision (not imported from
:mod:`carbontrail.server.tables`), so that later revisions change it with ``op`` calls. The
naming convention is the one frozen for these revisions, so that constraints get the same names.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from carbontrail.ledger.migrations.frozen import metadata_0001
from carbontrail.ledger.schema import UTCDateTime

revision = "web_0001"
down_revision = "core_0001"
branch_labels = ("web",)
depends_on = None

_md = metadata_0001()

api_tokens = sa.Table(
    "api_tokens",
    _md,
    sa.Column("token_id", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("role", sa.String(32), nullable=False),
    sa.Column("secret_sha256", sa.String(64), nullable=False, comment="sha256 hex of the secret part"),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("revoked_at", UTCDateTime(), nullable=True),
    sa.Column("last_used_at", UTCDateTime(), nullable=True),
)


def upgrade() -> None:
    api_tokens.create(op.get_bind())


def downgrade() -> None:
    api_tokens.drop(op.get_bind())
