"""web: API tokens of the service

Revision ID: web_0001
Revises: core_0001

The table is defined here as it was at this revision (not imported from
:mod:`carbontrail.server.tables`), so that later revisions change it with ``op`` calls. The
naming convention is the ledger's, copied too, so that constraints get the same names.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from carbontrail.ledger.schema import UTCDateTime

revision = "web_0001"
down_revision = "core_0001"
branch_labels = ("web",)
depends_on = None

_md = sa.MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

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
