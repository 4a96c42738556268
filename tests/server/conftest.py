"""A real uvicorn server on loopback over a real ledger (SQLite and PostgreSQL), with a token per role."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from carbontrail.config import load_settings
from carbontrail.ledger import Ledger
from carbontrail.provenance import ComponentEnergy
from carbontrail.server import create_app
from carbontrail.server.auth import ROLES, TokenStore
from carbontrail.span import SpanRecord
from carbontrail.testing.server import serve_in_thread

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


@dataclass
class Live:
    url: str
    ledger: Ledger
    tokens: dict[str, str]
    app: Any

    def headers(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}


def make_span(
    i: int,
    *,
    kind: str = "train",
    energy_j: float = 3600.0,
    start: datetime | None = None,
    parent_id: str | None = None,
    zone: str = "DE",
    emissions_g: float | None = 0.4,
    model: str = "m1",
) -> SpanRecord:
    t = start or NOW - timedelta(hours=1) + timedelta(seconds=i)
    return SpanRecord(
        span_id=f"{i:032x}",
        run_id="run-x",
        name=f"step-{i}",
        kind=kind,
        started_at=t,
        ended_at=t + timedelta(seconds=10),
        duration_s=10.0,
        energy_j=energy_j,
        components=[ComponentEnergy("cpu:package-0", energy_j, "rapl", 0.05)],
        buckets=[(t.timestamp() // 300 * 300, energy_j)],
        parent_id=parent_id,
        zone=zone,
        model=model,
        emissions_g=emissions_g,
        intensity_g_per_kwh=None if emissions_g is None else emissions_g / (energy_j / 3.6e6),
        provenance=None
        if emissions_g is None
        else {"snapshot_id": "snap-1", "zone": zone, "uncertainty_rel": 0.1},
    )


def start_live(url: str, tmp_path) -> Iterator[Live]:
    led = Ledger.open(url)
    store = TokenStore(led)
    tokens = {role: store.create(f"{role}-user", role)[0] for role in ROLES}
    tokens["committee2"] = store.create("committee-2", "committee")[0]
    tokens["committee3"] = store.create("committee-3", "committee")[0]
    app = create_app(load_settings(home=tmp_path / ".ct"), ledger=led, clock=lambda: NOW)
    try:
        with serve_in_thread(app) as base:
            yield Live(base, led, tokens, app)
    finally:
        led.close()


@pytest.fixture
def live(ledger_url, tmp_path) -> Iterator[Live]:
    """The service on both backends."""
    yield from start_live(ledger_url, tmp_path)


@pytest.fixture
def live_sqlite(sqlite_url, tmp_path) -> Iterator[Live]:
    yield from start_live(sqlite_url, tmp_path)
