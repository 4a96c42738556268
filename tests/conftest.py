"""Shared fixtures: a ledger URL on each backend (SQLite file, PostgreSQL schema)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

PG_URL = os.environ.get("CARBONTRAIL_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


def _pg_available() -> bool:
    try:
        eng = sa.create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://"))
        with eng.connect():
            pass
        eng.dispose()
        return True
    except Exception:
        return False


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path, monkeypatch) -> None:
    """No test reads the developer's settings or writes into the repository's .carbontrail."""
    for key in list(os.environ):
        if key.startswith("CARBONTRAIL_") and key != "CARBONTRAIL_TEST_PG_URL":
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("CARBONTRAIL_HOME", str(tmp_path / ".carbontrail"))


def pg_schema_url(schema: str) -> str:
    base = PG_URL.replace("postgresql://", "postgresql+psycopg://")
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options=-csearch_path%3D{schema}"


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped after the test."""
    if os.environ.get("CI") and not _pg_available():
        pytest.fail("PostgreSQL is not reachable in CI at " + PG_URL)
    if not _pg_available():
        pytest.skip("PostgreSQL not reachable")
    schema = "ct_" + uuid.uuid4().hex[:12]
    admin = sa.create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://"))
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    try:
        yield pg_schema_url(schema)
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'ledger.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger_url(request) -> str:
    """The same test on both backends."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_url")
    return request.getfixturevalue("pg_url")


@pytest.fixture
def ledger(ledger_url):
    from carbontrail.ledger import Ledger

    led = Ledger.open(ledger_url)
    yield led
    led.close()
