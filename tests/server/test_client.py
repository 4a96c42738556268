"""IngestClient: offline buffer, retry, rejection and auth failure against a real server."""

from __future__ import annotations

import json
import socket

import pytest
from tests.server.conftest import make_span, start_live

from carbontrail.client import IngestClient
from carbontrail.errors import RemoteError


def _dead_url() -> str:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    return f"http://127.0.0.1:{port}"


def test_offline_buffer_survives_until_the_server_is_back(sqlite_url, tmp_path):
    outbox = tmp_path / "outbox"
    spans = [make_span(i) for i in range(25)]
    # the server is down: everything stays on disk
    down = IngestClient(_dead_url(), "ct_x_y", buffer_dir=outbox, batch_size=10, timeout_s=2)
    res = down.send(spans)
    assert (res.sent_spans, res.pending_batches) == (0, 3)
    assert down.pending_spans() == 25
    down.close()
    # a half-written batch left by a killed process is ignored (temporary name)
    (outbox / ".00000000000000000000-dead.json.tmp").write_text('{"spans": [')
    gen = start_live(sqlite_url, tmp_path)
    live = next(gen)
    try:
        with IngestClient(live.url, live.tokens["ingest"], buffer_dir=outbox, batch_size=10) as c:
            res = c.flush()
            assert (res.sent_spans, res.inserted, res.pending_batches, res.rejected_batches) == (25, 25, 0, 0)
            # re-sending the same spans is harmless (idempotent on span_id)
            res2 = c.send(spans[:5])
            assert (res2.sent_spans, res2.inserted) == (5, 0)
        assert live.ledger.count_spans() == 25
        assert sorted(s.span_id for s in live.ledger.spans()) == sorted(s.span_id for s in spans)
    finally:
        next(gen, None)


def test_rejected_batches_are_kept_aside_and_bad_tokens_keep_the_buffer(live_sqlite, tmp_path):
    outbox = tmp_path / "outbox"
    bad = make_span(1).to_dict()
    bad["energy_j"] = -5
    with IngestClient(live_sqlite.url, live_sqlite.tokens["ingest"], buffer_dir=outbox) as c:
        res = c.send([bad])
        assert res.rejected_batches == 1 and res.pending_batches == 0
        rejected = list((outbox / "rejected").glob("*.json"))
        assert len(rejected) == 1 and json.loads(rejected[0].read_text())["spans"][0]["energy_j"] == -5
        assert "validation" in (outbox / "rejected" / (rejected[0].name + ".problem")).read_text()
    with IngestClient(live_sqlite.url, live_sqlite.tokens["viewer"], buffer_dir=outbox) as c:
        with pytest.raises(RemoteError, match="403"):
            c.send([make_span(2)])
        assert c.pending_spans() == 1  # kept for a later try with a proper token
    with pytest.raises(ValueError):
        IngestClient(live_sqlite.url, "t", buffer_dir=outbox, batch_size=5000)


def test_retries_through_server_errors_until_the_server_recovers(live_sqlite, tmp_path):
    """A loopback proxy answers 503 to the first requests, then forwards to the real server."""
    import http.server
    import threading

    import httpx

    failures = {"left": 3}

    class Flaky(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if failures["left"] > 0:
                failures["left"] -= 1
                self.send_response(503)
                self.send_header("Content-Type", "application/problem+json")
                self.end_headers()
                self.wfile.write(b'{"status": 503, "detail": "busy"}')
                return
            r = httpx.post(
                f"{live_sqlite.url}{self.path}",
                content=body,
                headers={"Authorization": self.headers["Authorization"], "Content-Type": "application/json"},
            )
            self.send_response(r.status_code)
            self.send_header("Content-Type", r.headers["content-type"])
            self.end_headers()
            self.wfile.write(r.content)

        def log_message(self, *args):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Flaky)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{srv.server_address[1]}"
        with IngestClient(url, live_sqlite.tokens["ingest"], buffer_dir=tmp_path / "ob", batch_size=5) as c:
            first = c.send([make_span(i) for i in range(10)])  # no waiting: the 503 leaves both batches
            assert (first.sent_spans, first.pending_batches) == (0, 2)
            res = c.flush(wait_s=20, backoff_s=0.05)  # retries with back-off through the remaining 503s
            assert (res.sent_spans, res.inserted, res.pending_batches) == (10, 10, 0)
        assert failures["left"] == 0 and live_sqlite.ledger.count_spans() == 10
    finally:
        srv.shutdown()
