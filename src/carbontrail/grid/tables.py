"""Ledger tables of the grid area: the persistent cache of live-provider intensity data."""

from __future__ import annotations

import sqlalchemy as sa

from carbontrail.ledger.schema import UTCDateTime, metadata

__all__ = ["grid_intensity_cache"]

#: one row per provider data point; ``kind`` is ``actual`` (history/latest) or ``forecast``
grid_intensity_cache = sa.Table(
    "grid_intensity_cache",
    metadata,
    sa.Column("provider", sa.String(64), primary_key=True),
    sa.Column("zone", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(16), primary_key=True),
    sa.Column("signal", sa.String(16), primary_key=True),
    sa.Column("basis", sa.String(16), primary_key=True),
    sa.Column("t_s", sa.Float, primary_key=True, comment="POSIX start of the interval"),
    sa.Column("step_s", sa.Float, nullable=False),
    sa.Column("intensity_g_per_kwh", sa.Float, nullable=False),
    sa.Column("estimated", sa.Boolean, nullable=False),
    sa.Column("dataset", sa.String(300), nullable=False),
    sa.Column("vintage", sa.String(64), nullable=False),
    sa.Column("retrieved_at", UTCDateTime(), nullable=False),
)
