"""``carbontrail report ...`` on a real ledger."""

from __future__ import annotations

import csv
import io
import json

from tests.report.conftest import T0
from typer.testing import CliRunner

from carbontrail.cli.main import app
from carbontrail.ledger import Ledger

runner = CliRunner()


def test_report_commands(sqlite_url, sample_spans, tmp_path):
    led = Ledger.open(sqlite_url)
    led.add_spans(sample_spans)
    led.close()
    inputs = tmp_path / "inputs.yaml"
    inputs.write_text(
        "instruments:\n"
        "  - {id: GO-1, kind: certificate, energy: 0.0005 MWh, zone: DE, start: 2026-01-01, end: 2026-02-01}\n"
        "residual_mix: {DE: 600}\n"
        "sci:\n  - {model: m1, functional_unit: prediction, units: 2000, embodied_g: 20}\n"
        "ai_act_models: [m1]\n"
    )
    out = tmp_path / "r.json"
    res = runner.invoke(
        app,
        [
            "report",
            "build",
            "--since",
            "2026-01-01",
            "--until",
            "2026-02-01",
            "-f",
            "json",
            "-o",
            str(out),
            "--inputs",
            str(inputs),
            "--url",
            sqlite_url,
        ],
    )
    assert res.exit_code == 0, res.output
    rep = json.loads(out.read_text())
    assert rep["totals"]["emissions_market"]["value"] == 700.0  # as hand-computed in tests/report
    assert rep["sci"][0]["sci"]["value"] == 0.06 and rep["ai_act"][0]["model"] == "m1"
    cc = tmp_path / "emissions.csv"
    res = runner.invoke(
        app,
        [
            "report",
            "emissions-csv",
            "--since",
            T0.date().isoformat(),
            "--until",
            "2026-02-01",
            "-o",
            str(cc),
            "--url",
            sqlite_url,
        ],
    )
    assert res.exit_code == 0 and len(list(csv.DictReader(io.StringIO(cc.read_text())))) == 3
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "instruments:\n  - {id: X, kind: offset, energy: 1 MWh, zone: DE, start: 2026-01-01, end: 2026-02-01}\n"
    )
    res = runner.invoke(app, ["report", "build", "--inputs", str(bad), "--url", sqlite_url])
    assert res.exit_code == 3 and "kind" in res.output
    res = runner.invoke(app, ["report", "build", "--since", "yesterday", "--url", sqlite_url])
    assert res.exit_code == 3 and "cannot parse time" in res.output
