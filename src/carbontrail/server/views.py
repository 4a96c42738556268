"""Data for the dashboard pages, read from the ledger and the other areas' tables where they exist.

Each ``*_view`` returns plain dicts for a template, with an ``empty`` message for the empty state.
Areas that are not part of this installation (or have no data yet) give an empty state, never an error.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from carbontrail.server.auth import Principal
from carbontrail.server.deps import AppState
from carbontrail.units import J_PER_KWH

__all__ = ["audit_view", "committee_act", "committee_view", "hpo_view", "intensity_view", "registry_view"]

log = logging.getLogger(__name__)


def _n(v: float | None, digits: int = 4) -> str:
    return "n/a" if v is None else ("0" if v == 0 else f"{v:.{digits}g}")


def intensity_view(st: AppState) -> dict[str, Any]:
    """The intensity applied to the last week's spans (realised jobs), as a curve with the jobs marked."""
    end = st.clock()
    recs = [
        r
        for r in st.ledger.spans(since=end - timedelta(days=7), until=end, roots_only=True)
        if r.intensity_g_per_kwh is not None
    ]
    series: dict[str, tuple[list[float], list[float]]] = {}
    for r in recs:
        xs, ys = series.setdefault(r.zone or "?", ([], []))
        xs.append((r.started_at.timestamp() + r.ended_at.timestamp()) / 2)
        ys.append(float(r.intensity_g_per_kwh or 0.0))
    jobs = [
        {
            "label": r.name,
            "zone": r.zone or "",
            "state": "realised",
            "start_s": r.started_at.timestamp(),
            "end_s": r.ended_at.timestamp(),
            "window": f"{r.started_at:%m-%d %H:%M} to {r.ended_at:%m-%d %H:%M}",
            "g": _n(r.emissions_g),
        }
        for r in recs
    ]
    plan_series, plan_jobs = _plans_view(st, jobs)
    if plan_series:
        series = {**plan_series, **{f"{k} realised": v for k, v in series.items()}}
    jobs = plan_jobs + jobs
    return {
        "series": series,
        "jobs": jobs,
        "intro": "Forecasts the scheduler planned on, with scheduled and realised chunks, and the intensity "
        "applied to the last 7 days of spans.",
        "empty": "No attributed spans in the last 7 days: no intensity to draw yet.",
        "jobs_empty": "No scheduled or realised jobs yet.",
    }


def _plans_view(st: AppState, recs_jobs: list[dict[str, Any]]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Forecast curves and planned / realised chunks from the scheduler's recorded plans (last 7 days)."""
    try:
        from carbontrail.schedule.queue import list_plans
    except ImportError:
        return {}, []
    end = st.clock()
    plans = list_plans(st.ledger, since=end - timedelta(days=7))
    series: dict[str, tuple[list[float], list[float]]] = {}
    jobs: list[dict[str, Any]] = []
    for p in plans[-20:]:
        fc = (p.forecast or {}).get(p.zone)
        if fc:
            xs = [fc["start_s"] + i * fc["step_s"] for i in range(len(fc["values_g_per_kwh"]))]
            series[f"{p.zone} forecast"] = (xs, [float(v) for v in fc["values_g_per_kwh"]])
        state = "realised" if p.realised_at is not None else "scheduled"
        for a, b in p.chunks:
            ta, tb = datetime.fromisoformat(a), datetime.fromisoformat(b)
            jobs.append(
                {
                    "label": f"{p.job_name} ({p.decision})",
                    "zone": p.zone,
                    "state": state,
                    "start_s": ta.timestamp(),
                    "end_s": tb.timestamp(),
                    "window": f"{ta:%m-%d %H:%M} to {tb:%m-%d %H:%M}",
                    "g": _n(p.realised_emissions_g if p.realised_emissions_g is not None else p.expected_emissions_g),
                }
            )
    return series, jobs


def hpo_view(st: AppState) -> dict[str, Any]:
    """HPO studies with their quota accounts and the burn-down of each quota (charges in time order)."""
    intro = "Studies run with carbontrail.hpo.optimize under energy or carbon quotas."
    try:
        from carbontrail.hpo.account import QuotaAccount
    except ImportError:
        return {"studies": [], "intro": intro, "empty": "The HPO module is not installed."}
    studies = []
    for name in QuotaAccount.studies(st.ledger):
        acct = QuotaAccount(st.ledger, name)
        s = acct.state()
        unit = "kWh" if s.quota.basis == "energy" else "gCO2e"
        scale = 1 / J_PER_KWH if s.quota.basis == "energy" else 1.0
        limit = s.quota.limit * scale
        left = limit
        remaining = [limit]
        for c in acct.charges():
            left -= (c["energy_j"] if s.quota.basis == "energy" else c["emissions_g"]) * scale
            remaining.append(left)
        n_trials = sum(v for k, v in s.counts.items() if k in ("COMPLETE", "PRUNED", "FAIL", "QUOTA", "RECLAIMED"))
        studies.append(
            {
                "study": name,
                "unit": unit,
                "burn": remaining,
                "remaining": remaining,
                "quota": f"{_n(limit)} {unit}",
                "spent": f"{_n(s.spent * scale)} {unit}",
                "used": f"{s.fraction_spent:.1%}",
                "trials": str(n_trials),
                "status": s.status,
            }
        )
    return {"studies": studies, "intro": intro, "empty": "No HPO studies recorded in this ledger yet."}


def registry_view(st: AppState) -> dict[str, Any]:
    """Registered model versions with their carbon cards and the gate status of their latest request."""
    intro = "Model versions with carbon cards (training and inference energy) and their deployment gate."
    if st.gov is None:
        return {"versions": [], "intro": intro, "empty": "The registry is not installed."}
    reg = st.gov.registry
    latest: dict[tuple[str, int], str] = {}
    deps = {d.deployment_id: d for d in reg.deployments()}
    for r in st.gov.requests():
        d = deps.get(r.deployment_id)
        if d is not None:
            latest[(d.model, d.version)] = r.status
    versions = []
    for m in reg.models():
        for v in reg.versions(m["name"]):
            tr = v.card.get("training") or {}
            inf = v.card.get("inference") or {}
            e_1k = inf.get("energy_j_per_1k")
            versions.append(
                {
                    "model": v.model,
                    "version": str(v.version),
                    "stage": v.state,
                    "label": f"{v.model} v{v.version}",
                    "train_kwh": _n(None if tr.get("energy_j") is None else tr["energy_j"] / J_PER_KWH),
                    "train_g": tr.get("emissions_g"),
                    "infer_kwh_per_1000": _n(None if e_1k is None else e_1k / J_PER_KWH),
                    "gate": latest.get((v.model, v.version), "no request"),
                }
            )
    return {"versions": versions, "intro": intro, "empty": "No registered models yet."}


def committee_view(st: AppState) -> dict[str, Any]:
    """Deployment requests with the policy's decision and the committee's status."""
    intro = "Deployment requests evaluated by the policy gate; approvals need a quorum of members, not the submitter."
    if st.gov is None:
        return {"requests": [], "intro": intro, "empty": "The committee workflow is not installed."}
    if st.gov.active_policy() is None:
        return {"requests": [], "intro": intro, "empty": "No active policy: run `carbontrail policy activate FILE`."}
    deps = {d.deployment_id: d for d in st.gov.registry.deployments()}
    out = []
    for r in reversed(st.gov.requests()):
        d = deps.get(r.deployment_id)
        fp = (r.input or {}).get("footprint") or {}
        failed = [f"{x['rule_id']} ({x['severity']})" for x in r.decision.get("rules", []) if x.get("status") != "pass"]
        out.append(
            {
                "id": r.request_id,
                "model": f"{d.model} v{d.version}" if d else r.deployment_id,
                "environment": d.environment if d else "",
                "status": r.status,
                "projected": f"{_n((fp.get('annual_g') or 0.0) / 1e6)} tCO2e/yr",
                "rules": ", ".join(failed) or "all pass",
                "submitter": r.submitter,
                "approvals": ", ".join(
                    r.detail.get("approvals", []) + [f"override: {m}" for m in r.detail.get("overrides", [])]
                ),
                "open": r.status in ("pending-approval", "vetoed"),
            }
        )
    return {"requests": out, "intro": intro, "empty": "No deployment requests."}


def committee_act(st: AppState, p: Principal, request_id: str, action: str, form: dict[str, str]) -> str:
    """Approve, veto or override a deployment request as ``p`` (its token's name); return a message."""
    if st.gov is None:
        raise LookupError("the committee workflow is not installed")
    gate = st.gov.gate()
    text = form.get("comment", "").strip() or form.get("justification", "").strip()
    with st.writing():
        if action == "approve":
            r = gate.approve(request_id, p.name)
        elif action == "veto":
            r = gate.veto(request_id, p.name, text)
        elif action == "override":
            r = gate.override(request_id, p.name, text)
        else:
            raise LookupError(f"unknown action {action!r}")
    return f"{action} recorded by {p.name}: request {request_id} is now {r.status}"


def audit_view(st: AppState) -> dict[str, Any]:
    """The audit chain's verification status and its signed checkpoints."""
    if st.gov is None:
        return {"checkpoints": [], "intro": "The audit chain is not installed.", "empty": "", "status": None}
    rep = st.gov.audit.verify()
    cps = st.gov.audit.checkpoints()
    if rep.ok:
        intro = (
            f"Chain intact: {rep.entries} entries, {rep.checkpoints} signed checkpoints verified "
            f"(key {str(rep.trusted_key or '')[:16]}...)."
        )
    else:
        intro = f"CHAIN DOES NOT VERIFY: first bad entry {rep.first_bad_seq}; " + "; ".join(rep.problems[:3])
    rows = [
        [
            str(c.tree_size),
            str(c.tree_size - c.prev_tree_size) + " new",
            c.root[:16] + "...",
            c.at.strftime("%Y-%m-%d %H:%M:%S"),
        ]
        for c in reversed(cps)
    ]
    return {
        "checkpoints": rows,
        "intro": intro,
        "empty": "No signed checkpoints yet.",
        "status": "ok" if rep.ok else "fail",
    }
