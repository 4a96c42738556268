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


def test_carbon_aware_key_reaches_the_workers(tmp_path, sqlite_url):
    # a deadline already passed: the worker starts no trial (and nothing waits)
    cfg = tmp_path / "study.yaml"
    cfg.write_text(CONFIG.format(ledger=sqlite_url) + "carbon_aware: {zone: DE, deadline_at: 2020-01-01T00:00Z}\n")
    r = CliRunner().invoke(app, ["hpo", "run", str(cfg), "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["workers"][0]["stop_reason"] == "deadline" and d["account"]["spent_j"] == 0


def test_carbon_aware_key_is_checked():
    from datetime import UTC, datetime

    import pytest

    from carbontrail.errors import ConfigError
    from carbontrail.hpo.config import HpoConfig
    from carbontrail.hpo.timing import CarbonTiming

    base = {"objective": "a:b", "space": {"x": [1, 2]}, "quota": "1 kJ"}
    cfg = HpoConfig.from_dict({**base, "carbon_aware": {"zone": "DE", "deadline_at": "2025-06-01T06:00Z",
                                                        "min_saving_rel": 0.1}})
    timing = cfg.carbon_timing(source=object())
    assert isinstance(timing, CarbonTiming) and timing.zone == "DE" and timing.min_saving_rel == 0.1
    assert timing.deadline_at == datetime(2025, 6, 1, 6, tzinfo=UTC)
    for bad in ({"zone": "DE", "deadline_at": "2025-06-01T06:00"},  # no zone offset
                {"zone": "DE", "deadline_at": "tomorrow"}, {"deadline_at": "2025-06-01T06:00Z"},
                {"zone": "DE", "deadline_at": "2025-06-01T06:00Z", "sleep": 1}, "DE"):
        with pytest.raises(ConfigError):
            HpoConfig.from_dict({**base, "carbon_aware": bad})
