"""REST routes over the other areas: grid, schedule queue and plans, HPO studies, registry,
deployment requests and committee actions, policy decisions, and the audit chain."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Path, Query
from pydantic import BaseModel, Field

from carbontrail.server.api import ERRORS
from carbontrail.server.auth import Principal
from carbontrail.server.deps import AppState, require, state
from carbontrail.server.problems import problem
from carbontrail.server.schemas import JsonObject, Problem, Text

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", responses=ERRORS)

NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": Problem}, 409: {"model": Problem}}
RequestId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z_-]+$")]


class ActionBody(BaseModel):
    """A committee action: ``reason`` for a veto, ``justification`` (20+ characters) for an override."""

    reason: Text(2000) = ""  # type: ignore[valid-type]
    justification: Text(5000) = ""  # type: ignore[valid-type]


class EvaluateBody(BaseModel):
    """A policy input to decide on (the shape the active policy reads)."""

    input: JsonObject = Field(default_factory=dict)


# -- grid -----------------------------------------------------------------------------------------
@router.get("/grid/intensity", tags=["grid"], responses=NOT_FOUND)
def grid_intensity(
    zone: Annotated[str, Query(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z:_.-]+$")],
    since: datetime | None = None,
    until: datetime | None = None,
    st: AppState = Depends(state),
    _: Principal = Depends(require("read")),
) -> Any:
    """Historical intensity of a zone from the offline chain (bundled series, then annual factors)."""
    from carbontrail.grid.attribute import settings_series
    from carbontrail.grid.sources import FallbackChain, StaticFactors

    end = until or st.clock()
    start = since or end - timedelta(days=1)
    if start.tzinfo is None or end.tzinfo is None:
        return problem(422, "since/until must carry a timezone")
    if not timedelta(0) < end - start <= timedelta(days=31):
        return problem(422, "the window must be positive and at most 31 days")
    from carbontrail.grid.zones import lookup

    lookup(zone)  # an unknown zone is a 404, not a fallback failure
    chain = FallbackChain([settings_series(st.settings), StaticFactors()])
    s = chain.history(zone, start.timestamp(), end.timestamp())
    return {
        "zone": s.provenance.zone,
        "start_s": s.start_s,
        "step_s": s.step_s,
        "values_g_per_kwh": [float(v) for v in s.values_g_per_kwh],
        "provenance": s.provenance.to_dict(),
    }


# -- schedule -------------------------------------------------------------------------------------
@router.get("/schedule/jobs", tags=["schedule"])
def schedule_jobs(
    status: Literal["queued", "running", "done", "failed", "cancelled"] | None = None,
    st: AppState = Depends(state),
    _: Principal = Depends(require("read")),
) -> list[dict[str, Any]]:
    """The queue of deferred jobs."""
    from dataclasses import asdict

    from carbontrail.schedule.queue import JobQueue

    return [asdict(j) for j in JobQueue(st.ledger).jobs(status=status)]


@router.get("/schedule/plans", tags=["schedule"])
def schedule_plans(
    since: datetime | None = None,
    until: datetime | None = None,
    st: AppState = Depends(state),
    _: Principal = Depends(require("read")),
) -> list[dict[str, Any]]:
    """Recorded plans with expected and realised emissions (the forecast values are left out)."""
    from dataclasses import asdict

    from carbontrail.schedule.queue import list_plans

    if any(t is not None and t.tzinfo is None for t in (since, until)):
        return problem(422, "since/until must carry a timezone")  # type: ignore[return-value]
    out = []
    for p in list_plans(st.ledger, since=since, until=until):
        d = asdict(p)
        d.pop("forecast", None)
        d["realised_saving_g"] = p.realised_saving_g
        out.append(d)
    return out


# -- hpo ------------------------------------------------------------------------------------------
@router.get("/hpo/studies", tags=["hpo"])
def hpo_studies(st: AppState = Depends(state), _: Principal = Depends(require("read"))) -> list[dict[str, Any]]:
    """Every HPO study's quota account: limit, spent, reserved, remaining, trial counts, status."""
    from carbontrail.hpo.account import QuotaAccount

    return [QuotaAccount(st.ledger, name).state().to_dict() for name in QuotaAccount.studies(st.ledger)]


# -- registry -------------------------------------------------------------------------------------
@router.get("/registry/models", tags=["registry"])
def registry_models(st: AppState = Depends(state), _: Principal = Depends(require("read"))) -> list[dict[str, Any]]:
    """Registered models with their versions and carbon cards."""
    reg = st.gov.registry
    return [{**m, "versions": [v.to_dict() for v in reg.versions(m["name"])]} for m in reg.models()]


@router.get("/registry/deployments", tags=["registry"])
def registry_deployments(
    st: AppState = Depends(state), _: Principal = Depends(require("read"))
) -> list[dict[str, Any]]:
    """Deployments (environment, zones, traffic, cadence, horizon) and their lifecycle state."""
    return [d.to_dict() for d in st.gov.registry.deployments()]


# -- deployment requests and the committee --------------------------------------------------------
@router.get("/deployments/requests", tags=["committee"])
def list_requests(st: AppState = Depends(state), _: Principal = Depends(require("read"))) -> list[dict[str, Any]]:
    """Every deployment request with its policy decision and committee status."""
    return [r.to_dict() for r in st.gov.requests()]


@router.get("/deployments/requests/{request_id}", tags=["committee"], responses=NOT_FOUND)
def get_request(
    request_id: RequestId, st: AppState = Depends(state), _: Principal = Depends(require("read"))
) -> dict[str, Any]:
    """One request, its status computed now (approvals may have expired)."""
    return st.gov.gate().status(request_id).to_dict()  # type: ignore[no-any-return]


@router.post("/deployments/{deployment_id}/requests", tags=["committee"], status_code=201, responses=NOT_FOUND)
def submit_request(
    deployment_id: RequestId, st: AppState = Depends(state), p: Principal = Depends(require("deploy:request"))
) -> dict[str, Any]:
    """Submit a deployment to the gate as the token's holder: it is evaluated at once."""
    with st.writing():
        return st.gov.gate().request(deployment_id, submitter=p.name).to_dict()  # type: ignore[no-any-return]


@router.post("/deployments/requests/{request_id}/{action}", tags=["committee"], responses=NOT_FOUND)
def act_on_request(
    request_id: RequestId,
    action: Literal["approve", "veto", "override"],
    body: Annotated[ActionBody, Body()] = ActionBody(),
    st: AppState = Depends(state),
    p: Principal = Depends(require("deploy:decide")),
) -> dict[str, Any]:
    """Approve, veto (with a reason) or override a veto (with a written justification) as a committee member."""
    gate = st.gov.gate()
    with st.writing():
        if action == "approve":
            r = gate.approve(request_id, p.name)
        elif action == "veto":
            r = gate.veto(request_id, p.name, body.reason)
        else:
            r = gate.override(request_id, p.name, body.justification)
    return r.to_dict()  # type: ignore[no-any-return]


@router.get("/deployments/{deployment_id}/allowed", tags=["committee"], responses=NOT_FOUND)
def deployment_allowed(
    deployment_id: RequestId, st: AppState = Depends(state), _: Principal = Depends(require("read"))
) -> dict[str, Any]:
    """The gate decision for CI: may this deployment go live now (re-evaluated against current inputs)?"""
    with st.writing():
        ok, req = st.gov.gate().allowed(deployment_id)
    return {"deployment_id": deployment_id, "allowed": ok, "request": None if req is None else req.to_dict()}


@router.post("/policy/evaluate", tags=["committee"], responses=NOT_FOUND)
def policy_evaluate(
    body: EvaluateBody, st: AppState = Depends(state), _: Principal = Depends(require("read"))
) -> dict[str, Any]:
    """Evaluate the active policy on an input (nothing is recorded): every rule's result and message."""
    policy = st.gov.active_policy()
    if policy is None:
        return problem(409, "no active policy", slug="registry-conflict")  # type: ignore[return-value]
    return policy.evaluate(body.input).to_dict()  # type: ignore[no-any-return]


# -- audit ----------------------------------------------------------------------------------------
@router.get("/audit/verify", tags=["audit"])
def audit_verify(st: AppState = Depends(state), _: Principal = Depends(require("read"))) -> dict[str, Any]:
    """Recompute every entry hash and checkpoint; name the first tampered entry."""
    return st.gov.audit.verify().to_dict()  # type: ignore[no-any-return]


@router.get("/audit/checkpoints", tags=["audit"])
def audit_checkpoints(st: AppState = Depends(state), _: Principal = Depends(require("read"))) -> list[dict[str, Any]]:
    """Signed checkpoints, oldest first."""
    return [c.to_dict() for c in st.gov.audit.checkpoints()]


@router.post("/audit/checkpoint", tags=["audit"], responses=NOT_FOUND)
def audit_checkpoint(st: AppState = Depends(state), _: Principal = Depends(require("audit:write"))) -> Any:
    """Sign a checkpoint over the entries appended since the last one (admin)."""
    with st.writing():
        cp = st.gov.audit.checkpoint()
    return None if cp is None else cp.to_dict()
