"""The REST API over a real uvicorn server on loopback: auth, roles, ingest, reports, metrics, errors."""

from __future__ import annotations

import itertools
import json

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from tests.server.conftest import NOW, make_span

from carbontrail.server.deps import COOKIE
from carbontrail.span import SpanRecord

PROBLEM = "application/problem+json"


def test_health_needs_no_token_and_shows_heads(live):
    r = httpx.get(f"{live.url}/api/v1/health")
    assert r.status_code == 200
    assert "web_0001" in r.json()["heads"]


def test_missing_bad_and_revoked_tokens_are_401_problems(live):
    r = httpx.get(f"{live.url}/api/v1/whoami")
    assert r.status_code == 401 and r.headers["content-type"] == PROBLEM
    assert r.headers["www-authenticate"] == "Bearer"
    body = r.json()
    assert body["status"] == 401 and body["title"] == "Unauthorized" and body["instance"] == "/api/v1/whoami"
    for bad in (
        "nonsense",
        "ct_x_y",
        live.tokens["viewer"] + "x",
        live.tokens["viewer"].replace("ct_", "ct_0"),
    ):
        r = httpx.get(f"{live.url}/api/v1/whoami", headers={"Authorization": f"Bearer {bad}"})
        assert r.status_code == 401, bad
    adm = live.headers("admin")
    created = httpx.post(f"{live.url}/api/v1/tokens", json={"name": "ci", "role": "viewer"}, headers=adm)
    assert created.status_code == 201
    tok = created.json()
    h = {"Authorization": f"Bearer {tok['token']}"}
    assert httpx.get(f"{live.url}/api/v1/whoami", headers=h).json()["role"] == "viewer"
    assert httpx.delete(f"{live.url}/api/v1/tokens/{tok['token_id']}", headers=adm).status_code == 204
    assert httpx.get(f"{live.url}/api/v1/whoami", headers=h).status_code == 401
    assert httpx.delete(f"{live.url}/api/v1/tokens/{tok['token_id']}", headers=adm).status_code == 404
    listed = httpx.get(f"{live.url}/api/v1/tokens", headers=adm).json()
    assert all("secret" not in json.dumps(t) and tok["token"] not in json.dumps(t) for t in listed)


ROLE_MATRIX = [
    # (method, path, body, roles allowed)
    ("POST", "/api/v1/spans", {"spans": [make_span(900).to_dict()]}, {"ingest", "admin"}),
    ("GET", "/api/v1/spans", None, {"viewer", "submitter", "committee", "admin"}),
    ("GET", "/api/v1/reports?format=md", None, {"viewer", "submitter", "committee", "admin"}),
    ("GET", "/metrics", None, {"viewer", "submitter", "committee", "admin"}),
    ("GET", "/api/v1/tokens", None, {"admin"}),
    ("POST", "/api/v1/tokens", {"name": "n", "role": "ingest"}, {"admin"}),
    ("POST", "/api/v1/deployments/requests/nope/approve", None, {"committee", "admin"}),
    ("POST", "/api/v1/deployments/nope/requests", None, {"submitter", "admin"}),
    ("POST", "/api/v1/audit/checkpoint", None, {"admin"}),
    ("GET", "/api/v1/audit/verify", None, {"viewer", "submitter", "committee", "admin"}),
]


def test_role_enforcement(live_sqlite):
    live = live_sqlite
    for (method, path, body, allowed), role in itertools.product(
        ROLE_MATRIX, ("ingest", "viewer", "submitter", "committee", "admin")
    ):
        r = httpx.request(method, f"{live.url}{path}", json=body, headers=live.headers(role))
        if role in allowed:  # let through (a missing request is then a 404/409, not a 403)
            assert r.status_code not in (401, 403) and r.status_code < 500, (path, role, r.status_code, r.text)
        else:
            assert r.status_code == 403, (role, r.status_code)
            assert r.headers["content-type"] == PROBLEM
            assert role in r.json()["detail"]


def test_ingest_is_idempotent_and_round_trips(live):
    spans = [make_span(i) for i in range(10)]
    spans.append(make_span(10, kind="evaluate", parent_id=spans[0].span_id, energy_j=100.0))
    h = live.headers("ingest")
    body = {"spans": [s.to_dict() for s in spans]}
    r1 = httpx.post(f"{live.url}/api/v1/spans", json=body, headers=h)
    assert r1.json() == {"received": 11, "inserted": 11, "duplicates": 0}
    r2 = httpx.post(f"{live.url}/api/v1/spans", json=body, headers=h)
    assert r2.json() == {"received": 11, "inserted": 0, "duplicates": 11}
    assert live.ledger.count_spans() == 11
    got = httpx.get(f"{live.url}/api/v1/spans/{spans[3].span_id}", headers=live.headers("viewer")).json()
    assert SpanRecord.from_dict(got) == spans[3]
    lst = httpx.get(
        f"{live.url}/api/v1/spans", params={"roots_only": True, "limit": 50}, headers=live.headers("viewer")
    ).json()
    assert len(lst) == 10
    missing = httpx.get(f"{live.url}/api/v1/spans/{'f' * 32}", headers=live.headers("viewer"))
    assert missing.status_code == 404 and missing.headers["content-type"] == PROBLEM


def test_bad_spans_are_refused_whole_and_nothing_is_stored(live):
    h = {**live.headers("ingest"), "Content-Type": "application/json"}
    good = make_span(1).to_dict()
    cases = {
        "nan": json.dumps({"spans": [good]}).replace('"energy_j": 3600.0', '"energy_j": NaN', 1),
        "naive": json.dumps({"spans": [{**good, "started_at": "2026-03-10T10:00:00"}]}),
        "nul": json.dumps({"spans": [{**good, "name": "a\u0000b"}]}),
        "negative": json.dumps({"spans": [{**good, "energy_j": -1}]}),
        "bad id": json.dumps({"spans": [{**good, "span_id": "xyz"}]}),
        "unknown kind": json.dumps({"spans": [{**good, "kind": "party"}]}),
        "ends first": json.dumps({"spans": [{**good, "ended_at": "2026-01-01T00:00:00+00:00"}]}),
        "nan in provenance": json.dumps({"spans": [{**good, "provenance": {"x": float("nan")}}]}),
        "too many": json.dumps({"spans": [make_span(i).to_dict() for i in range(1001)]}),
        "empty": json.dumps({"spans": []}),
        "garbage": "{not json",
        "mixed batch": json.dumps({"spans": [make_span(2).to_dict(), {**good, "energy_j": "lots"}]}),
    }
    for name, text in cases.items():
        r = httpx.post(f"{live.url}/api/v1/spans", content=text, headers=h)
        assert r.status_code == 422, (name, r.status_code, r.text[:200])
        assert r.headers["content-type"] == PROBLEM
        assert r.json()["errors"], name
    assert live.ledger.count_spans() == 0


def test_reports_in_every_format_and_with_instruments(live):
    spans = [make_span(i, energy_j=3.6e6, emissions_g=300.0) for i in range(4)]
    httpx.post(
        f"{live.url}/api/v1/spans",
        json={"spans": [s.to_dict() for s in spans]},
        headers=live.headers("ingest"),
    )
    h = live.headers("viewer")
    rep = httpx.get(f"{live.url}/api/v1/reports", params={"format": "json", "model": "m1"}, headers=h).json()
    assert rep["totals"]["energy"]["value"] == pytest.approx(4 * 3.6e6)
    assert rep["totals"]["emissions_location"]["value"] == pytest.approx(1200.0)
    assert rep["ai_act"][0]["training_energy_mwh"]["value"] == pytest.approx(0.004)
    for fmt, ctype in (
        ("csv", "text/csv"),
        ("md", "text/markdown"),
        ("html", "text/html"),
        ("codecarbon", "text/csv"),
    ):
        r = httpx.get(f"{live.url}/api/v1/reports", params={"format": fmt}, headers=h)
        assert r.status_code == 200 and r.headers["content-type"].startswith(ctype), fmt
    cc = httpx.get(f"{live.url}/api/v1/reports", params={"format": "codecarbon"}, headers=h).text.splitlines()
    assert cc[0].startswith("timestamp,project_name,run_id,experiment_id,duration,emissions") and len(cc) == 5
    body = {
        "period_start": "2026-03-01T00:00:00Z",
        "period_end": "2026-04-01T00:00:00Z",
        "instruments": [
            {
                "instrument_id": "PPA-1",
                "kind": "ppa",
                "energy_mwh": 0.002,
                "zone": "DE",
                "start_at": "2026-03-01T00:00:00Z",
                "end_at": "2026-04-01T00:00:00Z",
            }
        ],
        "residual_mix_g_per_kwh": {"DE": 500.0},
        "sci": [{"model": "m1", "functional_unit": "training run", "units": 4, "kinds": ["train"]}],
    }
    m = httpx.post(f"{live.url}/api/v1/reports", json=body, headers=h).json()
    # 2 kWh covered by the PPA at 0 g, 2 kWh x 500 g/kWh residual
    assert m["totals"]["emissions_market"]["value"] == pytest.approx(1000.0)
    assert m["sci"][0]["sci"]["value"] == pytest.approx(1200.0 / 4)
    bad = httpx.get(f"{live.url}/api/v1/reports", params={"since": "2026-03-10T00:00:00"}, headers=h)
    assert bad.status_code == 422 and bad.headers["content-type"] == PROBLEM
    inv = httpx.post(f"{live.url}/api/v1/reports", json={**body, "period_end": "2026-02-01T00:00:00Z"}, headers=h)
    assert inv.status_code == 422


def test_metrics_reflect_the_ledger(live):
    spans = [make_span(i, energy_j=1000.0 + i, emissions_g=1.0) for i in range(5)]
    spans.append(make_span(99, parent_id=spans[0].span_id, energy_j=10.0, kind="evaluate"))
    httpx.post(
        f"{live.url}/api/v1/spans",
        json={"spans": [s.to_dict() for s in spans]},
        headers=live.headers("ingest"),
    )
    text = httpx.get(f"{live.url}/metrics", headers=live.headers("viewer")).text
    fams = {f.name: f for f in text_string_to_metric_families(text)}
    energy = {
        tuple(sorted(s.labels.items())): s.value
        for s in fams["carbontrail_energy_joules"].samples
        if s.name.endswith("_total")
    }
    assert energy == {(("kind", "train"), ("zone", "DE")): pytest.approx(5010.0)}  # roots only
    emis = [s.value for s in fams["carbontrail_emissions_grams"].samples if s.name.endswith("_total")]
    assert emis == [pytest.approx(5.0)]
    assert [s.value for s in fams["carbontrail_spans"].samples] == [6.0]
    ingested = {
        s.labels["result"]: s.value for s in fams["carbontrail_ingest_spans"].samples if s.name.endswith("_total")
    }
    assert ingested["inserted"] == 6.0


def test_two_apps_have_separate_registries(live_sqlite, tmp_path):
    from carbontrail.config import load_settings
    from carbontrail.server import create_app

    other = create_app(load_settings(home=tmp_path / "o"), ledger=live_sqlite.ledger, clock=lambda: NOW)
    assert other.state.ct.metrics.registry is not live_sqlite.app.state.ct.metrics.registry


def test_openapi_documents_bearer_and_problems(live_sqlite):
    spec = httpx.get(f"{live_sqlite.url}/openapi.json").json()
    assert "HTTPBearer" in spec["components"]["securitySchemes"]
    assert "Problem" in spec["components"]["schemas"]
    assert "/api/v1/spans" in spec["paths"] and "/metrics" in spec["paths"]


@pytest.mark.parametrize(
    "method,path",
    [("GET", p) for p in ("/ui/", "/ui/intensity", "/ui/hpo", "/ui/registry", "/ui/committee", "/ui/audit",
                          "/ui/reports", "/ui/spans")] + [("POST", "/ui/committee/r1/approve")],
)
def test_every_dashboard_page_needs_a_session(live_sqlite, method, path):
    r = httpx.request(method, f"{live_sqlite.url}{path}", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/ui/login"
    bad = httpx.request(method, f"{live_sqlite.url}{path}", cookies={COOKIE: "nope"}, follow_redirects=False)
    assert bad.status_code == 303
