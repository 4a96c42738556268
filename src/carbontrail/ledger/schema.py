"""Core tables of the ledger (SQLAlchemy Core).

Every area keeps its tables in its own module on the shared :data:`metadata` (``grid``,
``schedule``, ``hpo``, ``registry``, ``policy``, ``audit``...) and ships an Alembic migration on its
own branch that starts from the core revision, so ``carbontrail db upgrade`` upgrades all heads.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored as UTC and returned tz-aware; naive datetimes are refused."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: carbontrail stores tz-aware UTC only")
        v = value.astimezone(UTC)
        return v.replace(tzinfo=None) if dialect.name == "sqlite" else v

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


runs = sa.Table(
    "runs",
    metadata,
    sa.Column("run_id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("started_at", UTCDateTime(), nullable=False),
    sa.Column("host", sa.String(200), nullable=False, server_default=""),
    sa.Column("pid", sa.Integer, nullable=False, server_default="0"),
    sa.Column("tags", sa.JSON, nullable=False),
)

spans = sa.Table(
    "spans",
    metadata,
    sa.Column("span_id", sa.String(64), primary_key=True),
    sa.Column("run_id", sa.String(64), nullable=False, index=True),
    sa.Column("parent_id", sa.String(64), nullable=True, index=True),
    sa.Column("name", sa.String(300), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False, index=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("started_at", UTCDateTime(), nullable=False, index=True),
    sa.Column("ended_at", UTCDateTime(), nullable=False),
    sa.Column("duration_s", sa.Float, nullable=False),
    sa.Column("energy_j", sa.Float, nullable=False),
    sa.Column("emissions_g", sa.Float, nullable=True),
    sa.Column("intensity_g_per_kwh", sa.Float, nullable=True),
    sa.Column("zone", sa.String(64), nullable=True, index=True),
    sa.Column("attribution", sa.String(16), nullable=False),
    sa.Column("pipeline", sa.String(200), nullable=True, index=True),
    sa.Column("model", sa.String(200), nullable=True, index=True),
    sa.Column("team", sa.String(200), nullable=True, index=True),
    sa.Column("host", sa.String(200), nullable=False, server_default=""),
    sa.Column("pid", sa.Integer, nullable=False, server_default="0"),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("tags", sa.JSON, nullable=False),
    sa.Column("components", sa.JSON, nullable=False),
    sa.Column("buckets", sa.JSON, nullable=False),
    sa.Column("provenance", sa.JSON, nullable=True),
    sa.Column("recorded_at", UTCDateTime(), nullable=False),
)

factor_snapshots = sa.Table(
    "factor_snapshots",
    metadata,
    sa.Column("snapshot_id", sa.String(64), primary_key=True, comment="digest of the data"),
    sa.Column("zone", sa.String(64), nullable=False, index=True),
    sa.Column("source", sa.String(64), nullable=False),
    sa.Column("dataset", sa.String(300), nullable=False),
    sa.Column("vintage", sa.String(64), nullable=False),
    sa.Column("signal", sa.String(16), nullable=False),
    sa.Column("basis", sa.String(16), nullable=False),
    sa.Column("resolution_s", sa.Float, nullable=False),
    sa.Column("retrieved_at", UTCDateTime(), nullable=False),
    sa.Column("data", sa.JSON, nullable=False, comment="[[epoch_s, g_per_kwh], ...] or {value: ...}"),
)
