"""The dashboard: server-rendered pages with inline SVG charts (no CDN, no scripts needed).

Pages (all under ``/ui``): overview (carbon by lifecycle stage and its trend), intensity (grid
curve with scheduled and realised jobs), hpo (studies and quota burn-down), registry (models, carbon
cards, gate status), committee (deployment requests with approve / veto / override), audit (chain
status), reports (preview and download), spans. Login stores the API token in an HttpOnly,
SameSite=Strict cookie; the role of the token decides what a page lets you do.
"""

from __future__ import annotations

import functools
import logging
from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.staticfiles import StaticFiles

from carbontrail.report import render as render_report
from carbontrail.report import report_from_ledger
from carbontrail.report.render import charts as report_charts
from carbontrail.report.svg import bar_chart, line_chart, stacked_bars
from carbontrail.server import views
from carbontrail.server.auth import Principal
from carbontrail.server.deps import COOKIE, AppState
from carbontrail.units import J_PER_KWH

__all__ = ["router", "static_app"]

log = logging.getLogger(__name__)
router = APIRouter(prefix="/ui", include_in_schema=False)

NAV = (
    ("/ui/", "Overview"),
    ("/ui/intensity", "Intensity"),
    ("/ui/hpo", "HPO"),
    ("/ui/registry", "Registry"),
    ("/ui/committee", "Committee"),
    ("/ui/audit", "Audit"),
    ("/ui/reports", "Reports"),
    ("/ui/spans", "Spans"),
)


@functools.lru_cache(maxsize=1)
def _env() -> Any:
    try:
        import jinja2
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ImportError("the dashboard needs jinja2: pip install 'carbontrail[server]'") from exc
    return jinja2.Environment(
        loader=jinja2.PackageLoader("carbontrail.server", "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
    )


def static_app() -> StaticFiles:
    """The dashboard's static files (CSS), served from the package."""
    return StaticFiles(directory=str(resources.files("carbontrail.server") / "static"))


def _num(v: float | None, digits: int = 4) -> str:
    if v is None:
        return "n/a"
    if v == 0:
        return "0"
    return f"{v:.{digits}g}"


def _helpers() -> dict[str, Any]:
    return {
        "num": _num,
        "kwh": lambda j: _num(None if j is None else j / J_PER_KWH),
        "pct": lambda x: "n/a" if x is None else f"{x:.1%}",
    }


def _st(request: Request) -> AppState:
    return request.app.state.ct  # type: ignore[no-any-return]


def _who(request: Request) -> Principal | None:
    token = request.cookies.get(COOKIE)
    return _st(request).tokens.verify(token) if token else None


def _page(
    request: Request, template: str, principal: Principal | None, active: str, title: str, **ctx: Any
) -> HTMLResponse:
    flash = request.query_params.get("flash", "")
    html = (
        _env()
        .get_template(template)
        .render(
            title=title,
            principal=principal,
            nav=NAV,
            active=active,
            flash=flash[:300],
            flash_kind="error" if request.query_params.get("error") else "",
            **_helpers(),
            **ctx,
        )
    )
    return HTMLResponse(html)


class LoginRequired(Exception):
    """Raised by :func:`viewer` when a dashboard page is asked for without a valid session."""


def viewer(request: Request) -> Principal:
    """Dependency of every dashboard page: the logged-in principal (else a redirect to the login page)."""
    p = _who(request)
    if p is None:
        raise LoginRequired
    return p


def login_redirect(_request: Request, _exc: Exception) -> RedirectResponse:
    """Exception handler for :class:`LoginRequired`."""
    return RedirectResponse("/ui/login", status_code=303)


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin") or request.headers.get("referer")
    if not origin:
        return True
    return urlparse(origin).netloc == request.headers.get("host", "")


async def _form(request: Request) -> dict[str, str]:
    body = (await request.body())[:20_000].decode("utf-8", "replace")
    return {k: v[0] for k, v in parse_qs(body).items() if "\x00" not in v[0]}


@router.get("/login")
def login_page(request: Request) -> HTMLResponse:
    return _page(request, "login.html", None, "", "Log in")


@router.post("/login")
async def login(request: Request) -> Response:
    form = await _form(request)
    token = form.get("token", "").strip()
    p = _st(request).tokens.verify(token) if token else None
    if p is None or not p.can("read"):
        return RedirectResponse(
            "/ui/login?" + urlencode({"flash": "invalid token (or a role without read)", "error": "1"}),
            status_code=303,
        )
    resp = RedirectResponse("/ui/", status_code=303)
    resp.set_cookie(
        COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        max_age=12 * 3600,
        path="/",
    )
    return resp


@router.get("/logout")
def logout() -> Response:
    resp = RedirectResponse("/ui/login", status_code=303)
    resp.delete_cookie(COOKIE, path="/")
    return resp


def _period_from_query(request: Request, st: AppState, default_days: int = 30) -> tuple[datetime, datetime]:
    def parse(name: str) -> datetime | None:
        raw = request.query_params.get(name)
        if not raw:
            return None
        try:
            d = date.fromisoformat(raw[:10])
        except ValueError:
            return None
        return datetime.combine(d, time(), tzinfo=UTC)

    end = parse("until")
    end = end + timedelta(days=1) if end else st.clock()
    start = parse("since") or end - timedelta(days=default_days)
    if end <= start:
        start = end - timedelta(days=default_days)
    return start, end


def _overview_charts(rep: Any) -> list[str]:
    """Emissions and energy by lifecycle stage, emissions by model, and the daily emissions trend by stage."""
    kinds = rep.breakdowns["kind"]
    periods = sorted({r["period"] for r in rep.trend})
    idx = {p: i for i, p in enumerate(periods)}
    series: dict[str, list[float]] = defaultdict(lambda: [0.0] * len(periods))
    for r in rep.trend:
        series[r["kind"]][idx[r["period"]]] += r["emissions_g"]
    return [
        bar_chart(
            [r.key for r in kinds],
            [r.emissions.value or 0.0 for r in kinds],
            title="Emissions by lifecycle stage",
            unit="gCO2e",
        ),
        bar_chart(
            [r.key for r in kinds],
            [(r.energy.value or 0.0) / J_PER_KWH for r in kinds],
            title="Energy by lifecycle stage",
            unit="kWh",
        ),
        stacked_bars(periods, dict(series), title="Emissions per day by stage", unit="gCO2e"),
        report_charts(rep)[1],
    ]


@router.get("/")
def overview(request: Request, p: Principal = Depends(viewer)) -> Response:
    st = _st(request)
    start, end = _period_from_query(request, st)
    rep = report_from_ledger(st.ledger, period_start=start, period_end=end, generated_at=st.clock())
    return _page(
        request,
        "overview.html",
        p,
        "/ui/",
        "Carbon overview",
        report=rep,
        charts=_overview_charts(rep),
        start=start.date().isoformat(),
        end=end.date().isoformat(),
        budget=None,
    )


@router.get("/intensity")
def intensity(request: Request, p: Principal = Depends(viewer)) -> Response:
    st = _st(request)
    data = views.intensity_view(st)
    charts = []
    markers = [
        (j["start_s"], j["end_s"], j["label"], "#4c9be8" if j["state"] == "scheduled" else "#e8a33d")
        for j in data["jobs"]
    ]
    if data["series"]:
        charts.append(line_chart(data["series"], title="Grid intensity", unit="gCO2e/kWh", markers=markers))
    tables = [
        {
            "id": "jobs",
            "title": "Scheduled and realised jobs",
            "headers": ["job", "zone", "state", "window", "gCO2e"],
            "rows": [
                {
                    "cells": [
                        j["label"],
                        j["zone"],
                        {"text": j["state"], "cls": j["state"]},
                        j["window"],
                        j["g"],
                    ]
                }
                for j in data["jobs"]
            ],
            "empty": data["jobs_empty"],
        }
    ]
    empties = [] if data["series"] else [data["empty"]]
    return _page(
        request,
        "generic.html",
        p,
        "/ui/intensity",
        "Grid intensity and jobs",
        charts=charts,
        tables=tables,
        empties=empties,
        intro=data["intro"],
    )


@router.get("/hpo")
def hpo(request: Request, p: Principal = Depends(viewer)) -> Response:
    data = views.hpo_view(_st(request))
    charts = []
    for s in data["studies"]:
        if s["burn"]:
            xs = [float(i) for i in range(len(s["burn"]))]
            charts.append(
                line_chart(
                    {"remaining": (xs, s["remaining"])},
                    title=f"Quota burn-down: {s['study']}",
                    unit=s["unit"],
                    x_labels=[(x, str(int(x))) for x in xs[:: max(1, len(xs) // 8)]],
                )
            )
    tables = [
        {
            "id": "studies",
            "title": "Studies",
            "headers": ["study", "quota", "spent", "used", "trials", "status"],
            "rows": [
                {
                    "cells": [
                        s["study"],
                        s["quota"],
                        s["spent"],
                        s["used"],
                        s["trials"],
                        {"text": s["status"], "cls": s["status"]},
                    ]
                }
                for s in data["studies"]
            ],
            "empty": data["empty"],
        }
    ]
    return _page(
        request,
        "generic.html",
        p,
        "/ui/hpo",
        "Hyperparameter search under quotas",
        charts=charts,
        tables=tables,
        empties=[],
        intro=data["intro"],
    )


@router.get("/registry")
def registry(request: Request, p: Principal = Depends(viewer)) -> Response:
    data = views.registry_view(_st(request))
    charts = []
    if data["versions"]:
        charts.append(
            bar_chart(
                [v["label"] for v in data["versions"]],
                [v["train_g"] or 0.0 for v in data["versions"]],
                title="Training emissions per model version",
                unit="gCO2e",
            )
        )
    tables = [
        {
            "id": "versions",
            "title": "Model versions and carbon cards",
            "headers": [
                "model",
                "version",
                "stage",
                "training kWh",
                "training gCO2e",
                "inference kWh / 1000",
                "gate",
            ],
            "rows": [
                {
                    "cells": [
                        v["model"],
                        v["version"],
                        v["stage"],
                        v["train_kwh"],
                        _num(v["train_g"]),
                        v["infer_kwh_per_1000"],
                        {"text": v["gate"], "cls": v["gate"]},
                    ]
                }
                for v in data["versions"]
            ],
            "empty": data["empty"],
        }
    ]
    return _page(
        request,
        "generic.html",
        p,
        "/ui/registry",
        "Model registry",
        charts=charts,
        tables=tables,
        empties=[],
        intro=data["intro"],
    )


@router.get("/committee")
def committee(request: Request, p: Principal = Depends(viewer)) -> Response:
    data = views.committee_view(_st(request))
    can = p.can("deploy:decide")
    rows = []
    for r in data["requests"]:
        actions = []
        if can and r["open"]:
            base = f"/ui/committee/{r['id']}"
            if r["status"] == "vetoed":
                actions = [
                    {
                        "action": base + "/override",
                        "name": "override",
                        "label": "Override veto",
                        "cls": "secondary",
                        "justification": True,
                    },
                ]
            else:
                actions = [
                    {"action": base + "/approve", "name": "approve", "label": "Approve", "cls": ""},
                    {"action": base + "/veto", "name": "veto", "label": "Veto", "cls": "danger", "comment": True},
                ]
        rows.append(
            {
                "cells": [
                    r["id"],
                    r["model"],
                    r["environment"],
                    {"text": r["status"], "cls": r["status"]},
                    r["projected"],
                    r["rules"],
                    r["submitter"],
                    r["approvals"],
                ],
                "actions": actions,
            }
        )
    tables = [
        {
            "id": "requests",
            "title": "Deployment requests",
            "headers": [
                "request",
                "model",
                "environment",
                "status",
                "projected",
                "rules",
                "submitter",
                "approvals",
            ],
            "rows": rows,
            "empty": data["empty"],
            "actions": True,
        }
    ]
    intro = data["intro"] + ("" if can else " Your role can view the queue but not act on it.")
    return _page(
        request,
        "generic.html",
        p,
        "/ui/committee",
        "Committee queue",
        charts=[],
        tables=tables,
        empties=[],
        intro=intro,
    )


@router.post("/committee/{request_id}/{action}")
async def committee_action(
    request: Request, request_id: str, action: str, p: Principal = Depends(viewer)
) -> Response:
    if not _same_origin(request):
        return RedirectResponse(
            "/ui/committee?" + urlencode({"flash": "cross-site request refused", "error": "1"}),
            status_code=303,
        )
    if not p.can("deploy:decide"):
        return RedirectResponse(
            "/ui/committee?" + urlencode({"flash": f"role {p.role} may not decide", "error": "1"}),
            status_code=303,
        )
    form = await _form(request)
    try:
        msg = views.committee_act(_st(request), p, request_id[:64], action[:16], form)
        q = {"flash": msg}
    except Exception as exc:  # shown to the user; the API returns problem+json for the same errors
        log.info("committee action %s on %s refused: %s", action, request_id, exc)
        q = {"flash": f"{action} refused: {exc}", "error": "1"}
    return RedirectResponse("/ui/committee?" + urlencode(q), status_code=303)


@router.get("/audit")
def audit(request: Request, p: Principal = Depends(viewer)) -> Response:
    data = views.audit_view(_st(request))
    tables = [
        {
            "id": "checkpoints",
            "title": "Signed checkpoints",
            "headers": ["checkpoint", "entries", "root", "signed at"],
            "rows": [{"cells": c} for c in data["checkpoints"]],
            "empty": data["empty"],
        }
    ]
    intro = data["intro"]
    return _page(
        request,
        "generic.html",
        p,
        "/ui/audit",
        "Audit chain",
        charts=[],
        tables=tables,
        empties=[],
        intro=intro,
        status=data.get("status"),
    )


@router.get("/reports")
def reports(request: Request, p: Principal = Depends(viewer)) -> Response:
    st = _st(request)
    start, end = _period_from_query(request, st)
    rep = report_from_ledger(st.ledger, period_start=start, period_end=end, generated_at=st.clock())
    html = render_report(rep, "html")
    body = html[html.index("<body>") + 6 : html.rindex("</body>")]
    style = html[html.index("<style>") : html.index("</style>") + 8]
    fmts = (
        ("html", "HTML"),
        ("md", "Markdown"),
        ("csv", "CSV"),
        ("json", "JSON"),
        ("codecarbon", "emissions.csv (CodeCarbon)"),
    )
    return _page(
        request,
        "reports.html",
        p,
        "/ui/reports",
        "Reports",
        preview=style.replace("body{", ".x{") + body,
        formats=fmts,
        since=start.date().isoformat(),
        until=(end - timedelta(days=1)).date().isoformat(),
        since_q=start.isoformat().replace("+00:00", "Z"),
        until_q=end.isoformat().replace("+00:00", "Z"),
    )


@router.get("/spans")
def spans_page(request: Request, p: Principal = Depends(viewer)) -> Response:
    recs = _st(request).ledger.spans(newest_first=True, limit=200)
    by_kind: dict[str, float] = defaultdict(float)
    for r in recs:
        if r.parent_id is None:
            by_kind[r.kind] += r.energy_j / J_PER_KWH
    rows = [
        {
            "cells": [
                r.span_id[:12],
                r.name,
                r.kind,
                r.status,
                r.started_at.strftime("%Y-%m-%d %H:%M:%S"),
                f"{r.duration_s:.1f}",
                _num(r.energy_j / J_PER_KWH),
                _num(r.emissions_g),
                r.zone or "",
                r.model or "",
                ", ".join(r.methods),
            ]
        }
        for r in recs
    ]
    tables = [
        {
            "id": "spans",
            "title": "Latest spans (200)",
            "headers": [
                "span",
                "name",
                "kind",
                "status",
                "started (UTC)",
                "s",
                "kWh",
                "gCO2e",
                "zone",
                "model",
                "method",
            ],
            "rows": rows,
            "empty": "No spans recorded yet.",
        }
    ]
    return _page(request, "generic.html", p, "/ui/spans", "Spans", charts=[], tables=tables, empties=[], intro="")
