"""Database engines for the ledger: SQLite (WAL, ``BEGIN IMMEDIATE`` writers) and PostgreSQL."""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url

from carbontrail.errors import LedgerError

__all__ = ["create_engines", "migration_lock", "normalise_url"]


def normalise_url(url: str) -> str:
    """Map ``postgresql://`` to the psycopg 3 driver; leave other URLs alone."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def _sqlite_path(url: str) -> Path | None:
    u = make_url(url)
    if u.get_backend_name() != "sqlite" or not u.database or u.database == ":memory:":
        return None
    return Path(u.database)


def create_engines(url: str) -> tuple[Engine, Engine]:
    """Return ``(reader, writer)`` engines for ``url``.

    On SQLite the writer starts every transaction with ``BEGIN IMMEDIATE`` (one writer at a time,
    waiting up to 60 s for the lock) and both use WAL; on PostgreSQL both are the same engine and
    shared state is protected with row locks (``SELECT ... FOR UPDATE``).
    """
    url = normalise_url(url)
    try:
        backend = make_url(url).get_backend_name()
    except Exception as exc:  # sqlalchemy.exc.ArgumentError
        raise LedgerError(f"not a database URL: {url!r}") from exc
    if backend != "sqlite":
        try:
            engine = sa.create_engine(url, pool_pre_ping=True, future=True)
        except Exception as exc:
            raise LedgerError(f"cannot open ledger {url!r}: {exc}") from exc
        return engine, engine
    path = _sqlite_path(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    reader = _sqlite_engine(url, immediate=False)
    writer = _sqlite_engine(url, immediate=True) if path is not None else reader
    return reader, writer


def _sqlite_engine(url: str, *, immediate: bool) -> Engine:
    engine = sa.create_engine(url, connect_args={"timeout": 60.0, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=60000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn) -> None:  # type: ignore[no-untyped-def]
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


@contextlib.contextmanager
def migration_lock(url: str, conn: sa.Connection) -> Iterator[None]:
    """Serialise schema upgrades across processes: a file lock on SQLite, an advisory lock on PostgreSQL."""
    url = normalise_url(url)
    backend = make_url(url).get_backend_name()
    if backend == "postgresql":
        conn.exec_driver_sql("SELECT pg_advisory_lock(74051712)")
        try:
            yield
        finally:
            conn.exec_driver_sql("SELECT pg_advisory_unlock(74051712)")
        return
    path = _sqlite_path(url)
    if path is None:
        yield
        return
    with open(str(path) + ".migrate.lock", "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
