"""The REST API under ``/api/v1``: ingest, spans, reports, tokens, health and whoami."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response

from carbontrail.errors import LedgerError
from carbontrail.ledger.schema import spans as spans_table
from carbontrail.provenance import digest
from carbontrail.report import (
    GridMix,
    Instrument,
    ReportOptions,
    SciSpec,
    emissions_csv,
    load_period_spans,
    render,
    report_from_ledger,
)
from carbontrail.server.auth import Principal
from carbontrail.server.deps import AppState, require, state
from carbontrail.server.problems import problem
from carbontrail.server.schemas import (
    IngestBatch,
    IngestResult,
    Problem,
    ReportRequest,
    SpanOut,
    TokenCreate,
    TokenCreated,
    TokenInfo,
)
from carbontrail.span import KINDS
from carbontrail.units import J_PER_MWH

__all__ = ["router"]

log = logging.getLogger(__name__)

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "missing or invalid token"},
    403: {"model": Problem, "description": "the token's role does not allow this"},
    422: {"model": Problem, "description": "invalid input"},
}

router = APIRouter(prefix="/api/v1", responses=ERRORS)

MEDIA = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "md": "text/markdown; charset=utf-8",
    "html": "text/html; charset=utf-8",
    "codecarbon": "text/csv; charset=utf-8",
}


@router.get("/health", tags=["service"], responses={503: {"model": Problem}})
def health(st: AppState = Depends(state)) -> dict[str, Any]:
    """Liveness and the ledger's schema heads (no token needed)."""
    return {"status": "ok", "ledger": st.ledger.dialect, "heads": st.ledger.current_heads()}


@router.get("/whoami", tags=["service"])
def whoami(p: Principal = Depends(require("read"))) -> dict[str, str]:
    """The caller's token id, name and role."""
    return {"token_id": p.token_id, "name": p.name, "role": p.role}


@router.post("/spans", tags=["ingest"], response_model=IngestResult)
def ingest(
    batch: IngestBatch,
    request: Request,
    p: Principal = Depends(require("spans:write")),
    st: AppState = Depends(state),
) -> IngestResult:
    """Store a batch of spans from a remote worker. Idempotent on ``span_id``: re-sending is harmless."""
    from carbontrail.ledger.store import _span_row

    records = [s.to_record() for s in batch.spans]
    now = st.clock()
    rows = [_span_row(r, now) for r in records]
    stmt = st.ledger.insert_ignore(spans_table).returning(spans_table.c.span_id)
    # the spans and their audit entry commit together: no span without its entry, nor the reverse
    with st.writing(), st.ledger.write() as conn:
        new_ids = sorted(r[0] for r in conn.execute(stmt, rows).all())
        if new_ids and st.gov is not None:
            new = {r.span_id: r for r in records}
            payload = {
                "by": p.name,
                "count": len(new_ids),
                "span_ids": new_ids,
                "digest": digest([[i, new[i].energy_j, new[i].emissions_g] for i in new_ids]),
            }
            st.gov.audit.append_many([("span-batch", payload)], at=now, conn=conn)
    inserted = len(new_ids)
    if new_ids and st.lineage is not None:
        fresh = set(new_ids)
        st.lineage.emit(r for r in records if r.span_id in fresh)
    st.metrics.ingested.labels("inserted").inc(inserted)
    st.metrics.ingested.labels("duplicate").inc(len(rows) - inserted)
    log.debug("ingest from %s: %d received, %d new", p.name, len(rows), inserted)
    return IngestResult(received=len(rows), inserted=inserted, duplicates=len(rows) - inserted)


@router.get("/spans", tags=["spans"], response_model=list[SpanOut])
def list_spans(
    st: AppState = Depends(state),
    _: Principal = Depends(require("read")),
    run_id: Annotated[str | None, Query(max_length=64)] = None,
    kind: Literal[KINDS] | None = None,  # type: ignore[valid-type]
    model: Annotated[str | None, Query(max_length=200)] = None,
    team: Annotated[str | None, Query(max_length=200)] = None,
    pipeline: Annotated[str | None, Query(max_length=200)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    roots_only: bool = False,
    newest_first: bool = True,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    """Spans matching every filter given (``since``/``until`` bound ``started_at``; tz-aware)."""
    for name, v in (("run_id", run_id), ("model", model), ("team", team), ("pipeline", pipeline)):
        if v is not None and "\x00" in v:
            return problem(422, f"{name} contains a NUL character")  # type: ignore[return-value]
    for t in (since, until):
        if t is not None and t.tzinfo is None:
            return problem(422, "since/until must carry a timezone (e.g. 2026-01-01T00:00:00Z)")  # type: ignore[return-value]
    recs = st.ledger.spans(
        run_id=run_id,
        kind=kind,
        model=model,
        team=team,
        pipeline=pipeline,
        since=since,
        until=until,
        roots_only=roots_only,
        limit=limit,
        newest_first=newest_first,
    )
    return [r.to_dict() for r in recs]


@router.get("/spans/{span_id}", tags=["spans"], response_model=SpanOut, responses={404: {"model": Problem}})
def get_span(
    span_id: Annotated[str, Path(min_length=6, max_length=64, pattern=r"^[0-9a-f]+$")],
    st: AppState = Depends(state),
    _: Principal = Depends(require("read")),
) -> Any:
    """One span by id (or a unique prefix of at least 6 hex characters)."""
    try:
        return st.ledger.span(span_id).to_dict()
    except LedgerError as exc:
        return problem(404, str(exc), slug="not-found")


def _period(st: AppState, since: datetime | None, until: datetime | None) -> tuple[datetime, datetime] | Response:
    end = until or st.clock()
    start = since or end - timedelta(days=30)
    if start.tzinfo is None or end.tzinfo is None:
        return problem(422, "since/until must carry a timezone (e.g. 2026-01-01T00:00:00Z)")
    if end <= start:
        return problem(422, "until must be after since")
    return start, end


def _respond(text: str, fmt: str, report_id: str) -> Response:
    ext = {"codecarbon": "csv"}.get(fmt, fmt)
    name = "emissions.csv" if fmt == "codecarbon" else f"carbontrail-report-{report_id}.{ext}"
    return Response(text, media_type=MEDIA[fmt], headers={"Content-Disposition": f'inline; filename="{name}"'})


@router.get("/reports", tags=["reports"], responses={200: {"content": {m: {} for m in MEDIA.values()}}})
def get_report(
    st: AppState = Depends(state),
    _: Principal = Depends(require("read")),
    since: datetime | None = None,
    until: datetime | None = None,
    format: Literal["json", "csv", "md", "html", "codecarbon"] = "json",
    model: Annotated[list[str], Query(max_length=20)] = [],  # noqa: B006 - FastAPI query list
) -> Response:
    """The report of ``[since, until)`` (default: the last 30 days) in one format.

    ``model`` (repeatable) adds EU AI Act rows for that model.

    ``format=codecarbon`` gives a CodeCarbon-compatible ``emissions.csv``.
    """
    per = _period(st, since, until)
    if isinstance(per, Response):
        return per
    start, end = per
    if any("\x00" in m or len(m) > 200 for m in model):
        return problem(422, "model names are at most 200 characters, without NUL")
    if format == "codecarbon":
        return _respond(emissions_csv(load_period_spans(st.ledger, start, end)), format, "")
    rep = report_from_ledger(
        st.ledger,
        period_start=start,
        period_end=end,
        generated_at=st.clock(),
        options=ReportOptions(ai_act_models=list(model)),
        verify_audit=True,
    )
    return _respond(render(rep, format), format, rep.report_id)


@router.post("/reports", tags=["reports"], responses={200: {"content": {m: {} for m in MEDIA.values()}}})
def post_report(req: ReportRequest, st: AppState = Depends(state), _: Principal = Depends(require("read"))) -> Response:
    """A report with the caller's inputs: instruments (certificates, PPAs), residual and grid mix, SCI."""
    if req.period_end <= req.period_start:
        return problem(422, "period_end must be after period_start")
    opts = ReportOptions(
        instruments=[
            Instrument(
                i.instrument_id,
                i.kind,
                i.energy_mwh * J_PER_MWH,
                i.zone,
                i.start_at,
                i.end_at,
                i.intensity_g_per_kwh,
            )
            for i in req.instruments
        ],
        residual_mix_g_per_kwh=dict(req.residual_mix_g_per_kwh),
        residual_mix_source=req.residual_mix_source,
        grid_mix={z: GridMix(m.fossil, m.nuclear, m.renewable, m.source) for z, m in req.grid_mix.items()},
        sci=[
            SciSpec(s.model, s.functional_unit, s.units, tuple(s.kinds), s.embodied_g, s.embodied_source)
            for s in req.sci
        ],
        ai_act_models=list(req.ai_act_models),
        training_compute_flops=dict(req.training_compute_flops),
        organisation=req.organisation,
    )
    rep = report_from_ledger(
        st.ledger,
        period_start=req.period_start,
        period_end=req.period_end,
        generated_at=st.clock(),
        options=opts,
        verify_audit=True,
    )
    return _respond(render(rep, req.format), req.format, rep.report_id)


@router.post("/tokens", tags=["tokens"], response_model=TokenCreated, status_code=201)
def create_token(
    body: TokenCreate, st: AppState = Depends(state), _: Principal = Depends(require("tokens:admin"))
) -> TokenCreated:
    """Create an API token with a role; the token is returned once."""
    token, p = st.tokens.create(body.name, body.role, now=st.clock())
    return TokenCreated(token=token, token_id=p.token_id, name=p.name, role=p.role)


@router.get("/tokens", tags=["tokens"], response_model=list[TokenInfo])
def list_tokens(st: AppState = Depends(state), _: Principal = Depends(require("tokens:admin"))) -> Any:
    """Every token, without secrets."""
    return st.tokens.list()


@router.delete("/tokens/{token_id}", tags=["tokens"], status_code=204, responses={404: {"model": Problem}})
def revoke_token(
    token_id: Annotated[str, Path(max_length=32, pattern=r"^[0-9a-f]+$")],
    st: AppState = Depends(state),
    _: Principal = Depends(require("tokens:admin")),
) -> Response:
    """Revoke a token."""
    if not st.tokens.revoke(token_id, now=st.clock()):
        return problem(404, f"no active token {token_id!r}", slug="not-found")
    return Response(status_code=204)


def metrics_response(st: AppState) -> Response:
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    return Response(generate_latest(st.metrics.registry), media_type=CONTENT_TYPE_LATEST)
