"""Tables of the service: API tokens (hashed) with their role."""

from __future__ import annotations

import sqlalchemy as sa

from carbontrail.ledger.schema import UTCDateTime, metadata

__all__ = ["api_tokens"]

api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("token_id", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("role", sa.String(32), nullable=False),
    sa.Column("secret_sha256", sa.String(64), nullable=False, comment="sha256 hex of the secret part"),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("revoked_at", UTCDateTime(), nullable=True),
    sa.Column("last_used_at", UTCDateTime(), nullable=True),
)
