"""The deployment gate and committee workflow.

A deployment request is evaluated at once against the active policy: ``vetoed``,
``pending-approval`` or ``approved``. Committee members then act on it:

* **approve** — counts towards the quorum (``approval.quorum`` in the policy, default 2) when the
  member is a committee member or admin, is not the submitter, has not approved already, and the
  approval is bound to the request's *current* input and policy digests and has not expired;
* **veto** — any one committee member may reject a request (a "no" needs one member);
* **override** — a policy veto is lifted only by two distinct members (not the submitter), each
  giving a written justification, bound to the same digests and unexpired.

:meth:`Gate.reevaluate` rebuilds the input from current factors and traffic; when the input or the
policy digest changes, approvals given to the old digests stop counting (they are stale). Every
decision, approval, veto and override is appended to the audit chain. :func:`committee_status` is
the pure rule that turns a decision and the recorded actions into a status.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from carbontrail.errors import RegistryError
from carbontrail.policy.engine import Decision, Policy
from carbontrail.registry.footprint import Embodied, Footprint, FootprintInputs, ZoneIntensity, project
from carbontrail.registry.store import Deployment, Registry
from carbontrail.registry.tables import gov_approvals, gov_members, gov_policies, reg_requests

__all__ = ["ROLES", "STATUSES", "Action", "Gate", "Request", "committee_status"]

ROLES = ("submitter", "member", "admin")
STATUSES = ("vetoed", "pending-approval", "approved", "rejected", "withdrawn")
MIN_JUSTIFICATION_CHARS = 20


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Action:
    """A committee action on a request (approve, veto or override), bound to digests."""

    member: str
    role: str
    action: str
    input_digest: str
    policy_digest: str
    at: datetime
    expires_at: datetime
    justification: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "member": self.member,
            "role": self.role,
            "action": self.action,
            "input_digest": self.input_digest,
            "policy_digest": self.policy_digest,
            "at": self.at.isoformat(),
            "expires_at": self.expires_at.isoformat(),
            "justification": self.justification,
        }


def committee_status(
    outcome: str,
    *,
    submitter: str,
    actions: Iterable[Action],
    input_digest: str,
    policy_digest: str,
    quorum: int,
    now: datetime,
) -> tuple[str, dict[str, Any]]:
    """Status of a request (pure). Returns ``(status, detail)`` where ``detail`` lists which
    actions counted and why others did not."""
    counted: dict[str, set[str]] = {"approve": set(), "veto": set(), "override": set()}
    ignored: list[str] = []
    for a in actions:
        why = None
        if a.role not in ("member", "admin"):
            why = "not a committee member"
        elif a.member == submitter:
            why = "the submitter cannot act on their own request"
        elif a.input_digest != input_digest or a.policy_digest != policy_digest:
            why = "stale: given to a different input or policy"
        elif a.expires_at <= now:
            why = "expired"
        elif a.action == "override" and len((a.justification or "").strip()) < MIN_JUSTIFICATION_CHARS:
            why = "override without a written justification"
        if why:
            ignored.append(f"{a.action} by {a.member}: {why}")
        else:
            counted[a.action].add(a.member)
    detail = {
        "approvals": sorted(counted["approve"]),
        "vetoes": sorted(counted["veto"]),
        "overrides": sorted(counted["override"]),
        "ignored": ignored,
        "quorum": quorum,
    }
    if counted["veto"]:
        return "rejected", detail
    if outcome == "veto":
        return ("approved" if len(counted["override"]) >= 2 else "vetoed"), detail
    if outcome == "needs-approval":
        return ("approved" if len(counted["approve"]) >= quorum else "pending-approval"), detail
    return "approved", detail


@dataclass(frozen=True)
class Request:
    """A deployment request with its current decision and status."""

    request_id: str
    deployment_id: str
    submitter: str
    status: str
    input: dict[str, Any]
    input_digest: str
    policy_digest: str
    decision: dict[str, Any]
    detail: dict[str, Any]
    actions: tuple[Action, ...]
    created_at: datetime
    updated_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "request_id": self.request_id,
            "deployment_id": self.deployment_id,
            "submitter": self.submitter,
            "status": self.status,
            "input_digest": self.input_digest,
            "policy_digest": self.policy_digest,
            "decision": self.decision,
            "detail": self.detail,
            "actions": [a.to_dict() for a in self.actions],
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


IntensityLookup = Callable[[str], ZoneIntensity]


class Gate:
    """Evaluate deployment requests with a policy and run the committee workflow.

    Args:
        registry: the :class:`Registry` (its ledger holds requests, approvals and members).
        policy: the compiled :class:`~carbontrail.policy.Policy` (activate it with
            :meth:`activate_policy` so its digest and text are recorded).
        audit: the :class:`~carbontrail.audit.AuditLog` every decision and action is appended to.
        intensity: ``zone -> ZoneIntensity`` (a mapping or a callable); the grid adapter or stated
            factors. Called again on :meth:`reevaluate`.
        clock: tz-aware UTC "now" (injected for tests).
    """

    def __init__(
        self,
        registry: Registry,
        policy: Policy,
        audit: Any,
        intensity: IntensityLookup | Mapping[str, ZoneIntensity],
        *,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.registry = registry
        self.ledger = registry.ledger
        self.policy = policy
        self.audit = audit
        self.intensity = intensity
        self.clock = clock

    # -- people and policies ---------------------------------------------------------------
    def add_member(self, name: str, role: str, *, by: str | None = None) -> None:
        """Add or change a person's role. Only an admin may do so, except to create the first admin."""
        if role not in ROLES:
            raise RegistryError(f"role must be one of {ROLES}")
        if not name:
            raise RegistryError("a member needs a name")
        with self.ledger.write() as conn:
            admins = conn.execute(sa.select(gov_members.c.name).where(gov_members.c.role == "admin")).all()
            if admins:
                if by is None or by not in {a.name for a in admins}:
                    raise RegistryError("only an admin can add or change committee members")
            elif role != "admin":
                raise RegistryError("the first member must be an admin")
            exists = conn.execute(gov_members.select().where(gov_members.c.name == name)).one_or_none()
            if exists:
                conn.execute(gov_members.update().where(gov_members.c.name == name).values(role=role))
            else:
                conn.execute(gov_members.insert().values(name=name, role=role, added_at=self.clock()))
        self.audit.append("registry", {"event": "member", "name": name, "role": role, "by": by}, at=self.clock())

    def role(self, name: str) -> str | None:
        with self.ledger.engine.connect() as conn:
            row = conn.execute(gov_members.select().where(gov_members.c.name == name)).one_or_none()
        return None if row is None else str(row.role)

    def members(self) -> list[dict[str, str]]:
        with self.ledger.engine.connect() as conn:
            return [
                {"name": r.name, "role": r.role}
                for r in conn.execute(gov_members.select().order_by(gov_members.c.name))
            ]

    def activate_policy(self, *, by: str) -> None:
        """Record this gate's policy as the active one (admin only) in the ledger and the audit chain."""
        if self.role(by) != "admin":
            raise RegistryError("only an admin can activate a policy")
        p = self.policy
        with self.ledger.write() as conn:
            conn.execute(gov_policies.update().values(active=False))
            row = conn.execute(gov_policies.select().where(gov_policies.c.policy_digest == p.digest)).one_or_none()
            if row is None:
                conn.execute(
                    gov_policies.insert().values(
                        policy_digest=p.digest,
                        policy_id=p.policy_id,
                        version=p.version,
                        source=p.source,
                        activated_at=self.clock(),
                        activated_by=by,
                        active=True,
                    )
                )
            else:
                conn.execute(
                    gov_policies.update()
                    .where(gov_policies.c.policy_digest == p.digest)
                    .values(active=True, activated_at=self.clock(), activated_by=by)
                )
        self.audit.append(
            "policy-activation",
            {"policy_id": p.policy_id, "version": p.version, "policy_digest": p.digest, "by": by},
            at=self.clock(),
        )

    # -- inputs ----------------------------------------------------------------------------
    def _zone(self, zone: str) -> ZoneIntensity:
        if callable(self.intensity):
            return self.intensity(zone)
        if zone not in self.intensity:
            raise RegistryError(f"no intensity for serving zone {zone!r}")
        return self.intensity[zone]

    def footprint(self, dep: Deployment) -> Footprint:
        """The projected footprint of a deployment from its version's carbon card and current factors."""
        return project(self.footprint_inputs(dep))

    def footprint_inputs(self, dep: Deployment) -> FootprintInputs:
        """The :class:`FootprintInputs` of a deployment (for :func:`~carbontrail.registry.what_if`)."""
        mv = self.registry.version(dep.model, dep.version)
        card = mv.card
        spec = dep.spec
        inf = card.get("inference") or {}
        if inf.get("energy_j_per_1k") is None:
            raise RegistryError(
                f"{dep.model} v{dep.version}: no inference energy in its carbon card; "
                "run `carbontrail registry profile` first"
            )
        rt = card.get("retraining") or {}
        per_run = rt.get("per_run_emissions_g")
        if per_run is None:  # no retraining measured yet: a retraining costs what the training cost
            per_run = (card.get("training") or {}).get("emissions_g") or 0.0
        emb = Embodied(**spec.embodied) if spec.embodied else None
        inputs = FootprintInputs(
            horizon_days=spec.horizon_days,
            traffic_per_day=spec.traffic_per_day,
            inference_energy_j_per_1k=float(inf["energy_j_per_1k"]),
            inference_uncertainty_rel=float(inf.get("uncertainty_rel") or 0.1),
            zones=tuple((self._zone(z), s) for z, s in spec.zones.items()),
            training_emissions_g=float((card.get("training") or {}).get("emissions_g") or 0.0),
            training_share=spec.training_share,
            retrain_every_days=spec.retrain_every_days,
            retraining_emissions_g=float(per_run),
            pue=spec.pue,
            pue_source=spec.pue_source,
            traffic_hourly_share=spec.traffic_hourly_share,
            embodied=emb,
            training_provenance={"spans": (card.get("training") or {}).get("spans", [])},
            retraining_provenance={"spans": rt.get("spans", [])},
            inference_provenance={"span_id": inf.get("span_id"), "methods": inf.get("methods")},
        )
        return inputs

    def build_input(self, dep: Deployment) -> dict[str, Any]:
        """The policy input of a deployment: team, environment, model card facts, deployment, footprint."""
        mv = self.registry.version(dep.model, dep.version)
        model = self.registry.model(dep.model)
        fp = self.footprint(dep)
        card = mv.card
        inf = card.get("inference") or {}
        return {
            "team": dep.spec.team or model.get("team") or "",
            "environment": dep.environment,
            "model": {
                "name": dep.model,
                "version": dep.version,
                "state": mv.state,
                "inference_measured": bool(inf.get("measured")),
                "inference_energy_j_per_1k": inf.get("energy_j_per_1k"),
                "training_emissions_g": (card.get("training") or {}).get("emissions_g"),
                "training_energy_j": (card.get("training") or {}).get("energy_j"),
                "model_size_bytes": card.get("model_size_bytes"),
            },
            "deployment": {
                "deployment_id": dep.deployment_id,
                "zones": sorted(dep.spec.zones),
                "horizon_days": dep.spec.horizon_days,
                "retrain_every_days": dep.spec.retrain_every_days,
                "traffic_per_day": dep.spec.traffic_per_day,
                "pue": dep.spec.pue,
            },
            "footprint": fp.to_dict(),
        }

    # -- requests --------------------------------------------------------------------------
    def request(self, deployment_id: str, *, submitter: str) -> Request:
        """Submit a deployment for the gate: evaluate it now and record the decision."""
        if self.role(submitter) is None:
            raise RegistryError(f"{submitter!r} is not registered (add them as submitter, member or admin)")
        dep = self.registry.deployment(deployment_id)
        data = self.build_input(dep)
        decision = self.policy.evaluate(data)
        rid = uuid.uuid4().hex[:16]
        now = self.clock()
        with self.ledger.write() as conn:
            conn.execute(
                reg_requests.insert().values(
                    request_id=rid,
                    deployment_id=deployment_id,
                    submitter=submitter,
                    status="pending-approval",
                    input=data,
                    input_digest=decision.input_digest,
                    policy_digest=decision.policy_digest,
                    decision=decision.to_dict(),
                    created_at=now,
                    updated_at=now,
                )
            )
        self._audit_decision(rid, deployment_id, decision, "request", submitter)
        if dep.state in ("draft", "approved", "active"):
            self.registry.set_deployment_state(deployment_id, "requested", by=submitter)
        return self._refresh(rid)

    def _audit_decision(self, rid: str, did: str, d: Decision, why: str, by: str) -> None:
        self.audit.append(
            "decision",
            {
                "request_id": rid,
                "deployment_id": did,
                "why": why,
                "by": by,
                "outcome": d.outcome,
                "policy_id": d.policy_id,
                "policy_version": d.policy_version,
                "policy_digest": d.policy_digest,
                "input_digest": d.input_digest,
                "rules": [r.to_dict() for r in d.rules],
                "variables": d.variables,
            },
            at=self.clock(),
        )

    def _act(self, request_id: str, member: str, action: str, justification: str | None) -> Request:
        role = self.role(member)
        if role not in ("member", "admin"):
            raise RegistryError(f"{member!r} is not a committee member")
        req = self.status(request_id)
        if member == req.submitter:
            raise RegistryError("four-eyes rule: the submitter cannot approve, veto or override their own request")
        if action == "override":
            if req.decision["outcome"] != "veto":
                raise RegistryError("only a policy veto can be overridden")
            if len((justification or "").strip()) < MIN_JUSTIFICATION_CHARS:
                raise RegistryError(f"an override needs a written justification ({MIN_JUSTIFICATION_CHARS}+ chars)")
        if action == "approve" and req.decision["outcome"] == "veto":
            raise RegistryError("a vetoed request cannot be approved; two members may override with a justification")
        now = self.clock()
        expires = now + timedelta(days=self.policy.expires_after_days)
        entry = self.audit.append(
            action if action != "approve" else "approval",
            {
                "request_id": request_id,
                "member": member,
                "role": role,
                "action": action,
                "input_digest": req.input_digest,
                "policy_digest": req.policy_digest,
                "justification": justification,
                "expires_at": expires.isoformat(),
            },
            at=now,
        )
        with self.ledger.write() as conn:
            conn.execute(
                gov_approvals.insert().values(
                    approval_id=uuid.uuid4().hex[:16],
                    request_id=request_id,
                    member=member,
                    action=action,
                    input_digest=req.input_digest,
                    policy_digest=req.policy_digest,
                    justification=justification,
                    at=now,
                    expires_at=expires,
                    audit_seq=entry.seq,
                )
            )
        return self._refresh(request_id)

    def approve(self, request_id: str, member: str) -> Request:
        """A committee member approves the request as it stands (bound to its current digests)."""
        return self._act(request_id, member, "approve", None)

    def veto(self, request_id: str, member: str, reason: str) -> Request:
        """A committee member rejects the request."""
        if not reason.strip():
            raise RegistryError("a veto needs a reason")
        return self._act(request_id, member, "veto", reason)

    def override(self, request_id: str, member: str, justification: str) -> Request:
        """One of the two members needed to override a policy veto, with a written justification."""
        return self._act(request_id, member, "override", justification)

    def reevaluate(self, request_id: str, *, by: str = "system") -> Request:
        """Rebuild the input from current factors, traffic and the gate's policy; record a new decision
        when the input or policy changed (older approvals then no longer count)."""
        req = self.status(request_id)
        dep = self.registry.deployment(req.deployment_id)
        data = self.build_input(dep)
        d = self.policy.evaluate(data)
        if d.input_digest == req.input_digest and d.policy_digest == req.policy_digest:
            return req
        with self.ledger.write() as conn:
            conn.execute(
                reg_requests.update()
                .where(reg_requests.c.request_id == request_id)
                .values(
                    input=data,
                    input_digest=d.input_digest,
                    policy_digest=d.policy_digest,
                    decision=d.to_dict(),
                    updated_at=self.clock(),
                )
            )
        self._audit_decision(request_id, req.deployment_id, d, "re-evaluation", by)
        return self._refresh(request_id)

    def _refresh(self, request_id: str) -> Request:
        req = self.status(request_id)
        with self.ledger.write() as conn:
            row = conn.execute(
                reg_requests.select().where(reg_requests.c.request_id == request_id).with_for_update()
            ).one()
            if row.status != req.status:
                conn.execute(
                    reg_requests.update()
                    .where(reg_requests.c.request_id == request_id)
                    .values(status=req.status, updated_at=self.clock())
                )
        if req.status == "approved":
            dep = self.registry.deployment(req.deployment_id)
            if dep.state == "requested":
                self.registry.set_deployment_state(req.deployment_id, "approved", by="gate")
        return req

    def status(self, request_id: str) -> Request:
        """The request with its status computed now (approvals may have expired since)."""
        with self.ledger.engine.connect() as conn:
            row = conn.execute(reg_requests.select().where(reg_requests.c.request_id == request_id)).one_or_none()
            if row is None:
                raise RegistryError(f"no deployment request {request_id!r}")
            acts = conn.execute(
                gov_approvals.select().where(gov_approvals.c.request_id == request_id).order_by(gov_approvals.c.at)
            ).all()
            roles = {r.name: r.role for r in conn.execute(gov_members.select())}
        actions = tuple(
            Action(
                a.member,
                roles.get(a.member, "none"),
                a.action,
                a.input_digest,
                a.policy_digest,
                a.at,
                a.expires_at,
                a.justification,
            )
            for a in acts
        )
        status, detail = committee_status(
            row.decision["outcome"],
            submitter=row.submitter,
            actions=actions,
            input_digest=row.input_digest,
            policy_digest=row.policy_digest,
            quorum=self.policy.quorum,
            now=self.clock(),
        )
        if row.policy_digest != self.policy.digest:
            detail["policy_changed"] = "the active policy differs from the one that decided: re-evaluate"
        return Request(
            row.request_id,
            row.deployment_id,
            row.submitter,
            status,
            row.input,
            row.input_digest,
            row.policy_digest,
            row.decision,
            detail,
            actions,
            row.created_at,
            row.updated_at,
        )

    def requests(self, deployment_id: str | None = None) -> list[Request]:
        q = sa.select(reg_requests.c.request_id).order_by(reg_requests.c.created_at)
        if deployment_id:
            q = q.where(reg_requests.c.deployment_id == deployment_id)
        with self.ledger.engine.connect() as conn:
            ids = [r[0] for r in conn.execute(q)]
        return [self.status(i) for i in ids]

    def allowed(self, deployment_id: str) -> tuple[bool, Request | None]:
        """Whether the deployment may go live now: its newest request is approved against the
        current input (re-evaluated now) and the gate's policy."""
        reqs = self.requests(deployment_id)
        if not reqs:
            return False, None
        req = self.reevaluate(reqs[-1].request_id)
        ok = req.status == "approved" and req.policy_digest == self.policy.digest
        return ok, req
