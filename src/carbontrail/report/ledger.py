"""Adapter: build reports from a :class:`~carbontrail.ledger.Ledger` (the only I/O of the report package).

Loads the span trees that touch the period and, from the other areas' tables in the same ledger,
the scheduler's recorded plans (realised savings), the HPO quota accounts, and the grid
generation mix of each zone (bundled Our World in Data / Ember data) for CSRD E1-5. An area whose
module is not installed contributes nothing.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from carbontrail.report.aggregate import Report, build_report
from carbontrail.report.model import AuditAnchor, GridMix, QuotaUse, ReportOptions, ScheduleOutcome
from carbontrail.span import SpanRecord

__all__ = [
    "audit_anchor",
    "grid_mix_for",
    "load_period_spans",
    "quota_uses",
    "report_from_ledger",
    "schedule_outcomes",
]

log = logging.getLogger(__name__)


def _records(rows: Iterable[Any]) -> list[SpanRecord]:
    out = []
    for r in rows:
        m = dict(r._mapping)
        m.pop("recorded_at", None)
        out.append(SpanRecord.from_dict(m))
    return out


def load_period_spans(ledger: Any, period_start: datetime, period_end: datetime) -> list[SpanRecord]:
    """Every span of the trees with any span overlapping ``[period_start, period_end)``.

    Reads the spans that overlap the period (``started_at < period_end`` and ``ended_at >=
    period_start``), then their ancestors and their ancestors' descendants, so that each tree is
    whole: a parent's exclusive energy needs its children.
    """
    from carbontrail.ledger.schema import spans as t

    got: dict[str, SpanRecord] = {}
    with ledger.engine.connect() as conn:
        q = sa.select(t).where(t.c.started_at < period_end, t.c.ended_at >= period_start)
        frontier = _records(conn.execute(q))
        while frontier:
            for s in frontier:
                got[s.span_id] = s
            parents = {s.parent_id for s in frontier if s.parent_id and s.parent_id not in got}
            kids_of = [s.span_id for s in frontier]
            nxt: list[SpanRecord] = []
            for chunk in _chunks(sorted(parents), 500):
                nxt += _records(conn.execute(sa.select(t).where(t.c.span_id.in_(chunk))))
            for chunk in _chunks(kids_of, 500):
                nxt += _records(conn.execute(sa.select(t).where(t.c.parent_id.in_(chunk))))
            frontier = [s for s in nxt if s.span_id not in got]
    return sorted(got.values(), key=lambda s: (s.started_at, s.span_id))


def _chunks(items: list[str], n: int) -> Iterable[list[str]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]


def schedule_outcomes(ledger: Any, period_start: datetime, period_end: datetime) -> list[ScheduleOutcome]:
    """The scheduler's plans made in the period (``[]`` if the schedule area is not installed)."""
    try:
        from carbontrail.schedule.queue import list_plans
    except ImportError:
        return []
    out = []
    for p in list_plans(ledger, since=period_start, until=period_end):
        if p.run_now_emissions_g is None or p.expected_emissions_g is None:
            continue
        ids = tuple(p.realised_span_ids or ())
        out.append(
            ScheduleOutcome(
                job_id=p.job_id or p.plan_id,
                zone=p.zone,
                planned_at=p.created_at,
                run_now_g=p.run_now_emissions_g,
                expected_g=p.expected_emissions_g,
                realised_g=p.realised_emissions_g,
                span_id=ids[0] if ids else None,
                realised_run_now_g=p.realised_run_now_emissions_g,
                span_ids=ids,
            )
        )
    return out


def quota_uses(ledger: Any) -> list[QuotaUse]:
    """Every HPO study's quota account (``[]`` if the HPO area is not installed)."""
    try:
        from carbontrail.hpo.tables import hpo_accounts
    except ImportError:
        return []
    with ledger.engine.connect() as conn:
        rows = conn.execute(sa.select(hpo_accounts).order_by(hpo_accounts.c.created_at)).all()
    return [
        QuotaUse(
            study=r.study_name,
            quota_j=r.limit_value if r.basis == "energy" else None,
            quota_g=r.limit_value if r.basis == "carbon" else None,
            spent_j=float(r.spent_j),
            spent_g=float(r.spent_g),
            trials=int(r.n_complete + r.n_pruned + r.n_failed),
            status=r.status,
        )
        for r in rows
    ]


def audit_anchor(ledger: Any, *, verify: bool = False) -> AuditAnchor | None:
    """The latest signed audit checkpoint (``None`` without one or without the audit area).

    With ``verify`` the whole chain is verified first (entries, checkpoints, signatures); this reads
    every entry, so dashboards leave it to the audit page.
    """
    try:
        from carbontrail.audit import AuditLog
    except ImportError:
        return None
    log_ = AuditLog(ledger)
    cps = log_.checkpoints()
    if not cps:
        return None
    cp = cps[-1]
    ok = log_.verify().ok if verify else None
    return AuditAnchor(
        checkpoint_id=f"checkpoint@{cp.tree_size}",
        entries=cp.tree_size,
        root_hash=cp.root,
        signed_at=cp.at,
        verified=ok,
    )


def grid_mix_for(zones: Iterable[str]) -> dict[str, GridMix]:
    """Generation mix (fossil, nuclear, renewable) of the country zones among ``zones``.

    From the bundled Our World in Data / Ember ``global_energy_mix.json`` (CC BY 4.0), the
    country's year per row. Zones without country data (US states, balancing authorities) are left
    out, so the report says the mix is unavailable for them.
    """
    try:
        from carbontrail.grid import bundled
        from carbontrail.grid.zones import lookup
    except ImportError:
        return {}
    try:
        table = json.loads(bundled.data_path("owid-ember/global_energy_mix.json").read_text())
    except OSError as exc:
        log.warning("no bundled grid mix data: %s", exc)
        return {}
    out: dict[str, GridMix] = {}
    for zone in zones:
        try:
            z = lookup(zone)
        except Exception:  # unknown zone: no mix, the report says so
            continue
        if z.kind != "country" or not z.aliases:
            continue
        row = next((table[a] for a in z.aliases if a in table), None)
        if row is None:
            continue
        try:
            fossil, nuclear, renew = (float(row[k]) for k in ("fossil_TWh", "nuclear_TWh", "renewables_TWh"))
        except (KeyError, TypeError, ValueError):
            continue
        total = fossil + nuclear + renew
        if total <= 0:
            continue
        out[zone] = GridMix(
            fossil / total,
            nuclear / total,
            renew / total,
            f"Ember; Energy Institute; Our World in Data ({row.get('country_name', zone)}, "
            f"{row.get('year', '?')}, CC BY 4.0)",
        )
    return out


def report_from_ledger(
    ledger: Any,
    *,
    period_start: datetime,
    period_end: datetime,
    generated_at: datetime,
    options: ReportOptions | None = None,
    include_areas: bool = True,
    verify_audit: bool = False,
) -> Report:
    """Build the report of ``[period_start, period_end)`` from the ledger.

    With ``include_areas`` (default), scheduling outcomes, HPO quota accounts and the grid mix are
    read from the ledger and bundled data unless ``options`` already gives them, and the report is
    tied to the latest signed audit checkpoint (the chain verified first with ``verify_audit``).
    """
    spans = load_period_spans(ledger, period_start, period_end)
    opts = replace(options) if options is not None else ReportOptions()
    if include_areas:
        if not opts.schedule:
            opts.schedule = schedule_outcomes(ledger, period_start, period_end)
        if not opts.quotas:
            opts.quotas = quota_uses(ledger)
        if not opts.grid_mix:
            opts.grid_mix = grid_mix_for({s.zone for s in spans if s.zone})
        if opts.audit is None:
            opts.audit = audit_anchor(ledger, verify=verify_audit)
    log.debug("report over %d spans", len(spans))
    return build_report(
        spans, period_start=period_start, period_end=period_end, generated_at=generated_at, options=opts
    )
