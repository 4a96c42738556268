"""Registry, carbon cards, lifecycle, deployments and profiling on both backends."""

from __future__ import annotations

import pytest

from carbontrail.config import load_settings
from carbontrail.errors import RegistryError, UnitError
from carbontrail.meter.base import MeterSet
from carbontrail.meter.track import Tracker
from carbontrail.registry import DeploymentSpec
from carbontrail.testing import FakeMeter


def test_carbon_card_from_lineage_spans(rig):
    reg, *_ = rig
    mv = reg.version("resnet-lite", 1)
    card = mv.card
    assert card["training"]["energy_j"] == pytest.approx(7.2e8)
    assert card["training"]["emissions_g"] == pytest.approx(80_000.0)
    assert card["training"]["energy_by_method_j"] == {"nvml": pytest.approx(7.2e8)}
    assert card["training"]["measured_share"] == 1.0
    assert card["training"]["intensity_provenance"][0]["dataset"] == "Ember"
    assert card["retraining"]["per_run_emissions_g"] == pytest.approx(20_000.0)
    assert len(mv.lineage["retraining"][0]) == 32  # prefix resolved to the full span id
    assert card["hardware"] == {"gpu": "A100"} and card["model_size_bytes"] == 45_000_000
    assert card["inference"]["energy_j_per_1k"] == 720.0
    assert [v.version for v in reg.versions("resnet-lite")] == [1]


def test_bad_lineage_and_unknown_things_are_refused(rig):
    reg, *_ = rig
    with pytest.raises(RegistryError, match="lineage"):
        reg.register_version("resnet-lite", lineage={"training": ["deadbeefdeadbeef"]})
    with pytest.raises(RegistryError, match="lineage kind"):
        reg.register_version("resnet-lite", lineage={"eval": []})
    with pytest.raises(RegistryError, match="no model"):
        reg.register_version("ghost")
    with pytest.raises(RegistryError, match="team"):
        reg.register_model("resnet-lite", team="other")
    assert reg.versions("resnet-lite")[-1].version == 1  # nothing half-written


def test_lifecycle_transitions(rig):
    reg, *_ = rig
    assert reg.transition("resnet-lite", 1, "staging").state == "staging"
    assert reg.transition("resnet-lite", 1, "production").state == "production"
    with pytest.raises(RegistryError, match="cannot go"):
        reg.transition("resnet-lite", 1, "staging")
    reg.transition("resnet-lite", 1, "retired")
    with pytest.raises(RegistryError):
        reg.transition("resnet-lite", 1, "production")
    with pytest.raises(RegistryError, match="retired"):
        reg.create_deployment("resnet-lite", 1, DeploymentSpec("production", {"FR": 1.0}, 1e6))


def test_deployments_validate_and_move(rig):
    reg, *_ = rig
    with pytest.raises(UnitError):
        reg.create_deployment("resnet-lite", 1, DeploymentSpec("production", {"FR": 1.0}, float("nan")))
    with pytest.raises(UnitError):
        reg.create_deployment("resnet-lite", 1, DeploymentSpec("production", {}, 1e6))
    dep = reg.create_deployment(
        "resnet-lite", 1, DeploymentSpec("production", {"FR": 1.0}, 1e6, retrain_every_days=30.0)
    )
    assert dep.state == "draft" and dep.spec.retrain_every_days == 30.0
    with pytest.raises(RegistryError, match="cannot go"):
        reg.set_deployment_state(dep.deployment_id, "active")
    reg.set_deployment_state(dep.deployment_id, "retired")
    with pytest.raises(RegistryError, match="retired"):
        reg.update_deployment(dep.deployment_id, dep.spec)
    assert [d.deployment_id for d in reg.deployments("resnet-lite")] == [dep.deployment_id]


def test_profile_measures_inference_in_a_tracked_span(rig, tmp_path):
    reg, _gate, _audit, _clock = rig
    meter = FakeMeter(("cpu",), method="rapl", uncertainty_rel=0.05)
    tracker = Tracker(
        load_settings(tmp_path), meters=MeterSet([meter]), ledger=reg.ledger, attribute=lambda rs: list(rs)
    )
    calls = []

    def predict(batch: int) -> None:  # the "model": each prediction costs 0.5 J on the fake counter
        calls.append(batch)
        meter.add(0.5 * batch)

    mv = reg.profile("resnet-lite", 1, predict, predictions=2000, batch_size=250, tracker=tracker)
    tracker.flush()
    inf = mv.card["inference"]
    assert sum(calls) == 2000 and inf["predictions"] == 2000
    assert inf["energy_j_per_1k"] == pytest.approx(500.0)
    assert inf["measured"] and inf["hardware_counters"] and inf["methods"] == ["rapl"]
    assert reg.ledger.span(inf["span_id"]).kind == "inference"
    tracker.close()
