"""OpenLineage run events of ingested root spans, received by a loopback HTTP server."""

from __future__ import annotations

import http.server
import json
import threading
import uuid

import httpx
from tests.server.conftest import NOW, make_span

from carbontrail.config import load_settings
from carbontrail.ledger import Ledger
from carbontrail.server import create_app
from carbontrail.server.auth import TokenStore
from carbontrail.testing.server import serve_in_thread


def test_root_spans_become_run_events(sqlite_url, tmp_path):
    received: list[dict] = []

    class Collector(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            received.append(
                {"path": self.path, "body": json.loads(self.rfile.read(int(self.headers["Content-Length"])))}
            )
            self.send_response(201)
            self.end_headers()

        def log_message(self, *args):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    led = Ledger.open(sqlite_url)
    token = TokenStore(led).create("w", "ingest")[0]
    settings = load_settings(
        home=tmp_path / "h",
        openlineage_url=f"http://127.0.0.1:{srv.server_address[1]}",
        openlineage_namespace="ml-platform",
    )
    app = create_app(settings, ledger=led, clock=lambda: NOW)
    try:
        with serve_in_thread(app) as url:
            root = make_span(1, energy_j=7200.0, emissions_g=0.8)
            child = make_span(2, parent_id=root.span_id, kind="evaluate")
            body = {"spans": [root.to_dict(), child.to_dict()]}
            h = {"Authorization": f"Bearer {token}"}
            assert httpx.post(f"{url}/api/v1/spans", json=body, headers=h).json()["inserted"] == 2
            assert httpx.post(f"{url}/api/v1/spans", json=body, headers=h).json()["inserted"] == 0
            app.state.ct.lineage.flush()
    finally:
        srv.shutdown()
        led.close()
    assert len(received) == 1  # the root once; children and duplicates are not events
    ev = received[0]
    assert ev["path"] == "/api/v1/lineage"
    e = ev["body"]
    assert e["eventType"] == "COMPLETE" and e["job"] == {"namespace": "ml-platform", "name": root.name, "facets": {}}
    assert e["run"]["runId"] == str(uuid.UUID(hex=root.span_id))
    facet = e["run"]["facets"]["carbontrail"]
    assert facet["energyJ"] == 7200.0 and facet["emissionsG"] == 0.8 and facet["methods"] == ["rapl"]
    assert facet["_producer"] and facet["_schemaURL"]
