"""Reports: pure aggregation of spans into traceable figures, and renderers.

::

    from carbontrail.report import build_report, render, ReportOptions
    rep = build_report(spans, period_start=t0, period_end=t1, generated_at=now, options=ReportOptions(...))
    html = render(rep, "html")

Sections: lifecycle breakdown (by kind, model, team, pipeline, zone, period), GHG Protocol Scope 2
(location- and market-based), SCI per model, EU AI Act energy documentation, CSRD ESRS E1-5 and
E1-6, realised scheduling savings, HPO quota use, audit anchor. A CodeCarbon-compatible
``emissions.csv`` comes from :func:`emissions_csv`.
"""

from carbontrail.report.aggregate import BREAKDOWN_KEYS, Report, Row, build_report, exclusive_pieces
from carbontrail.report.codecarbon import CODECARBON_COLUMNS, emissions_csv
from carbontrail.report.ledger import load_period_spans, report_from_ledger
from carbontrail.report.model import (
    AuditAnchor,
    Figure,
    GridMix,
    Instrument,
    QuotaUse,
    ReportOptions,
    ScheduleOutcome,
    SciSpec,
)
from carbontrail.report.render import FORMATS, render, to_csv, to_html, to_json, to_markdown

__all__ = [
    "BREAKDOWN_KEYS",
    "CODECARBON_COLUMNS",
    "FORMATS",
    "AuditAnchor",
    "Figure",
    "GridMix",
    "Instrument",
    "QuotaUse",
    "Report",
    "ReportOptions",
    "Row",
    "ScheduleOutcome",
    "SciSpec",
    "build_report",
    "emissions_csv",
    "exclusive_pieces",
    "load_period_spans",
    "render",
    "report_from_ledger",
    "to_csv",
    "to_html",
    "to_json",
    "to_markdown",
]
