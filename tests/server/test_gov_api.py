"""Deployment requests, committee actions, policy decisions and audit over the real server."""

from __future__ import annotations

import httpx
import pytest
from tests.server.conftest import make_span, seed_gov

from carbontrail.errors import LedgerError

PROBLEM = "application/problem+json"


def test_committee_workflow_over_http(live):
    ids = seed_gov(live)
    url = live.url
    reqs = httpx.get(f"{url}/api/v1/deployments/requests", headers=live.headers("viewer")).json()
    assert {r["request_id"]: r["status"] for r in reqs} == {ids["vetoed"]: "vetoed", ids["pending"]: "pending-approval"}
    act = f"{url}/api/v1/deployments/requests/{ids['pending']}"
    # roles: a viewer or a submitter token cannot act; an ingest token cannot even read
    assert httpx.post(f"{act}/approve", headers=live.headers("viewer")).status_code == 403
    assert httpx.post(f"{act}/approve", headers=live.headers("submitter")).status_code == 403
    assert httpx.get(f"{url}/api/v1/deployments/requests", headers=live.headers("ingest")).status_code == 403
    r1 = httpx.post(f"{act}/approve", headers=live.headers("committee"))
    assert r1.status_code == 200 and r1.json()["status"] == "pending-approval"  # quorum is 2
    r2 = httpx.post(f"{act}/approve", headers=live.headers("committee2"))
    assert r2.json()["status"] == "approved" and r2.json()["detail"]["approvals"] == ["committee-2", "committee-user"]
    allowed = httpx.get(f"{url}/api/v1/deployments/{ids['d_pending']}/allowed", headers=live.headers("viewer")).json()
    assert allowed["allowed"] is True
    # a vetoed request cannot be approved (409 problem); an override needs two members and a justification
    veto_url = f"{url}/api/v1/deployments/requests/{ids['vetoed']}"
    bad = httpx.post(f"{veto_url}/approve", headers=live.headers("committee"))
    assert bad.status_code == 409 and bad.headers["content-type"] == PROBLEM and "override" in bad.json()["detail"]
    short = httpx.post(f"{veto_url}/override", json={"justification": "because"}, headers=live.headers("committee"))
    assert short.status_code == 409
    why = {"justification": "migrating to a renewable PPA site within the quarter; signed off by ops"}
    o1 = httpx.post(f"{veto_url}/override", json=why, headers=live.headers("committee")).json()
    assert o1["status"] == "vetoed"
    o2 = httpx.post(f"{veto_url}/override", json=why, headers=live.headers("committee3")).json()
    assert o2["status"] == "approved"
    missing = httpx.post(f"{url}/api/v1/deployments/requests/nope/approve", headers=live.headers("committee"))
    assert missing.status_code == 404 and missing.headers["content-type"] == PROBLEM
    # the submitter's token can submit a new request for a deployment
    sub = httpx.post(f"{url}/api/v1/deployments/{ids['d_vetoed']}/requests", headers=live.headers("submitter"))
    assert sub.status_code == 201 and sub.json()["status"] == "vetoed"
    # every decision and action is in the audit chain, which verifies
    audit = httpx.get(f"{url}/api/v1/audit/verify", headers=live.headers("viewer")).json()
    assert audit["ok"] and audit["entries"] >= 8
    assert httpx.post(f"{url}/api/v1/audit/checkpoint", headers=live.headers("viewer")).status_code == 403
    cp = httpx.post(f"{url}/api/v1/audit/checkpoint", headers=live.headers("admin")).json()
    assert cp["tree_size"] == audit["entries"]
    # reports are tied to the latest signed checkpoint, after verifying the chain
    rep = httpx.get(f"{url}/api/v1/reports", params={"format": "json"}, headers=live.headers("viewer")).json()
    assert rep["audit"]["checkpoint_id"] == f"checkpoint@{cp['tree_size']}"
    assert rep["audit"]["root_hash"] == cp["root"] and rep["audit"]["status"] == "chain verified"


def test_policy_decisions_registry_and_ingest_audit(live_sqlite):
    live = live_sqlite
    seed_gov(live)
    h = live.headers("viewer")
    models = httpx.get(f"{live.url}/api/v1/registry/models", headers=h).json()
    card = models[0]["versions"][0]["card"]
    assert card["training"]["emissions_g"] == pytest.approx(80_000.0)
    req = httpx.get(f"{live.url}/api/v1/deployments/requests", headers=h).json()[0]
    policy_input = live.app.state.ct.gov.gate().status(req["request_id"]).input
    d = httpx.post(f"{live.url}/api/v1/policy/evaluate", json={"input": policy_input}, headers=h).json()
    assert d["outcome"] == "veto" and d["input_digest"] == req["input_digest"]
    broken = httpx.post(f"{live.url}/api/v1/policy/evaluate", json={"input": {"nothing": 1}}, headers=h).json()
    assert broken["outcome"] == "veto"  # evaluation errors fail closed
    before = httpx.get(f"{live.url}/api/v1/audit/verify", headers=h).json()["entries"]
    httpx.post(f"{live.url}/api/v1/spans", json={"spans": [make_span(1).to_dict()]}, headers=live.headers("ingest"))
    httpx.post(f"{live.url}/api/v1/spans", json={"spans": [make_span(1).to_dict()]}, headers=live.headers("ingest"))
    entries = live.app.state.ct.gov.audit.entries()
    batches = [e for e in entries if e.kind == "span-batch"]
    assert len(batches) == 1 and batches[0].payload["span_ids"] == [make_span(1).span_id]  # duplicates not re-audited
    assert httpx.get(f"{live.url}/api/v1/audit/verify", headers=h).json()["entries"] == before + 1
    grid = httpx.get(
        f"{live.url}/api/v1/grid/intensity",
        params={"zone": "DE", "since": "2020-03-01T00:00:00Z", "until": "2020-03-02T00:00:00Z"},
        headers=h,
    ).json()
    assert grid["zone"] == "DE" and len(grid["values_g_per_kwh"]) >= 24
    assert httpx.get(f"{live.url}/api/v1/grid/intensity", params={"zone": "Atlantis"}, headers=h).status_code == 404
    assert httpx.get(f"{live.url}/api/v1/schedule/jobs", headers=h).json() == []
    assert httpx.get(f"{live.url}/api/v1/hpo/studies", headers=h).json() == []


def test_spans_and_their_audit_entry_commit_together(live, monkeypatch):
    """If the audit entry cannot be written the spans are not stored either; a retry stores both."""
    audit = live.app.state.ct.gov.audit
    span = make_span(42)

    def disk_full(*_a, **_k):
        raise RuntimeError("audit write failed: disk full")

    monkeypatch.setattr(audit, "_append_in", disk_full)
    url, h = f"{live.url}/api/v1/spans", live.headers("ingest")
    r = httpx.post(url, json={"spans": [span.to_dict()]}, headers=h)
    assert r.status_code == 500
    with pytest.raises(LedgerError):
        live.ledger.span(span.span_id)
    monkeypatch.undo()
    r = httpx.post(url, json={"spans": [span.to_dict()]}, headers=h)
    assert r.status_code == 200 and r.json()["inserted"] == 1
    assert live.ledger.span(span.span_id).energy_j == span.energy_j
    [batch] = [e for e in audit.entries() if e.kind == "span-batch"]
    assert batch.payload["span_ids"] == [span.span_id]
