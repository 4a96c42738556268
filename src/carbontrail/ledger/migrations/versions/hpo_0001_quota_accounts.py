"""hpo: quota accounts, reservations and charges

Revision ID: hpo_0001
Revises: core_0001

The tables are defined here as they were at this revision (not imported from
:mod:`carbontrail.hpo.tables`), so that later revisions change them with ``op`` calls. The
naming convention is the one frozen for these revisions, so that constraints get the same names.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from carbontrail.ledger.migrations.frozen import metadata_0001
from carbontrail.ledger.schema import UTCDateTime

revision = "hpo_0001"
down_revision = "core_0001"
branch_labels = ("hpo",)
depends_on = None

_md = metadata_0001()

hpo_accounts = sa.Table(
    "hpo_accounts",
    _md,
    sa.Column("study_name", sa.String(200), primary_key=True),
    sa.Column("basis", sa.String(16), nullable=False, comment="energy (limit in J) or carbon (limit in g)"),
    sa.Column("limit_value", sa.Float, nullable=False, comment="J for basis=energy, gCO2e for basis=carbon"),
    sa.Column("intensity_g_per_kwh", sa.Float, nullable=True, comment="static intensity for a carbon quota"),
    sa.Column("spent_j", sa.Float, nullable=False, server_default="0"),
    sa.Column("spent_g", sa.Float, nullable=False, server_default="0"),
    sa.Column("sampler_j", sa.Float, nullable=False, server_default="0"),
    sa.Column("n_complete", sa.Integer, nullable=False, server_default="0"),
    sa.Column("n_pruned", sa.Integer, nullable=False, server_default="0"),
    sa.Column("n_failed", sa.Integer, nullable=False, server_default="0"),
    sa.Column("n_cached", sa.Integer, nullable=False, server_default="0"),
    sa.Column("n_reclaimed", sa.Integer, nullable=False, server_default="0"),
    sa.Column("n_refused", sa.Integer, nullable=False, server_default="0"),
    sa.Column("n_stopped_by_quota", sa.Integer, nullable=False, server_default="0"),
    sa.Column("overshoot", sa.Float, nullable=False, server_default="0", comment="in the basis' unit"),
    sa.Column("status", sa.String(16), nullable=False, comment="open, exhausted or stopped"),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)

hpo_reservations = sa.Table(
    "hpo_reservations",
    _md,
    sa.Column("reservation_id", sa.String(64), primary_key=True),
    sa.Column("study_name", sa.String(200), nullable=False, index=True),
    sa.Column("purpose", sa.String(16), nullable=False, comment="trial or sampler"),
    sa.Column("trial_number", sa.Integer, nullable=True),
    sa.Column("worker", sa.String(200), nullable=False),
    sa.Column("amount_j", sa.Float, nullable=False, comment="energy reserved (grows by top-ups)"),
    sa.Column("measured_j", sa.Float, nullable=False, server_default="0", comment="energy at last heartbeat"),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("heartbeat_at", UTCDateTime(), nullable=False),
)

hpo_charges = sa.Table(
    "hpo_charges",
    _md,
    sa.Column("charge_id", sa.String(64), primary_key=True, comment="the reservation it settles"),
    sa.Column("study_name", sa.String(200), nullable=False, index=True),
    sa.Column("purpose", sa.String(16), nullable=False, comment="trial, sampler or cached"),
    sa.Column("trial_number", sa.Integer, nullable=True),
    sa.Column("state", sa.String(16), nullable=False, comment="COMPLETE, PRUNED, FAIL, QUOTA, RECLAIMED, CACHED"),
    sa.Column("energy_j", sa.Float, nullable=False),
    sa.Column("emissions_g", sa.Float, nullable=False),
    sa.Column("span_id", sa.String(64), nullable=True),
    sa.Column("worker", sa.String(200), nullable=False),
    sa.Column("charged_at", UTCDateTime(), nullable=False),
)

_TABLES = (hpo_accounts, hpo_reservations, hpo_charges)


def upgrade() -> None:
    bind = op.get_bind()
    for table in _TABLES:
        table.create(bind)


def downgrade() -> None:
    bind = op.get_bind()
    for table in reversed(_TABLES):
        table.drop(bind)
