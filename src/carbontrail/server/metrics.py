"""Prometheus metrics of one app, in its own :class:`CollectorRegistry` (nothing global, nothing at import).

Ledger totals are read at scrape time (root spans only, so a parent and its children are not
counted twice): ``carbontrail_energy_joules_total{kind,zone}``,
``carbontrail_emissions_grams_total{kind,zone}`` (attributed spans), ``carbontrail_spans`` (gauge).
Service metrics: ``carbontrail_http_requests_total{method,route,status}``,
``carbontrail_http_request_duration_seconds{method,route}``, ``carbontrail_ingest_spans_total{result}``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from carbontrail.ledger.schema import spans

__all__ = ["AppMetrics", "LedgerCollector"]


class LedgerCollector(Collector):
    """Reads energy and emissions totals from the ledger on every scrape."""

    def __init__(self, ledger: Any) -> None:
        self.ledger = ledger

    def collect(self) -> Iterator[Metric]:
        energy = CounterMetricFamily(
            "carbontrail_energy_joules",
            "Energy of root spans recorded in the ledger",
            labels=["kind", "zone"],
        )
        emis = CounterMetricFamily(
            "carbontrail_emissions_grams",
            "Location-based emissions (gCO2e) of attributed root spans",
            labels=["kind", "zone"],
        )
        count = GaugeMetricFamily("carbontrail_spans", "Spans stored in the ledger")
        q = (
            sa.select(spans.c.kind, spans.c.zone, sa.func.sum(spans.c.energy_j), sa.func.sum(spans.c.emissions_g))
            .where(spans.c.parent_id.is_(None))
            .group_by(spans.c.kind, spans.c.zone)
        )
        with self.ledger.engine.connect() as conn:
            for kind, zone, e, g in conn.execute(q):
                energy.add_metric([kind, zone or ""], float(e or 0.0))
                if g is not None:
                    emis.add_metric([kind, zone or ""], float(g))
            n = conn.execute(sa.select(sa.func.count()).select_from(spans)).scalar_one()
        count.add_metric([], float(n))
        yield energy
        yield emis
        yield count


class AppMetrics:
    """The metrics of one app instance."""

    def __init__(self, ledger: Any) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.registry.register(LedgerCollector(ledger))
        self.requests = Counter(
            "carbontrail_http_requests",
            "HTTP requests served",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "carbontrail_http_request_duration_seconds",
            "HTTP request latency",
            ["method", "route"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
        )
        self.ingested = Counter(
            "carbontrail_ingest_spans",
            "Spans received by the ingest endpoint",
            ["result"],
            registry=self.registry,
        )
