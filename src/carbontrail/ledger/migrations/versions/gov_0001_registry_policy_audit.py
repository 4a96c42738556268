"""gov: registry, deployments and committee workflow, policy activations, audit chain

Revision ID: gov_0001
Revises: core_0001

The tables are defined here as they were at this revision (not imported from
:mod:`carbontrail.audit.tables` and :mod:`carbontrail.registry.tables`), so that later revisions
change them with ``op`` calls. The naming convention is the one frozen for these revisions, so
that constraints get the same names.
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

from carbontrail.ledger.migrations.frozen import metadata_0001
from carbontrail.ledger.schema import UTCDateTime

revision = "gov_0001"
down_revision = "core_0001"
branch_labels = ("gov",)
depends_on = None

_md = metadata_0001()

# -- audit chain ------------------------------------------------------------------------------
audit_entries = sa.Table(
    "audit_entries",
    _md,
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False, comment="1-based position"),
    sa.Column("kind", sa.String(32), nullable=False, index=True),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("payload", sa.Text, nullable=False, comment="canonical JSON, hashed as stored"),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
)

audit_head = sa.Table(
    "audit_head",
    _md,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Column("frontier", sa.Text, nullable=False, comment="JSON [[height, hex], ...] of the Merkle frontier"),
)

audit_checkpoints = sa.Table(
    "audit_checkpoints",
    _md,
    sa.Column("tree_size", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("root", sa.String(64), nullable=False),
    sa.Column("prev_tree_size", sa.BigInteger, nullable=False),
    sa.Column("prev_root", sa.String(64), nullable=False),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("public_key", sa.String(64), nullable=False, comment="raw Ed25519 public key, hex"),
    sa.Column("signature", sa.String(128), nullable=False),
)

# -- registry, deployments, committee, policies -----------------------------------------------
reg_models = sa.Table(
    "reg_models",
    _md,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("team", sa.String(200), nullable=True),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("tags", sa.JSON, nullable=False),
)

reg_versions = sa.Table(
    "reg_versions",
    _md,
    sa.Column("model", sa.String(200), sa.ForeignKey("reg_models.name"), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("lineage", sa.JSON, nullable=False, comment="{search: [span ids], training: [...], retraining: [...]}"),
    sa.Column("card", sa.JSON, nullable=False, comment="carbon card"),
    sa.Column("artifact_uri", sa.Text, nullable=True),
)

reg_deployments = sa.Table(
    "reg_deployments",
    _md,
    sa.Column("deployment_id", sa.String(64), primary_key=True),
    sa.Column("model", sa.String(200), nullable=False, index=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("environment", sa.String(64), nullable=False),
    sa.Column("spec", sa.JSON, nullable=False, comment="zones, traffic, cadence, horizon, dates"),
    sa.Column("state", sa.String(24), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)

reg_requests = sa.Table(
    "reg_requests",
    _md,
    sa.Column("request_id", sa.String(64), primary_key=True),
    sa.Column("deployment_id", sa.String(64), nullable=False, index=True),
    sa.Column("submitter", sa.String(200), nullable=False),
    sa.Column("status", sa.String(24), nullable=False),
    sa.Column("input", sa.JSON, nullable=False, comment="the policy input evaluated"),
    sa.Column("input_digest", sa.String(64), nullable=False),
    sa.Column("policy_digest", sa.String(64), nullable=False),
    sa.Column("decision", sa.JSON, nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)

gov_members = sa.Table(
    "gov_members",
    _md,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("role", sa.String(24), nullable=False, comment="submitter | member | admin"),
    sa.Column("added_at", UTCDateTime(), nullable=False),
)

gov_approvals = sa.Table(
    "gov_approvals",
    _md,
    sa.Column("approval_id", sa.String(64), primary_key=True),
    sa.Column("request_id", sa.String(64), nullable=False, index=True),
    sa.Column("member", sa.String(200), nullable=False),
    sa.Column("action", sa.String(16), nullable=False, comment="approve | veto | override"),
    sa.Column("input_digest", sa.String(64), nullable=False),
    sa.Column("policy_digest", sa.String(64), nullable=False),
    sa.Column("justification", sa.Text, nullable=True),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("expires_at", UTCDateTime(), nullable=False),
    sa.Column("audit_seq", sa.BigInteger, nullable=True),
)

gov_policies = sa.Table(
    "gov_policies",
    _md,
    sa.Column("policy_digest", sa.String(64), primary_key=True),
    sa.Column("policy_id", sa.String(200), nullable=False),
    sa.Column("version", sa.String(64), nullable=False),
    sa.Column("source", sa.Text, nullable=False, comment="the YAML text"),
    sa.Column("activated_at", UTCDateTime(), nullable=False),
    sa.Column("activated_by", sa.String(200), nullable=False),
    sa.Column("active", sa.Boolean, nullable=False),
)

_TABLES = (
    audit_entries,
    audit_head,
    audit_checkpoints,
    reg_models,
    reg_versions,
    reg_deployments,
    reg_requests,
    gov_members,
    gov_approvals,
    gov_policies,
)


def upgrade() -> None:
    bind = op.get_bind()
    for table in _TABLES:
        table.create(bind)
    op.bulk_insert(audit_head, [{"id": 1, "seq": 0, "hash": "0" * 64, "frontier": json.dumps([])}])


def downgrade() -> None:
    bind = op.get_bind()
    for table in reversed(_TABLES):
        table.drop(bind)
