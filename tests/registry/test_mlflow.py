"""MLflow: carbon-card tags, gated promotion, and the enforcing plugin in a real `mlflow server`."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from gov_rig import KEY, POLICY, ZONES, Clock, span

from carbontrail.audit import AuditLog
from carbontrail.errors import PolicyError
from carbontrail.ledger import Ledger
from carbontrail.policy import Policy
from carbontrail.registry import DeploymentSpec, Gate, Registry
from carbontrail.registry.mlflow_sync import card_tags, mirror_card, promote

mlflow = pytest.importorskip("mlflow")
SRC = str(Path(__file__).parents[2] / "src")
DIRTY = DeploymentSpec("production", {"DE": 1.0}, 1e8, retrain_every_days=2.0, pue=1.2)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def ledger_url(sqlite_url):
    """One backend here: starting an MLflow server takes tens of seconds on a busy machine."""
    return sqlite_url


@pytest.fixture
def server(tmp_path, ledger_url):
    """`mlflow server --app-name carbontrail-gate` on loopback, the plugin found through its entry point."""
    site = tmp_path / "site"
    dist = site / "carbontrail_gate_plugin-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: carbontrail-gate-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[mlflow.app]\ncarbontrail-gate = carbontrail.registry.mlflow_app:create_app\n"
    )
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARBONTRAIL_")}
    env.update(
        PYTHONPATH=f"{site}:{SRC}",
        CARBONTRAIL_LEDGER_URL=ledger_url,
        CARBONTRAIL_HOME=str(tmp_path / "home"),
        MLFLOW_TRACKING_URI="",
    )
    cmd = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--backend-store-uri",
        f"sqlite:///{tmp_path / 'mlflow.db'}",
        "--default-artifact-root",
        str(tmp_path / "artifacts"),
        "--app-name",
        "carbontrail-gate",
    ]
    Ledger.open(ledger_url).close()  # schema first, so the server only reads
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=tmp_path)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail("mlflow server exited: " + proc.stdout.read().decode()[-3000:])
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("mlflow server did not start")
    yield url
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.mark.slow
def test_plugin_refuses_unapproved_alias_changes(server, ledger_url):
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    ledger = Ledger.open(ledger_url)
    clock = Clock()
    audit = AuditLog(ledger, signing_key=KEY, clock=clock)
    reg = Registry(ledger, audit=audit, clock=clock)
    tr = span("train", 3.6e8, 400.0)
    ledger.add_spans([tr])
    reg.register_model("resnet-lite", team="vision")
    mv = reg.register_version("resnet-lite", lineage={"training": [tr.span_id]}, hardware={"gpu": "A100"})
    reg.set_inference("resnet-lite", 1, {"measured": True, "energy_j_per_1k": 720.0})
    gate = Gate(reg, Policy.load(POLICY), audit, ZONES, clock=clock)
    gate.add_member("root", "admin")
    for m in ("ana", "bo", "sam"):
        gate.add_member(m, "member", by="root")
    gate.activate_policy(by="root")

    client = MlflowClient(tracking_uri=server, registry_uri=server)
    client.create_registered_model("resnet-lite")
    run = client.create_run(experiment_id="0")
    client.create_model_version("resnet-lite", source=f"{run.info.artifact_uri}/model", run_id=run.info.run_id)
    tags = mirror_card(client, "resnet-lite", 1, reg.version("resnet-lite", 1).card)
    got = client.get_model_version("resnet-lite", "1").tags
    assert got["carbontrail.training.emissions_g"] == tags["carbontrail.training.emissions_g"] == "40000.0"
    assert card_tags(mv.card)["carbontrail.hardware.gpu"] == "A100"

    # no deployment request: the server refuses the alias, whoever asks
    with pytest.raises(MlflowException, match="refused"):
        client.set_registered_model_alias("resnet-lite", "production", "1")
    dep = reg.create_deployment("resnet-lite", 1, DIRTY)
    gate.request(dep.deployment_id, submitter="sam")  # vetoed by the annual budget
    with pytest.raises(PolicyError, match="vetoed"):
        promote(gate, client, "resnet-lite", 1, "production", by="sam")
    with pytest.raises(MlflowException, match="vetoed"):
        client.set_registered_model_alias("resnet-lite", "production", "1")
    # move to a clean zone: approved at once; promotion and direct alias changes now pass
    reg.update_deployment(dep.deployment_id, replace(DIRTY, zones={"FR": 1.0}, retrain_every_days=30.0))
    assert gate.request(dep.deployment_id, submitter="sam").status == "approved"
    # the CLI does the same against the same ledger
    from typer.testing import CliRunner

    from carbontrail.cli.main import app

    env = {"CARBONTRAIL_LEDGER_URL": ledger_url, "CARBONTRAIL_USER": "sam"}
    res = CliRunner().invoke(
        app, ["registry", "promote", "resnet-lite", "1", "staging", "--tracking-uri", server], env=env
    )
    assert res.exit_code == 5 and "refused" in res.output
    res = CliRunner().invoke(
        app, ["registry", "promote", "resnet-lite", "1", "production", "--tracking-uri", server], env=env
    )
    assert res.exit_code == 0, res.output
    assert client.get_model_version_by_alias("resnet-lite", "production").version == "1"
    promote(gate, client, "resnet-lite", 1, "production", by="sam")
    with pytest.raises(MlflowException, match="no deployment"):
        client.set_registered_model_alias("resnet-lite", "staging", "1")
    changes = [e.payload for e in audit.entries(kind="alias-change")]
    assert [c["allowed"] for c in changes] == [False, False, False, False, True, True, True, True, False]
    assert {c["via"] for c in changes} == {"mlflow-server", "promote"}
    assert AuditLog(ledger, signing_key=KEY).verify().ok
    ledger.close()
