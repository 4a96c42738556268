"""Ledger tables of the quota-constrained HPO: one account per study, its open reservations and its charges.

All energies are joules, emissions grams CO2e, times tz-aware UTC. The account row is the single
point of serialisation: every change takes its row lock (``SELECT ... FOR UPDATE`` on PostgreSQL,
``BEGIN IMMEDIATE`` on SQLite) so that many workers on many hosts share one exact account.
"""

from __future__ import annotations

import sqlalchemy as sa

from carbontrail.ledger.schema import UTCDateTime, metadata

__all__ = ["hpo_accounts", "hpo_charges", "hpo_reservations"]

hpo_accounts = sa.Table(
    "hpo_accounts",
    metadata,
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
    metadata,
    sa.Column("reservation_id", sa.String(64), primary_key=True),
    sa.Column("study_name", sa.String(200), nullable=False, index=True),
    sa.Column("purpose", sa.String(16), nullable=False, comment="trial or sampler"),
    sa.Column("trial_number", sa.Integer, nullable=True),
    sa.Column("worker", sa.String(200), nullable=False),
    sa.Column("amount_j", sa.Float, nullable=False, comment="energy reserved (grows by top-ups)"),
    sa.Column("measured_j", sa.Float, nullable=False, server_default="0", comment="energy at last heartbeat"),
    sa.Column("intensity_g_per_kwh", sa.Float, nullable=True,
              comment="intensity this reservation's energy is counted at (carbon-aware timing); null: the quota's"),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("heartbeat_at", UTCDateTime(), nullable=False),
)

hpo_charges = sa.Table(
    "hpo_charges",
    metadata,
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
