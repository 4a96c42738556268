from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from carbontrail.errors import LedgerError
from carbontrail.ledger import Ledger
from carbontrail.provenance import ComponentEnergy
from carbontrail.span import SpanRecord


def _span(**kw) -> SpanRecord:
    t0 = datetime(2022, 6, 1, 12, tzinfo=UTC)
    base = dict(
        span_id=uuid.uuid4().hex,
        run_id="run-1",
        name="step",
        kind="train",
        started_at=t0,
        ended_at=t0 + timedelta(seconds=10),
        duration_s=10.0,
        energy_j=100.0,
        components=[ComponentEnergy("cpu", 100.0, "cpu-time-model", 0.3, {"tdp_w": 65})],
        buckets=[(t0.timestamp(), 100.0)],
    )
    base.update(kw)
    return SpanRecord(**base)


def test_roundtrip_and_idempotent(ledger: Ledger) -> None:
    s = _span(tags={"a": "b"}, team="ml")
    assert ledger.add_spans([s]) == 1
    ledger.add_spans([s])  # re-ingesting a journal must not duplicate
    assert ledger.count_spans() == 1
    got = ledger.span(s.span_id)
    assert got.started_at == s.started_at and got.started_at.tzinfo is not None
    assert got.components[0].detail == {"tdp_w": 65}
    assert got.tags == {"a": "b"}
    assert ledger.span(s.span_id[:8]).span_id == s.span_id


def test_filters(ledger: Ledger) -> None:
    parent = _span(kind="retrain")
    child = _span(kind="evaluate", parent_id=parent.span_id)
    ledger.add_spans([parent, child])
    assert [s.span_id for s in ledger.spans(roots_only=True)] == [parent.span_id]
    assert [s.kind for s in ledger.spans(kind="evaluate")] == ["evaluate"]


def test_naive_timestamp_refused(ledger: Ledger) -> None:
    s = _span(started_at=datetime(2022, 1, 1))
    with pytest.raises((ValueError, LedgerError)):
        ledger.add_spans([s])
    assert ledger.count_spans() == 0


def test_upgrade_idempotent(ledger: Ledger) -> None:
    from importlib import resources

    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory(str(resources.files("carbontrail.ledger") / "migrations"))
    assert ledger.upgrade() == ledger.upgrade() == sorted(scripts.get_heads())
    assert ledger.current_heads() == sorted(scripts.get_heads())


def test_bad_url() -> None:
    with pytest.raises(LedgerError):
        Ledger.open("nonsense")


def test_the_migrations_build_exactly_the_tables_the_code_declares(ledger):
    """Every area's migrations, applied in order, give the schema of the live table definitions."""
    import importlib

    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from carbontrail.ledger.schema import metadata

    for area in ("audit", "grid", "hpo", "registry", "schedule", "server"):
        importlib.import_module(f"carbontrail.{area}.tables")
    with ledger.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"version_table": "carbontrail_alembic_version"})
        assert compare_metadata(ctx, metadata) == []


def _names(engine) -> dict[str, tuple]:
    """Per table: primary key name, index names, unique constraint names and foreign key names."""
    insp = sa.inspect(engine)
    out = {}
    for t in insp.get_table_names():
        if t == "carbontrail_alembic_version":
            continue
        out[t] = (
            insp.get_pk_constraint(t).get("name"),
            sorted(i["name"] for i in insp.get_indexes(t)),
            sorted(str(u["name"]) for u in insp.get_unique_constraints(t)),
            sorted(str(f["name"]) for f in insp.get_foreign_keys(t)),
        )
    return out


def test_the_migrations_name_keys_and_indexes_as_the_declared_tables_do(ledger_url, tmp_path):
    """Constraint and index names matter to later migrations; compare them with a create_all of the code."""
    import importlib
    import uuid

    from tests.conftest import PG_URL, pg_schema_url

    from carbontrail.ledger.schema import metadata

    for area in ("audit", "grid", "hpo", "registry", "schedule", "server"):
        importlib.import_module(f"carbontrail.{area}.tables")
    led = Ledger.open(ledger_url)
    schema = None
    if led.dialect == "sqlite":
        declared_url = f"sqlite:///{tmp_path / 'declared.db'}"
    else:
        schema = "ct_decl_" + uuid.uuid4().hex[:10]
        admin = sa.create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://"))
        with admin.begin() as conn:
            conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
        declared_url = pg_schema_url(schema)
    declared = sa.create_engine(declared_url)
    try:
        metadata.create_all(declared)
        assert _names(led.engine) == _names(declared)
    finally:
        declared.dispose()
        led.close()
        if schema is not None:
            with admin.begin() as conn:
                conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
            admin.dispose()
