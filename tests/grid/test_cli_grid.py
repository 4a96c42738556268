"""`carbontrail grid zones|show|forecast`."""

from __future__ import annotations

import json
import math
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from typer.testing import CliRunner

from carbontrail.cli.main import app
from carbontrail.grid.sources import SeriesSource

runner = CliRunner()
FIX = Path(__file__).parent / "fixtures"


def run(*args: str):
    return runner.invoke(app, ["grid", *args])


def test_zones_search_json():
    r = run("zones", "--search", "frankfurt", "--json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert {f"{c['provider']}:{c['region']}" for c in data["cloud_regions"]} >= {"aws:eu-central-1"}
    r = run("zones", "--search", "ERCOT")
    assert r.exit_code == 0 and "ERCO" in r.stderr


def test_show_at_a_time_with_provenance():
    r = run("show", "US-CAL-CISO", "--at", "2022-07-01T20:30Z", "--json")
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    expected = SeriesSource().series_for("CISO").value_at(datetime(2022, 7, 1, 20, 30, tzinfo=UTC).timestamp())
    assert d["intensity_g_per_kwh"] == pytest.approx(expected)
    assert d["provenance"]["source"] == "series" and d["provenance"]["vintage"] == "2022"
    r = run("show", "CISO", "--at", "2022-07-01T20:30Z")
    assert r.exit_code == 0 and "EIA-930" in r.stderr


def test_show_window_and_fallback_is_visible():
    r = run("show", "DE", "--from", "2020-05-01T00:00Z", "--to", "2020-05-01T03:00Z", "--json")
    d = json.loads(r.stdout)
    assert d["step_s"] == 900 and len(d["values_g_per_kwh"]) == 12
    r = run("show", "aws:eu-central-1", "--at", "2026-01-01T00:00Z")
    assert r.exit_code == 0 and "fallback: series" in r.stderr and "Ember" in r.stderr


def test_show_user_series(tmp_path):
    p = tmp_path / "s.csv"
    p.write_text("when,ci\n2025-01-01T00:00Z,100\n2025-01-01T01:00Z,300\n")
    r = run("show", "NL", "--at", "2025-01-01T01:10Z", "--series", f"{p}?unit=g/kWh&time=when&value=ci", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["intensity_g_per_kwh"] == 300


@pytest.mark.parametrize(
    ("args", "code", "text"),
    [
        (("show", "DEX"), 1, "did you mean"),
        (("show", "CISO", "--at", "2022-07-01T20:00"), 2, "no time zone"),
        (("show", "CISO", "--from", "2022-07-01T20:00Z"), 2, "go together"),
        (("show", "CISO", "--series", "x.csv"), 3, "declare the unit"),
    ],
)
def test_show_errors(args, code, text):
    r = run(*args)
    assert r.exit_code == code and text in r.output


# -- forecast ---------------------------------------------------------------------------------------
def test_forecast_from_a_bundled_series():
    r = run("forecast", "CISO", "--now", "2022-07-10T00:00Z", "--horizon", "6h", "--json")
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["start"] == "2022-07-10T00:00+00:00" and len(d["values_g_per_kwh"]) == 6
    assert d["provenance"]["source"].startswith("forecast:") and d["provenance"]["estimated"]
    assert len(d["uncertainty_rel"]) == 6 and all(u > 0 for u in d["uncertainty_rel"])
    r = run("forecast", "ERCOT", "--horizon", "2h")
    assert r.exit_code == 0 and "series ends 2023-01-01" in r.stderr


def test_forecast_from_a_user_series(tmp_path):
    t0 = datetime(2025, 1, 1, tzinfo=UTC).timestamp()
    rows = [f"{t0 + 3600 * i},{200 + 100 * math.sin(2 * math.pi * i / 24):.3f}" for i in range(24 * 20)]
    p = tmp_path / "site.csv"
    p.write_text("timestamp,ci\n" + "\n".join(rows))
    spec = f"{p}?unit=g/kWh&value=ci"
    r = run("forecast", "US-CA", "--series", spec, "--now", "2025-01-20T00:00Z", "--horizon", "24h", "--json")
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert len(d["values_g_per_kwh"]) == 24
    # a clean daily cycle is forecast closely
    truth = [200 + 100 * math.sin(2 * math.pi * (19 * 24 + h) / 24) for h in range(24)]
    assert max(abs(a - b) for a, b in zip(d["values_g_per_kwh"], truth, strict=True)) < 5


@pytest.mark.parametrize(
    ("args", "text"),
    [
        (("forecast", "US-CA"), "no intensity series for zone US-CA"),
        (("forecast", "CISO", "--now", "2021-01-01T00:00Z"), "outside the CISO series"),
        (("forecast", "CISO", "--now", "2022-01-03T00:00Z"), "history"),
    ],
)
def test_forecast_errors(args, text):
    r = run(*args)
    assert r.exit_code == 1 and text in r.output


# -- a live provider on loopback, then down: the CLI falls back to the ledger cache ---------------------
class _UK(BaseHTTPRequestHandler):
    up = True

    def do_GET(self):
        if not _UK.up:
            self.send_response(503)
            self.end_headers()
            return
        body = (FIX / "uk_intensity_range.json").read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_live_provider_then_cache_when_it_is_down(monkeypatch):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _UK)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        monkeypatch.setenv("CARBONTRAIL_GRID_PROVIDERS", "uk")
        monkeypatch.setenv("CARBONTRAIL_UK_CARBON_INTENSITY_URL", f"http://127.0.0.1:{server.server_address[1]}")
        monkeypatch.setenv("CARBONTRAIL_PROVIDER_TIMEOUT_S", "2")
        args = ("show", "GB", "--from", "2024-03-01T00:00Z", "--to", "2024-03-01T06:00Z", "--json")
        live = json.loads(run(*args).stdout)
        assert live["provenance"]["source"] == "uk-carbon-intensity" and not live["provenance"]["fallbacks"]
        _UK.up = False
        r = run(*args)
        assert r.exit_code == 0, r.output
        cached = json.loads(r.stdout)
        assert cached["values_g_per_kwh"] == live["values_g_per_kwh"]
        assert "ledger cache" in cached["provenance"]["dataset"]
        assert "server error 503" in cached["provenance"]["fallbacks"][0]
    finally:
        _UK.up = True
        server.shutdown()
        server.server_close()


# -- WattTime's past forecasts on loopback, into an archive, then a back-test plan on it ------------------
class _WattTime(BaseHTTPRequestHandler):
    paths: list[str] = []

    def do_GET(self):
        _WattTime.paths.append(self.path)
        if self.path.startswith("/login"):
            body = json.dumps({"token": "tok"}).encode()
        elif self.path.startswith("/v3/forecast/historical") and "2024-03-01" in self.path:
            body = (FIX / "wt_forecast_historical_CAISO_NORTH.json").read_bytes()
        else:
            meta = json.loads((FIX / "wt_forecast_historical_CAISO_NORTH.json").read_text())["meta"]
            body = json.dumps({"data": [], "meta": meta}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_past_forecasts_into_an_archive_and_a_back_test_plan(monkeypatch, tmp_path):
    r = run("past-forecasts", "CISO", "--from", "2024-03-01T00:00Z", "--to", "2024-03-01T01:00Z",
            "--out", str(tmp_path / "a.jsonl"))
    assert r.exit_code != 0 and "add 'watttime' to grid_providers" in r.output
    server = ThreadingHTTPServer(("127.0.0.1", 0), _WattTime)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("CARBONTRAIL_GRID_PROVIDERS", "watttime")
        monkeypatch.setenv("CARBONTRAIL_WATTTIME_USERNAME", "ann")
        monkeypatch.setenv("CARBONTRAIL_WATTTIME_PASSWORD", "secret")
        monkeypatch.setenv("CARBONTRAIL_WATTTIME_URL", f"http://127.0.0.1:{server.server_address[1]}")
        out = tmp_path / "ciso.jsonl"
        r = run("past-forecasts", "CISO", "--from", "2024-03-01T00:00Z", "--to", "2024-03-02T12:00Z",
                "--out", str(out))
        assert r.exit_code == 0, r.output
        assert "2 CISO forecasts" in r.output
        assert sum(p.startswith("/v3/forecast/historical") for p in _WattTime.paths) == 2  # one call per day
        assert len(out.read_text().splitlines()) == 2
    finally:
        server.shutdown()
        server.server_close()
    # plan at 00:05 on what was known then: the 00:05 run (its cheapest 15 minutes are its first)
    r = runner.invoke(app, ["schedule", "plan", "--duration", "15m", "--earliest", "2024-03-01T00:05Z",
                            "--deadline", "2024-03-01T00:55Z", "--archive", str(out), "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["zone"] == "CISO" and d["start_at"].startswith("2024-03-01T00:05")
    # 100 W for 15 min on the 00:05 run's first points (760, 770, 780 lbs/MWh), not the 00:00 run's (810..830)
    assert d["expected_emissions_g"] == pytest.approx(0.025 * 770 * 0.45359237, rel=1e-3)
    r = runner.invoke(app, ["schedule", "plan", "--duration", "15m", "--earliest", "2024-02-29T23:00Z",
                            "--deadline", "2024-03-01T00:55Z", "--archive", str(out)])
    assert r.exit_code != 0 and "generated 2024-03-01T00:00" in r.output
