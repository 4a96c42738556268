"""Ledger tables of the registry: models, versions (with carbon cards and span lineage),
deployments, deployment requests, committee members, approvals and active policies."""

from __future__ import annotations

import sqlalchemy as sa

from carbontrail.ledger.schema import UTCDateTime, metadata

__all__ = [
    "TABLES",
    "gov_approvals",
    "gov_members",
    "gov_policies",
    "reg_deployments",
    "reg_models",
    "reg_requests",
    "reg_versions",
]

reg_models = sa.Table(
    "reg_models",
    metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("team", sa.String(200), nullable=True),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("tags", sa.JSON, nullable=False),
)

reg_versions = sa.Table(
    "reg_versions",
    metadata,
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
    metadata,
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
    metadata,
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
    metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("role", sa.String(24), nullable=False, comment="submitter | member | admin"),
    sa.Column("added_at", UTCDateTime(), nullable=False),
)

gov_approvals = sa.Table(
    "gov_approvals",
    metadata,
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
    metadata,
    sa.Column("policy_digest", sa.String(64), primary_key=True),
    sa.Column("policy_id", sa.String(200), nullable=False),
    sa.Column("version", sa.String(64), nullable=False),
    sa.Column("source", sa.Text, nullable=False, comment="the YAML text"),
    sa.Column("activated_at", UTCDateTime(), nullable=False),
    sa.Column("activated_by", sa.String(200), nullable=False),
    sa.Column("active", sa.Boolean, nullable=False),
)

TABLES = (reg_models, reg_versions, reg_deployments, reg_requests, gov_members, gov_approvals, gov_policies)
