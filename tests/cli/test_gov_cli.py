"""The governance CLI end to end: registry, deploy (veto, then approval after a zone change),
policy check/test/activate, audit verify/export (and a tampered chain)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from carbontrail.cli.main import app
from carbontrail.ledger import Ledger
from carbontrail.provenance import ComponentEnergy
from carbontrail.span import SpanRecord

EXAMPLES = Path(__file__).parents[2] / "examples" / "policies"
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def _span(kind: str, energy_j: float) -> SpanRecord:
    rec = SpanRecord(
        span_id=uuid.uuid4().hex,
        run_id="r",
        name=kind,
        kind=kind,
        started_at=T0,
        ended_at=T0 + timedelta(hours=1),
        duration_s=3600.0,
        energy_j=energy_j,
        components=[ComponentEnergy("gpu:0", energy_j, "nvml", 0.05)],
        buckets=[(T0.timestamp(), energy_j)],
    )
    return rec.with_emissions(energy_j / 3.6e6 * 400.0, 400.0, {"zone": "DE", "source": "stated"})


@pytest.fixture
def cli(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()

    def run(*args: str, code: int = 0) -> str:
        res = runner.invoke(app, list(args), catch_exceptions=False)
        assert res.exit_code == code, (args, res.output)
        return res.stdout

    return run, tmp_path / ".carbontrail"


def test_register_veto_then_approve_after_zone_change_and_audit(cli):
    run, home = cli
    led = Ledger.open(f"sqlite:///{home / 'ledger.db'}")
    train, retrain = _span("train", 7.2e8), _span("retrain", 1.8e8)
    led.add_spans([train, retrain])
    run("registry", "add-model", "resnet-lite", "--team", "vision")
    card = json.loads(
        run(
            "registry",
            "add-version",
            "resnet-lite",
            "--training",
            train.span_id[:8],
            "--retraining",
            retrain.span_id,
            "--hardware",
            "gpu=A100",
            "--json",
        )
    )
    assert card["card"]["training"]["emissions_g"] == pytest.approx(80_000.0)
    from carbontrail.registry import Registry

    Registry(led).set_inference("resnet-lite", 1, {"measured": True, "energy_j_per_1k": 720.0})
    run("deploy", "member-add", "root", "admin")
    for name, role in (("ana", "member"), ("bo", "member"), ("sam", "submitter")):
        run("deploy", "member-add", name, role, "--as", "root")
    run("deploy", "member-add", "eve", "admin", "--as", "ana", code=1)
    run("policy", "activate", str(EXAMPLES / "deploy-carbon.yaml"), "--as", "root")
    dep = json.loads(
        run(
            "deploy",
            "create",
            "resnet-lite",
            "1",
            "--env",
            "production",
            "--zone",
            "DE=1",
            "--traffic-per-day",
            "1e8",
            "--retrain-every-days",
            "2",
            "--pue",
            "1.2",
            "--json",
        )
    )
    did = dep["deployment_id"]
    vetoed = json.loads(run("deploy", "request", did, "--as", "sam", "--intensity", "DE=380", "--json", code=5))
    assert vetoed["status"] == "vetoed"
    run("deploy", "approve", vetoed["request_id"], "--as", "ana", code=1)
    run("deploy", "update", did, "--zone", "FR=1")
    ok = json.loads(run("deploy", "request", did, "--as", "sam", "--intensity", "FR=56", "--json"))
    assert ok["status"] == "approved" and ok["decision"]["outcome"] == "allow"
    assert json.loads(run("deploy", "status", ok["request_id"], "--json"))["status"] == "approved"
    fp = json.loads(
        run(
            "registry",
            "footprint",
            did,
            "--intensity",
            "FR=56",
            "--intensity",
            "DE=380",
            "--what-if-zone",
            "DE",
            "--what-if-zone",
            "FR",
            "--what-if-cadence",
            "30",
            "--json",
        )
    )
    assert [r["zone"] for r in fp["what_if"]] == ["FR", "DE"]
    dated = json.loads(
        run(
            "deploy",
            "create",
            "resnet-lite",
            "1",
            "--env",
            "staging",
            "--zone",
            "FR=1",
            "--traffic-per-day",
            "1000",
            "--start-at",
            "2026-04-01T00:00Z",
            "--retire-at",
            "2026-06-30T00:00Z",
            "--json",
        )
    )
    assert dated["spec"]["horizon_days"] == 90.0 and dated["spec"]["retire_at"].startswith("2026-06-30")
    run(
        "deploy",
        "create",
        "resnet-lite",
        "1",
        "--env",
        "x",
        "--zone",
        "FR=1",
        "--traffic-per-day",
        "1",
        "--start-at",
        "2026-04-01T00:00",
        code=3,
    )

    run("audit", "checkpoint")
    rep = json.loads(run("audit", "verify", "--json"))
    assert rep["ok"] and rep["entries"] > 10
    kinds = {e["kind"] for e in json.loads(run("audit", "list", "--limit", "1000", "--json"))}
    assert {"decision", "policy-activation", "registry", "deployment"} <= kinds
    run("audit", "export", "3", "--out", "bundle.json")
    run("audit", "verify-export", "bundle.json", "--trusted-public-key", rep["trusted_key"])
    run("audit", "prove-consistency", "1000", code=4)  # no such checkpoint: a ledger error
    cps = json.loads(run("audit", "prove-consistency", str(rep["entries"]), "--json"))
    assert cps["new"]["tree_size"] == rep["entries"]
    # tamper with a decision: verify names it and fails
    from carbontrail.audit.tables import audit_entries

    with led.write() as conn:
        conn.execute(audit_entries.update().where(audit_entries.c.seq == 5).values(payload='{"forged":true}'))
    bad = json.loads(run("audit", "verify", "--json", code=1))
    assert bad["first_bad_seq"] == 5
    led.close()


def test_policy_check_and_test_commands(cli, tmp_path):
    run, _home = cli
    info = json.loads(run("policy", "check", str(EXAMPLES / "deploy-carbon.yaml"), "--json"))
    assert len(info["rules"]) == 6
    run("policy", "test", str(EXAMPLES))
    bad = tmp_path / "bad.yaml"
    bad.write_text("policy: x\nrules:\n  - id: r1\n    require: 'input.a >'\n")
    res = CliRunner().invoke(app, ["policy", "check", str(bad)])
    assert res.exit_code == 1 and f"{bad}:4: rule 'r1'" in res.output.replace("\n", "")
    inp = tmp_path / "in.yaml"
    inp.write_text("a: 1\n")
    ok = tmp_path / "ok.yaml"
    ok.write_text("policy: y\nrules:\n  - {id: r, require: 'input.a > 5.0', message: 'a is {input.a}'}\n")
    d = json.loads(run("policy", "check", str(ok), "--input", str(inp), "--json", code=5))
    assert d["outcome"] == "veto" and d["rules"][0]["message"] == "a is 1.0"
