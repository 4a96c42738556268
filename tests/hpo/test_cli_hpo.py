"""carbontrail hpo run / status / stop on a real ledger and study."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from carbontrail.cli.main import app

CONFIG = """
study_name: cli-study
objective: carbontrail.testing.hpo:failing_or_pruned_objective
measure: carbontrail.testing.hpo:FakeTrialMeasure
quota: 200 J
n_trials: 6
sampler: random
seed: 3
ledger: {ledger}
initial_reservation_j: 20
space:
  x: {{low: 0.0, high: 1.0}}
"""


def test_run_status_stop(tmp_path, ledger_url):
    cfg = tmp_path / "study.yaml"
    cfg.write_text(CONFIG.format(ledger=ledger_url))
    runner = CliRunner()
    r = runner.invoke(app, ["hpo", "run", str(cfg), "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["account"]["counts"]["COMPLETE"] == 2 and d["account"]["counts"]["FAIL"] == 2
    assert d["account"]["spent_j"] >= 60.0 and d["account"]["overshoot"] == 0
    r = runner.invoke(app, ["hpo", "status", "cli-study", "--ledger", ledger_url, "--json"])
    assert r.exit_code == 0, r.output
    s = json.loads(r.stdout)
    assert s["spent_j"] == d["account"]["spent_j"] and s["open_reservations"] == []
    r = runner.invoke(app, ["hpo", "status", "cli-study", "--ledger", ledger_url])
    assert r.exit_code == 0 and "spent" in r.output
    r = runner.invoke(app, ["hpo", "stop", "cli-study", "--ledger", ledger_url])
    assert r.exit_code == 0
    r = runner.invoke(app, ["hpo", "status", "cli-study", "--ledger", ledger_url, "--json"])
    assert json.loads(r.stdout)["status"] == "stopped"


def test_bad_config_exit_code(tmp_path, sqlite_url):
    runner = CliRunner()
    bad = tmp_path / "bad.yaml"
    bad.write_text("objective: nocolon\nspace: {x: [1]}\nquota: 1 kJ\n")
    assert runner.invoke(app, ["hpo", "run", str(bad)]).exit_code == 3
    bad.write_text("objective: a:b\nspace: {x: [1]}\nquota: 1 kJ\nbogus: 1\n")
    r = runner.invoke(app, ["hpo", "run", str(bad)])
    assert r.exit_code == 3 and "unknown keys" in r.output
    bad.write_text("objective: a:b\nspace: {x: [1]}\nquota: 1 parsec\n")
    assert runner.invoke(app, ["hpo", "run", str(bad)]).exit_code == 3
    bad.write_text(": : :\n  - [")
    assert runner.invoke(app, ["hpo", "run", str(bad)]).exit_code == 3
    assert runner.invoke(app, ["hpo", "status", "nope", "--ledger", sqlite_url]).exit_code == 4
