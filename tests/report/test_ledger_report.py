"""Reports built from a real ledger on both backends equal the pure aggregation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.report.conftest import T0

from carbontrail.report import build_report, load_period_spans, report_from_ledger

NOW = datetime(2026, 2, 1, tzinfo=UTC)


def test_report_from_ledger(ledger, sample_spans):
    ledger.add_spans(sample_spans)
    start, end = T0 - timedelta(days=1), T0 + timedelta(days=1)
    got = report_from_ledger(ledger, period_start=start, period_end=end, generated_at=NOW)
    want = build_report(sample_spans, period_start=start, period_end=end, generated_at=NOW)
    assert got.to_dict() == want.to_dict()
    assert got.totals["energy"].value == 5.4e6
    # a period after everything ended loads nothing
    assert load_period_spans(ledger, T0 + timedelta(days=5), T0 + timedelta(days=6)) == []
