"""The ledger: runs, spans and factor snapshots in a SQL database.

``Ledger.open()`` opens the project's SQLite file (``.carbontrail/ledger.db``) or any
SQLAlchemy URL (``postgresql://user@host/db``) and brings its schema up to date through the
Alembic migrations shipped in this package. Writes of spans are idempotent on ``span_id``, so
journals can be re-ingested after a crash without duplicates.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from carbontrail.config import Settings, load_settings
from carbontrail.errors import LedgerError
from carbontrail.ledger.engine import create_engines, migration_lock, normalise_url
from carbontrail.ledger.schema import runs, spans
from carbontrail.span import SpanRecord

__all__ = ["Ledger"]

log = logging.getLogger(__name__)


def _span_row(rec: SpanRecord, recorded_at: datetime) -> dict[str, Any]:
    return {
        "span_id": rec.span_id,
        "run_id": rec.run_id,
        "parent_id": rec.parent_id,
        "name": rec.name,
        "kind": rec.kind,
        "status": rec.status,
        "started_at": rec.started_at,
        "ended_at": rec.ended_at,
        "duration_s": rec.duration_s,
        "energy_j": rec.energy_j,
        "emissions_g": rec.emissions_g,
        "intensity_g_per_kwh": rec.intensity_g_per_kwh,
        "zone": rec.zone,
        "attribution": rec.attribution,
        "pipeline": rec.pipeline,
        "model": rec.model,
        "team": rec.team,
        "host": rec.host,
        "pid": rec.pid,
        "error": rec.error,
        "tags": rec.tags,
        "components": [c.to_dict() for c in rec.components],
        "buckets": [list(b) for b in rec.buckets],
        "provenance": rec.provenance,
        "recorded_at": recorded_at,
    }


def _row_span(row: sa.Row[Any]) -> SpanRecord:
    m = dict(row._mapping)
    m.pop("recorded_at", None)
    return SpanRecord.from_dict(m)


class Ledger:
    """Access to the ledger database.

    Use :meth:`open` rather than the constructor. ``engine`` serves reads; ``write()`` yields a
    connection in a transaction that holds the database write lock on SQLite (``BEGIN IMMEDIATE``)
    — use it for shared state such as quotas and queues, together with ``FOR UPDATE`` row locks
    (a no-op on SQLite) on PostgreSQL.
    """

    def __init__(self, url: str, engine: Engine, write_engine: Engine) -> None:
        self.url = url
        self.engine = engine
        self.write_engine = write_engine

    @classmethod
    def open(
        cls, url: str | None = None, *, settings: Settings | None = None, upgrade: bool = True
    ) -> Ledger:
        """Open the ledger at ``url`` (default: the settings' ledger URL) and upgrade its schema."""
        if url is None:
            url = (settings or load_settings()).resolved_ledger_url
        url = normalise_url(url)
        reader, writer = create_engines(url)
        ledger = cls(url, reader, writer)
        if upgrade:
            ledger.upgrade()
        return ledger

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    # -- schema -----------------------------------------------------------------------------
    def _alembic_config(self, conn: sa.Connection) -> Any:
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(resources.files("carbontrail.ledger") / "migrations"))
        cfg.attributes["connection"] = conn
        return cfg

    def upgrade(self, target: str = "heads") -> list[str]:
        """Apply every pending migration of every area (``alembic upgrade heads``); return the heads.

        ``target``: an Alembic revision to stop at instead (e.g. ``"hpo_0001"``, to test an old schema).
        Safe to call from many processes at once: upgrades are serialised by a lock.
        """
        from alembic import command
        from alembic.runtime.migration import MigrationContext

        try:
            with self.write_engine.connect() as conn:
                if self.dialect == "sqlite":
                    conn.commit()  # leave the autobegin; alembic manages its own transaction
                with migration_lock(self.url, conn):
                    cfg = self._alembic_config(conn)
                    command.upgrade(cfg, target)
                    conn.commit()
                    ctx = MigrationContext.configure(
                        conn, opts={"version_table": "carbontrail_alembic_version"}
                    )
                    heads = sorted(ctx.get_current_heads())
                    conn.commit()
                return heads
        except sa.exc.SQLAlchemyError as exc:
            raise LedgerError(f"cannot upgrade ledger schema at {self.safe_url}: {exc}") from exc

    def current_heads(self) -> list[str]:
        """Migration heads the database is at."""
        from alembic.runtime.migration import MigrationContext

        with self.engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"version_table": "carbontrail_alembic_version"})
            return sorted(ctx.get_current_heads())

    @property
    def safe_url(self) -> str:
        """The URL with any password hidden."""
        return sa.engine.make_url(self.url).render_as_string(hide_password=True)

    # -- transactions -----------------------------------------------------------------------
    @contextlib.contextmanager
    def write(self) -> Iterator[sa.Connection]:
        """A connection in a write transaction (``BEGIN IMMEDIATE`` on SQLite); commits on success."""
        try:
            with self.write_engine.begin() as conn:
                yield conn
        except sa.exc.StatementError as exc:
            raise LedgerError(f"ledger write failed at {self.safe_url}: {exc.orig or exc}") from exc

    def insert_ignore(self, table: sa.Table) -> Any:
        """An ``INSERT ... ON CONFLICT DO NOTHING`` for this backend."""
        if self.dialect == "postgresql":
            return postgresql.insert(table).on_conflict_do_nothing()
        if self.dialect == "sqlite":
            return sqlite.insert(table).on_conflict_do_nothing()
        raise LedgerError(f"unsupported ledger backend {self.dialect!r}")

    # -- runs and spans ---------------------------------------------------------------------
    def add_run(
        self, run_id: str, name: str, *, started_at: datetime | None = None, tags: dict[str, str] | None = None
    ) -> None:
        """Record a run (idempotent on ``run_id``)."""
        row = {
            "run_id": run_id,
            "name": name,
            "started_at": started_at or datetime.now(UTC),
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "tags": tags or {},
        }
        with self.write() as conn:
            conn.execute(self.insert_ignore(runs), [row])

    def add_spans(self, records: Iterable[SpanRecord]) -> int:
        """Insert spans in one transaction, ignoring ones already present; return how many were given."""
        now = datetime.now(UTC)
        rows = [_span_row(r, now) for r in records]
        if not rows:
            return 0
        with self.write() as conn:
            conn.execute(self.insert_ignore(spans), rows)
        return len(rows)

    def update_emissions(self, records: Sequence[SpanRecord]) -> None:
        """Store grid-attributed emissions, intensity and provenance of already-recorded spans."""
        if not records:
            return
        stmt = (
            spans.update()
            .where(spans.c.span_id == sa.bindparam("b_span_id"))
            .values(
                emissions_g=sa.bindparam("b_emissions_g"),
                intensity_g_per_kwh=sa.bindparam("b_intensity"),
                provenance=sa.bindparam("b_provenance"),
            )
        )
        with self.write() as conn:
            conn.execute(
                stmt,
                [
                    {
                        "b_span_id": r.span_id,
                        "b_emissions_g": r.emissions_g,
                        "b_intensity": r.intensity_g_per_kwh,
                        "b_provenance": r.provenance,
                    }
                    for r in records
                ],
            )

    def span(self, span_id: str) -> SpanRecord:
        """One span by id (a unique prefix of at least 6 characters also works)."""
        with self.engine.connect() as conn:
            if len(span_id) < 32:
                if len(span_id) < 6:
                    raise LedgerError("give at least 6 characters of a span id")
                rows = conn.execute(spans.select().where(spans.c.span_id.startswith(span_id)).limit(2)).all()
            else:
                rows = conn.execute(spans.select().where(spans.c.span_id == span_id)).all()
        if len(rows) != 1:
            raise LedgerError(f"no span {span_id!r}" if not rows else f"span id prefix {span_id!r} is ambiguous")
        return _row_span(rows[0])

    def spans(
        self,
        *,
        run_id: str | None = None,
        kind: str | None = None,
        name: str | None = None,
        model: str | None = None,
        team: str | None = None,
        pipeline: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        roots_only: bool = False,
        limit: int | None = None,
        newest_first: bool = False,
    ) -> list[SpanRecord]:
        """Spans matching every filter given; ``since``/``until`` bound ``started_at``."""
        q = spans.select()
        for col, val in (
            (spans.c.run_id, run_id),
            (spans.c.kind, kind),
            (spans.c.name, name),
            (spans.c.model, model),
            (spans.c.team, team),
            (spans.c.pipeline, pipeline),
        ):
            if val is not None:
                q = q.where(col == val)
        if since is not None:
            q = q.where(spans.c.started_at >= since)
        if until is not None:
            q = q.where(spans.c.started_at < until)
        if roots_only:
            q = q.where(spans.c.parent_id.is_(None))
        order = spans.c.started_at.desc() if newest_first else spans.c.started_at
        q = q.order_by(order, spans.c.span_id)
        if limit is not None:
            q = q.limit(limit)
        with self.engine.connect() as conn:
            return [_row_span(r) for r in conn.execute(q)]

    def count_spans(self) -> int:
        """Number of spans stored."""
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(spans)).scalar_one())

    def close(self) -> None:
        """Dispose of the engines' connection pools."""
        self.engine.dispose()
        if self.write_engine is not self.engine:
            self.write_engine.dispose()
