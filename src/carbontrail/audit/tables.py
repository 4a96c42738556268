"""Ledger tables of the audit chain: entries, the chain head (the lock every writer takes) and
signed checkpoints. Hashes and keys are stored as lowercase hex."""

from __future__ import annotations

import sqlalchemy as sa

from carbontrail.ledger.schema import UTCDateTime, metadata

__all__ = ["audit_checkpoints", "audit_entries", "audit_head"]

audit_entries = sa.Table(
    "audit_entries",
    metadata,
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False, comment="1-based position"),
    sa.Column("kind", sa.String(32), nullable=False, index=True),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("payload", sa.Text, nullable=False, comment="canonical JSON, hashed as stored"),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
)

audit_head = sa.Table(
    "audit_head",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Column("frontier", sa.Text, nullable=False, comment="JSON [[height, hex], ...] of the Merkle frontier"),
)

audit_checkpoints = sa.Table(
    "audit_checkpoints",
    metadata,
    sa.Column("tree_size", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("root", sa.String(64), nullable=False),
    sa.Column("prev_tree_size", sa.BigInteger, nullable=False),
    sa.Column("prev_root", sa.String(64), nullable=False),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("public_key", sa.String(64), nullable=False, comment="raw Ed25519 public key, hex"),
    sa.Column("signature", sa.String(128), nullable=False),
)
