"""Adapter: build reports from a :class:`~carbontrail.ledger.Ledger` (the only I/O of the report package).

Loads the span trees that touch the period, and — where those areas' tables exist in the ledger —
the scheduler's outcomes, the HPO quota accounts and the latest audit checkpoint.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from carbontrail.report.aggregate import Report, build_report
from carbontrail.report.model import ReportOptions
from carbontrail.span import SpanRecord

__all__ = ["load_period_spans", "report_from_ledger"]

log = logging.getLogger(__name__)


def load_period_spans(ledger: Any, period_start: datetime, period_end: datetime) -> list[SpanRecord]:
    """Every span of the trees with any span overlapping ``[period_start, period_end)``.

    Spans are read by ``started_at < period_end``; trees whose spans all ended before the
    period are dropped (their buckets cannot fall in it).
    """
    candidates = ledger.spans(until=period_end)
    by_root: dict[str, list[SpanRecord]] = {}
    by_id = {s.span_id: s for s in candidates}
    for s in candidates:
        cur = s
        while cur.parent_id is not None and cur.parent_id in by_id:
            cur = by_id[cur.parent_id]
        by_root.setdefault(cur.span_id, []).append(s)
    out: list[SpanRecord] = []
    for tree in by_root.values():
        if any(s.ended_at >= period_start for s in tree):
            out.extend(tree)
    return out


def report_from_ledger(
    ledger: Any,
    *,
    period_start: datetime,
    period_end: datetime,
    generated_at: datetime,
    options: ReportOptions | None = None,
) -> Report:
    """Build the report of ``[period_start, period_end)`` from the ledger's spans and the given options."""
    spans = load_period_spans(ledger, period_start, period_end)
    log.debug("report over %d spans", len(spans))
    return build_report(
        spans, period_start=period_start, period_end=period_end, generated_at=generated_at, options=options
    )
