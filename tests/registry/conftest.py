"""A registry rig: a ledger with training and retraining spans, a version with its carbon card."""

from __future__ import annotations

import pytest
from gov_rig import KEY, POLICY, ZONES, Clock, span

from carbontrail.audit import AuditLog
from carbontrail.policy import Policy
from carbontrail.registry import Gate, Registry


@pytest.fixture
def rig(ledger):
    clock = Clock()
    audit = AuditLog(ledger, signing_key=KEY, checkpoint_every=5, clock=clock)
    reg = Registry(ledger, audit=audit, clock=clock)
    train = [span("train", 3.6e8, 400.0), span("train", 3.6e8, 400.0)]  # 2 x 100 kWh x 400 g = 80 kg
    retrain = [span("retrain", 1.8e8, 400.0)]  # 50 kWh x 400 g = 20 kg per run
    ledger.add_spans([*train, *retrain])
    reg.register_model("resnet-lite", team="vision")
    mv = reg.register_version(
        "resnet-lite",
        lineage={"training": [s.span_id for s in train], "retraining": [retrain[0].span_id[:10]]},
        hardware={"gpu": "A100"},
        model_size_bytes=45_000_000,
    )
    reg.set_inference(
        "resnet-lite",
        mv.version,
        {"measured": True, "energy_j_per_1k": 720.0, "uncertainty_rel": 0.1, "span_id": "x" * 32},
    )
    gate = Gate(reg, Policy.load(POLICY), audit, ZONES, clock=clock)
    gate.add_member("root", "admin")
    gate.add_member("sam", "submitter", by="root")
    for m in ("ana", "bo", "cy"):
        gate.add_member(m, "member", by="root")
    gate.activate_policy(by="root")
    return reg, gate, audit, clock
