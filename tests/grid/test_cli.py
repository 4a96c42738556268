"""`carbontrail grid zones|show|forecast`."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from typer.testing import CliRunner

from carbontrail.cli.main import app
from carbontrail.grid.sources import SeriesSource

runner = CliRunner()


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
