"""A real uvicorn server on loopback over a real ledger (SQLite and PostgreSQL), with a token per role."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
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
        provenance=None if emissions_g is None else {"snapshot_id": "snap-1", "zone": zone, "uncertainty_rel": 0.1},
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


POLICY = Path(__file__).resolve().parents[2] / "examples" / "policies" / "deploy-carbon.yaml"


def seed_gov(live: Live) -> dict[str, str]:
    """A model with a carbon card, committee members named as the test tokens, the example policy,
    and two deployment requests: one vetoed by policy (DE, retraining every 2 days) and one needing
    approval (DE, monthly retraining). Returns the request ids."""
    from carbontrail.policy import Policy
    from carbontrail.registry import DeploymentSpec, Gate

    gov = live.app.state.ct.gov
    reg = gov.registry
    train = [make_span(7000 + i, energy_j=3.6e8, emissions_g=40_000.0, model="resnet-lite") for i in range(2)]
    retrain = [make_span(7100, kind="retrain", energy_j=1.8e8, emissions_g=20_000.0, model="resnet-lite")]
    live.ledger.add_spans([*train, *retrain])
    reg.register_model("resnet-lite", team="vision")
    mv = reg.register_version(
        "resnet-lite",
        lineage={"training": [s.span_id for s in train], "retraining": [retrain[0].span_id]},
        hardware={"gpu": "A100"},
        model_size_bytes=45_000_000,
    )
    reg.set_inference("resnet-lite", mv.version, {"measured": True, "energy_j_per_1k": 720.0, "uncertainty_rel": 0.1})
    gate = Gate(reg, Policy.load(POLICY), gov.audit, gov.intensity, clock=gov.clock)
    gate.add_member("admin-user", "admin")
    gate.add_member("submitter-user", "submitter", by="admin-user")
    for m in ("committee-user", "committee-2", "committee-3"):
        gate.add_member(m, "member", by="admin-user")
    gate.activate_policy(by="admin-user")
    dirty = DeploymentSpec("production", {"DE": 1.0}, 1e8, horizon_days=365.0, retrain_every_days=2.0, pue=1.2)
    d1 = reg.create_deployment("resnet-lite", 1, dirty, by="submitter-user")
    d2 = reg.create_deployment("resnet-lite", 1, replace(dirty, retrain_every_days=30.0), by="submitter-user")
    vetoed = gate.request(d1.deployment_id, submitter="submitter-user")
    pending = gate.request(d2.deployment_id, submitter="submitter-user")
    assert (vetoed.status, pending.status) == ("vetoed", "pending-approval"), (vetoed.status, pending.status)
    return {
        "vetoed": vetoed.request_id,
        "pending": pending.request_id,
        "d_vetoed": d1.deployment_id,
        "d_pending": d2.deployment_id,
    }
