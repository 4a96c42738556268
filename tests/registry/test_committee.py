"""The deployment gate: vetoed / needs approval / approved, four-eyes rules, expiry, staleness, audit."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from gov_rig import KEY, T0, ZONES
from hypothesis import given
from hypothesis import strategies as st

from carbontrail.audit import public_key_hex, verify_export
from carbontrail.errors import RegistryError
from carbontrail.registry import Action, DeploymentSpec, ZoneIntensity, committee_status

# 100M predictions/day at 720 J per 1k, PUE 1.2: 86.4 MJ/day = 24 kWh/day
DIRTY = DeploymentSpec("production", {"DE": 1.0}, 1e8, horizon_days=365.0, retrain_every_days=2.0, pue=1.2)


def test_vetoed_then_approved_after_a_zone_change(rig):
    reg, gate, audit, _clock = rig
    dep = reg.create_deployment("resnet-lite", 1, DIRTY, by="sam")
    req = gate.request(dep.deployment_id, submitter="sam")
    # 182 retrainings x 20 kg + 24 kWh/day x 380 g x 365 + 80 kg = 7.05 t/yr > 5 t budget
    fp = req.input["footprint"]
    assert fp["retraining_g"] == pytest.approx(182 * 20_000.0)
    assert fp["inference_g"] == pytest.approx(24 * 380 * 365)
    assert req.status == "vetoed"
    failed = {r["rule_id"]: r for r in req.decision["rules"] if r["status"] != "pass"}
    assert set(failed) == {"annual-budget", "clean-zone"}
    assert "exceeds the 5.0 tCO2e/yr budget" in failed["annual-budget"]["message"]
    with pytest.raises(RegistryError, match="cannot be approved"):
        gate.approve(req.request_id, "ana")
    # move serving to FR: 24 kWh x 56 g x 365 = 0.49 t; total 4.21 t: within budget, clean zone
    reg.update_deployment(dep.deployment_id, replace(DIRTY, zones={"FR": 1.0}), by="sam")
    req2 = gate.request(dep.deployment_id, submitter="sam")
    assert req2.status == "approved"
    assert gate.allowed(dep.deployment_id)[0]
    kinds = [e.kind for e in audit.entries()]
    assert kinds.count("decision") == 2 and "policy-activation" in kinds


def test_cadence_change_then_committee_quorum(rig):
    reg, gate, _audit, _clock = rig
    dep = reg.create_deployment("resnet-lite", 1, DIRTY)
    assert gate.request(dep.deployment_id, submitter="sam").status == "vetoed"
    reg.update_deployment(dep.deployment_id, replace(DIRTY, retrain_every_days=30.0))
    req = gate.request(dep.deployment_id, submitter="sam")
    assert req.status == "pending-approval"  # within budget, but DE is above the clean-zone ceiling
    assert [r["rule_id"] for r in req.decision["rules"] if r["status"] == "fail"] == ["clean-zone"]
    rid = req.request_id
    with pytest.raises(RegistryError, match="not a committee member"):
        gate.approve(rid, "sam")
    with pytest.raises(RegistryError, match="not a committee member"):
        gate.approve(rid, "mallory")
    assert gate.approve(rid, "ana").status == "pending-approval"
    assert gate.approve(rid, "ana").status == "pending-approval"  # the same member twice counts once
    r = gate.approve(rid, "bo")
    assert r.status == "approved" and r.detail["approvals"] == ["ana", "bo"]
    assert gate.allowed(dep.deployment_id)[0]
    assert reg.deployment(dep.deployment_id).state == "approved"
    reg.set_deployment_state(dep.deployment_id, "active")


def test_submitter_who_is_a_member_cannot_approve_own_request(rig):
    reg, gate, *_ = rig
    dep = reg.create_deployment("resnet-lite", 1, replace(DIRTY, retrain_every_days=30.0))
    req = gate.request(dep.deployment_id, submitter="ana")
    with pytest.raises(RegistryError, match="four-eyes"):
        gate.approve(req.request_id, "ana")
    with pytest.raises(RegistryError, match="four-eyes"):
        gate.veto(req.request_id, "ana", "changed my mind")


def test_approvals_expire(rig):
    reg, gate, _audit, clock = rig
    dep = reg.create_deployment("resnet-lite", 1, replace(DIRTY, retrain_every_days=30.0))
    rid = gate.request(dep.deployment_id, submitter="sam").request_id
    gate.approve(rid, "ana")
    assert gate.approve(rid, "bo").status == "approved"
    clock.advance(days=31)  # the example policy's approvals last 30 days
    st_ = gate.status(rid)
    assert st_.status == "pending-approval"
    assert any("expired" in x for x in st_.detail["ignored"])
    assert not gate.allowed(dep.deployment_id)[0]


def test_changed_factors_make_approvals_stale(rig):
    reg, gate, _audit, _clock = rig
    dep = reg.create_deployment("resnet-lite", 1, replace(DIRTY, retrain_every_days=30.0))
    rid = gate.request(dep.deployment_id, submitter="sam").request_id
    gate.approve(rid, "ana")
    gate.approve(rid, "bo")
    gate.intensity = {**ZONES, "DE": ZoneIntensity("DE", intensity_g_per_kwh=390.0)}  # a new factor vintage
    ok, req = gate.allowed(dep.deployment_id)
    assert not ok and req is not None and req.status == "pending-approval"
    assert all("stale" in x for x in req.detail["ignored"]) and len(req.detail["ignored"]) == 2
    gate.approve(rid, "ana")
    assert gate.approve(rid, "cy").status == "approved"


def test_override_needs_two_members_and_a_justification(rig):
    reg, gate, audit, _clock = rig
    dep = reg.create_deployment("resnet-lite", 1, DIRTY)
    rid = gate.request(dep.deployment_id, submitter="sam").request_id
    with pytest.raises(RegistryError, match="justification"):
        gate.override(rid, "ana", "ok")
    why = "Quarterly retraining contract signed; cadence drops next month (ticket GOV-12)."
    assert gate.override(rid, "ana", why).status == "vetoed"
    with pytest.raises(RegistryError, match="not a committee member"):
        gate.override(rid, "sam", why)
    r = gate.override(rid, "bo", why)
    assert r.status == "approved" and r.detail["overrides"] == ["ana", "bo"]
    entries = audit.entries(kind="override")
    assert len(entries) == 2 and entries[0].payload["justification"] == why
    audit.checkpoint()
    assert verify_export(audit.export(entries[1].seq), trusted_key=public_key_hex(KEY))
    assert audit.verify().ok


def test_one_member_veto_rejects(rig):
    reg, gate, *_ = rig
    dep = reg.create_deployment("resnet-lite", 1, replace(DIRTY, zones={"FR": 1.0}))
    rid = gate.request(dep.deployment_id, submitter="sam").request_id
    assert gate.status(rid).status == "approved"
    with pytest.raises(RegistryError, match="reason"):
        gate.veto(rid, "cy", " ")
    assert gate.veto(rid, "cy", "the FR region is being decommissioned").status == "rejected"
    assert not gate.allowed(dep.deployment_id)[0]


def test_roles_are_managed_by_admins(rig):
    _reg, gate, *_ = rig
    with pytest.raises(RegistryError, match="only an admin"):
        gate.add_member("eve", "admin", by="ana")
    with pytest.raises(RegistryError, match="only an admin"):
        gate.activate_policy(by="ana")
    with pytest.raises(RegistryError, match="not registered"):
        gate.request("nope", submitter="eve")


# -- the pure rule ------------------------------------------------------------------------------
_members = st.sampled_from(["ana", "bo", "cy", "sam"])
_action = st.builds(
    lambda m, a, fresh, dig, j: Action(
        m,
        "submitter" if m == "sam" else "member",
        a,
        "i" if dig else "i2",
        "p",
        T0,
        T0 + timedelta(days=1 if fresh else -1),
        j,
    ),
    _members,
    st.sampled_from(["approve", "override", "veto"]),
    st.booleans(),
    st.booleans(),
    st.sampled_from([None, "x", "a long enough written justification"]),
)


@given(
    st.lists(_action, max_size=8),
    st.sampled_from(["allow", "needs-approval", "veto"]),
    st.integers(min_value=1, max_value=3),
)
def test_four_eyes_property(actions, outcome, quorum):
    status, detail = committee_status(
        outcome, submitter="ana", actions=actions, input_digest="i", policy_digest="p", quorum=quorum, now=T0
    )
    valid = [a for a in actions if a.member not in ("ana", "sam") and a.input_digest == "i" and a.expires_at > T0]
    counted = set(detail["approvals"]) | set(detail["overrides"]) | set(detail["vetoes"])
    assert "ana" not in counted and "sam" not in counted  # submitter and non-members never count
    if status == "approved" and outcome == "needs-approval":
        assert len({a.member for a in valid if a.action == "approve"}) >= quorum
    if status == "approved" and outcome == "veto":
        just = {a.member for a in valid if a.action == "override" and a.justification and len(a.justification) >= 20}
        assert len(just) >= 2
    if any(a.action == "veto" for a in valid):
        assert status == "rejected"
