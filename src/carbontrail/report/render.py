"""Renderers of a :class:`~carbontrail.report.aggregate.Report`: JSON, CSV, Markdown and HTML. Pure.

JSON keeps base units (J, g) and every span and snapshot id. CSV is one line per figure (section,
key, metric, value, unit, method, uncertainty, span and snapshot ids). Markdown and HTML show kWh
and gCO2e (CSRD in MWh and tCO2e); HTML carries inline SVG charts and no external resources.
"""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from html import escape
from typing import Any

from carbontrail.report.aggregate import Report, Row
from carbontrail.report.model import Figure
from carbontrail.report.svg import bar_chart, stacked_bars
from carbontrail.units import J_PER_KWH

__all__ = ["FORMATS", "render", "to_csv", "to_html", "to_json", "to_markdown"]

FORMATS: tuple[str, ...] = ("json", "csv", "md", "html")
CSV_COLUMNS = (
    "section",
    "key",
    "metric",
    "value",
    "unit",
    "method",
    "uncertainty",
    "span_count",
    "span_ids",
    "snapshot_ids",
    "note",
)


def to_json(report: Report) -> str:
    """The report as indented JSON (base units)."""
    return json.dumps(report.to_dict(), indent=2, sort_keys=False, default=str) + "\n"


def _fig_row(section: str, key: str, metric: str, f: Figure) -> dict[str, Any]:
    return {
        "section": section,
        "key": key,
        "metric": metric,
        "value": "" if f.value is None else repr(float(f.value)),
        "unit": f.unit,
        "method": f.method,
        "uncertainty": "" if f.uncertainty is None else repr(float(f.uncertainty)),
        "span_count": len(f.span_ids),
        "span_ids": ";".join(f.span_ids),
        "snapshot_ids": ";".join(f.snapshot_ids),
        "note": f.note,
    }


def _plain_row(section: str, key: str, metric: str, value: Any, unit: str, note: str = "") -> dict[str, Any]:
    return {
        "section": section,
        "key": key,
        "metric": metric,
        "value": "" if value is None else value,
        "unit": unit,
        "method": "",
        "uncertainty": "",
        "span_count": "",
        "span_ids": "",
        "snapshot_ids": "",
        "note": note,
    }


def to_csv(report: Report) -> str:
    """One line per figure, every figure traceable to its span and snapshot ids."""
    rows: list[dict[str, Any]] = []
    for name, f in report.totals.items():
        rows.append(_fig_row("totals", "", name, f))
    for dim, brows in report.breakdowns.items():
        for r in brows:
            rows.append(_fig_row(f"by_{dim}", r.key, "energy", r.energy))
            rows.append(_fig_row(f"by_{dim}", r.key, "emissions_location", r.emissions))
    m = report.scope2["market_based"]
    for k in ("covered_j", "residual_j", "fallback_j", "unattributed_j"):
        rows.append(_plain_row("scope2_market", "", k, m[k], "J"))
    for i in m["instruments"]:
        rows.append(_plain_row("scope2_instrument", i["instrument_id"], "applied_j", i["applied_j"], "J"))
    for s in report.sci:
        rows.append(_fig_row("sci", s["model"], "sci", s["sci"]))
    for a in report.ai_act:
        rows.append(_fig_row("eu_ai_act", a["model"], "training_energy", a["training_energy_mwh"]))
        rows.append(_plain_row("eu_ai_act", a["model"], "training_time", a["training_time_s"], "s"))
        rows.append(_fig_row("eu_ai_act", a["model"], "training_compute", a["training_compute_flops"]))
    rows.append(_fig_row("csrd_e1_5", "", "total_energy", report.csrd["e1_5"]["total_energy_mwh"]))
    mix = report.csrd["e1_5"]["mix"]
    for part in ("fossil", "nuclear", "renewable"):
        rows.append(_plain_row("csrd_e1_5", part, f"{part}_energy", mix[f"{part}_mwh"], "MWh", mix["note"]))
    for r in report.csrd["e1_6"]:
        rows.append(_plain_row("csrd_e1_6", r["row"], "scope2", r["tco2e"], "tCO2e", r["note"]))
    sch = report.scheduling
    rows.append(_plain_row("scheduling", "", "realised_saving", sch["realised_saving_g"], "g", sch["method"]))
    for q in report.hpo:
        rows.append(_plain_row("hpo_quota", q["study"], "spent_j", q["spent_j"], "J"))
    rows.append(_plain_row("audit", report.audit.get("checkpoint_id") or "", "status", report.audit["status"], ""))
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(CSV_COLUMNS), lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def _num(v: float | None, digits: int = 6) -> str:
    if v is None:
        return "n/a"
    if v == 0:
        return "0"
    return f"{v:.{digits}g}"


def _kwh(f: Figure) -> str:
    if f.value is None:
        return "n/a"
    s = _num(f.value / J_PER_KWH)
    if f.uncertainty:
        s += f" ± {_num(f.uncertainty / J_PER_KWH, 2)}"
    return s


def _g(f: Figure) -> str:
    if f.value is None:
        return "n/a"
    s = _num(f.value)
    if f.uncertainty:
        s += f" ± {_num(f.uncertainty, 2)}"
    return s


def _md_table(headers: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows]
    return "\n".join(out)


def _breakdown_rows(rows: list[Row]) -> list[list[str]]:
    return [
        [
            r.key,
            _kwh(r.energy),
            _g(r.emissions),
            f"{r.share:.1%}",
            r.energy.method,
            str(len(r.energy.span_ids)),
        ]
        for r in rows
    ]


def to_markdown(report: Report) -> str:
    """A Markdown report for humans (kWh, gCO2e; CSRD in MWh and tCO2e)."""
    t = report.totals
    lines = [
        f"# Carbon report {report.report_id}",
        "",
        f"- Period: {report.period_start.isoformat()} to {report.period_end.isoformat()} (end exclusive)",
        f"- Generated: {report.generated_at.isoformat()}",
        f"- Organisation: {report.organisation or 'not stated'}",
        f"- Boundary: {report.boundary}",
        f"- Inputs digest: `{report.inputs_digest}`",
        f"- Audit: {report.audit['status']}"
        + (f" (checkpoint {report.audit['checkpoint_id']})" if report.audit.get("checkpoint_id") else ""),
        "",
        "## Totals",
        "",
        _md_table(
            ["figure", "value", "unit", "method", "spans", "note"],
            [
                [
                    "energy",
                    _kwh(t["energy"]),
                    "kWh",
                    t["energy"].method,
                    str(len(t["energy"].span_ids)),
                    t["energy"].note,
                ],
                [
                    "emissions, location-based",
                    _g(t["emissions_location"]),
                    "gCO2e",
                    t["emissions_location"].method,
                    str(len(t["emissions_location"].span_ids)),
                    t["emissions_location"].note,
                ],
                [
                    "emissions, market-based",
                    _g(t["emissions_market"]),
                    "gCO2e",
                    t["emissions_market"].method,
                    str(len(t["emissions_market"].span_ids)),
                    t["emissions_market"].note,
                ],
            ],
        ),
    ]
    for dim, rows in report.breakdowns.items():
        lines += [
            "",
            f"## By {dim}",
            "",
            _md_table([dim, "energy kWh", "emissions gCO2e", "share", "method", "spans"], _breakdown_rows(rows)),
        ]
    m = report.scope2["market_based"]
    lines += [
        "",
        "## GHG Protocol Scope 2",
        "",
        f"- Location-based: {_g(t['emissions_location'])} gCO2e",
        f"- Market-based: {_g(t['emissions_market'])} gCO2e — "
        f"instruments cover {_num(m['covered_j'] / J_PER_KWH)} kWh, "
        f"residual mix applied to {_num(m['residual_j'] / J_PER_KWH)} kWh, location factor used for "
        f"{_num(m['fallback_j'] / J_PER_KWH)} kWh",
    ]
    if m["instruments"]:
        lines += [
            "",
            _md_table(
                ["instrument", "kind", "zone", "MWh", "applied kWh", "unused kWh", "gCO2e/kWh"],
                [
                    [
                        i["instrument_id"],
                        i["kind"],
                        i["zone"],
                        _num(i["energy_j"] / 3.6e9),
                        _num(i["applied_j"] / J_PER_KWH),
                        _num(i["unused_j"] / J_PER_KWH),
                        _num(i["intensity_g_per_kwh"]),
                    ]
                    for i in m["instruments"]
                ],
            ),
        ]
    if report.sci:
        lines += [
            "",
            "## Software Carbon Intensity (SCI)",
            "",
            _md_table(
                ["model", "functional unit", "R", "E kWh", "I gCO2e/kWh", "M g", "SCI", "note"],
                [
                    [
                        s["model"],
                        s["functional_unit"],
                        _num(s["R"]),
                        _num(s["E_kwh"].value),
                        _num(s["I_g_per_kwh"]),
                        _num(s["M_g"]),
                        f"{_num(s['sci'].value)} {s['sci'].unit}",
                        s["sci"].note,
                    ]
                    for s in report.sci
                ],
            ),
        ]
    if report.ai_act:
        lines += [
            "",
            "## EU AI Act energy documentation (Art. 53(1)(a), Annex XI)",
            "",
            _md_table(
                [
                    "model",
                    "training energy MWh",
                    "method",
                    "training time s",
                    "training compute FLOP",
                    "retraining MWh",
                    "inference MWh",
                ],
                [
                    [
                        a["model"],
                        _num(a["training_energy_mwh"].value),
                        a["training_energy_method"],
                        _num(a["training_time_s"]),
                        _num(a["training_compute_flops"].value)
                        + ("" if a["training_compute_flops"].value is not None else " (not provided)"),
                        _num(a["retraining_energy_mwh"].value),
                        _num(a["inference_energy_mwh"].value),
                    ]
                    for a in report.ai_act
                ],
            ),
        ]
    e15 = report.csrd["e1_5"]
    mix = e15["mix"]
    lines += [
        "",
        "## CSRD ESRS E1",
        "",
        f"E1-5 total energy consumption: {_num(e15['total_energy_mwh'].value)} MWh",
        "",
        _md_table(["E1-5 mix", "MWh"], [[p, _num(mix[f"{p}_mwh"])] for p in ("fossil", "nuclear", "renewable")]),
        "",
        f"Mix: {mix['note']}",
        "",
        _md_table(["E1-6", "tCO2e", "note"], [[r["row"], _num(r["tco2e"]), r["note"]] for r in report.csrd["e1_6"]]),
    ]
    sch = report.scheduling
    lines += [
        "",
        "## Carbon-aware scheduling",
        "",
        f"- Jobs planned: {sch['jobs']}, run: {sch['jobs_realised']}",
        f"- Realised saving: {_num(sch['realised_saving_g'])} gCO2e"
        + (f" ({sch['realised_saving_rel']:.1%} of run-now)" if sch["realised_saving_rel"] is not None else ""),
        f"- Method: {sch['method']}",
    ]
    if report.hpo:
        lines += [
            "",
            "## HPO quota use",
            "",
            _md_table(
                ["study", "quota J", "quota g", "spent J", "spent g", "used", "trials", "status"],
                [
                    [
                        q["study"],
                        _num(q["quota_j"]),
                        _num(q["quota_g"]),
                        _num(q["spent_j"]),
                        _num(q["spent_g"]),
                        "n/a" if q["used_rel"] is None else f"{q['used_rel']:.1%}",
                        str(q["trials"]),
                        q["status"],
                    ]
                    for q in report.hpo
                ],
            ),
        ]
    lines += ["", "## Emission factors used", ""]
    if report.factors:
        lines.append(
            _md_table(
                [
                    "snapshot",
                    "zone",
                    "source",
                    "dataset",
                    "vintage",
                    "signal",
                    "basis",
                    "resolution s",
                    "PUE",
                    "uncertainty",
                ],
                [
                    [
                        str(f.get("snapshot_id")),
                        str(f.get("zone")),
                        str(f.get("source")),
                        str(f.get("dataset")),
                        str(f.get("vintage")),
                        str(f.get("signal")),
                        str(f.get("basis")),
                        _num(f.get("resolution_s")),
                        _num(f.get("pue")),
                        _num(f.get("uncertainty_rel")),
                    ]
                    for f in report.factors
                ],
            )
        )
    else:
        lines.append("No grid factors applied yet.")
    if report.notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in report.notes]
    return "\n".join(lines) + "\n"


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#1d2a22;
max-width:1100px}
h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #dde;padding-bottom:4px}
table{border-collapse:collapse;margin:8px 0;font-size:13px}
td,th{border:1px solid #ccd;padding:4px 8px;text-align:left}
th{background:#eef3ef}td.num{text-align:right;font-variant-numeric:tabular-nums}.meta{color:#555;font-size:13px}
.charts{display:flex;flex-wrap:wrap;gap:16px}.note{color:#7a4b00;font-size:12px}code{font-size:12px}
"""


def _h_table(headers: list[str], rows: list[list[str]], cls: str = "") -> str:
    out = [
        f'<table class="{cls}"><thead><tr>' + "".join(f"<th>{escape(h)}</th>" for h in headers) + "</tr></thead><tbody>"
    ]
    for r in rows:
        out.append("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in r) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def charts(report: Report) -> list[str]:
    """The report's SVG charts: energy by stage, emissions by model, energy per period by stage."""
    kinds = report.breakdowns["kind"]
    models = report.breakdowns["model"]
    periods = sorted({r["period"] for r in report.trend})
    series: dict[str, list[float]] = defaultdict(lambda: [0.0] * len(periods))
    idx = {p: i for i, p in enumerate(periods)}
    for r in report.trend:
        series[r["kind"]][idx[r["period"]]] += r["energy_j"] / J_PER_KWH
    return [
        bar_chart(
            [r.key for r in kinds],
            [(r.energy.value or 0.0) / J_PER_KWH for r in kinds],
            title="Energy by lifecycle stage",
            unit="kWh",
        ),
        bar_chart(
            [r.key for r in models],
            [r.emissions.value or 0.0 for r in models],
            title="Location-based emissions by model",
            unit="gCO2e",
        ),
        stacked_bars(periods, dict(series), title="Energy per period by stage", unit="kWh"),
    ]


def to_html(report: Report) -> str:
    """A self-contained HTML report with inline SVG charts (no scripts, no external resources)."""
    md_tables = to_markdown(report)  # same content, for the <details> appendix
    t = report.totals
    body = [
        f"<h1>Carbon report <code>{escape(report.report_id)}</code></h1>",
        '<p class="meta">'
        + "<br>".join(
            escape(x)
            for x in (
                f"Period {report.period_start.isoformat()} to {report.period_end.isoformat()} (end exclusive)",
                f"Generated {report.generated_at.isoformat()}",
                f"Boundary: {report.boundary}",
                f"Inputs digest {report.inputs_digest}",
                f"Audit: {report.audit['status']}"
                + (f" — checkpoint {report.audit['checkpoint_id']}" if report.audit.get("checkpoint_id") else ""),
            )
        )
        + "</p>",
        "<h2>Totals</h2>",
        _h_table(
            ["figure", "value", "unit", "method", "spans", "note"],
            [
                [
                    "energy",
                    _kwh(t["energy"]),
                    "kWh",
                    t["energy"].method,
                    str(len(t["energy"].span_ids)),
                    t["energy"].note,
                ],
                [
                    "emissions, location-based",
                    _g(t["emissions_location"]),
                    "gCO2e",
                    t["emissions_location"].method,
                    str(len(t["emissions_location"].span_ids)),
                    t["emissions_location"].note,
                ],
                [
                    "emissions, market-based",
                    _g(t["emissions_market"]),
                    "gCO2e",
                    t["emissions_market"].method,
                    str(len(t["emissions_market"].span_ids)),
                    t["emissions_market"].note,
                ],
            ],
            "totals",
        ),
        '<div class="charts">' + "".join(charts(report)) + "</div>",
    ]
    for dim, rows in report.breakdowns.items():
        body.append(f"<h2>By {escape(dim)}</h2>")
        body.append(_h_table([dim, "energy kWh", "emissions gCO2e", "share", "method", "spans"], _breakdown_rows(rows)))
    body.append(
        "<h2>All sections</h2><details open><summary>Scope 2, SCI, EU AI Act, CSRD, scheduling, HPO, "
        "factors</summary>" + _md_sections_html(md_tables) + "</details>"
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>carbontrail report {escape(report.report_id)}</title><style>{_CSS}</style></head><body>"
        + "".join(body)
        + "</body></html>\n"
    )


def _md_sections_html(md: str) -> str:
    """Render the Markdown sections after the breakdowns as simple HTML (tables and bullet lists)."""
    out: list[str] = []
    started = False
    table: list[list[str]] = []

    def flush() -> None:
        if table:
            out.append(_h_table(table[0], table[2:] if len(table) > 1 else []))
            table.clear()

    for line in md.splitlines():
        if line.startswith("## GHG Protocol"):
            started = True
        if not started:
            continue
        if line.startswith("|"):
            cells = [c.strip().replace("\\|", "|") for c in line.strip().strip("|").split(" | ")]
            table.append(cells if not line.startswith("|---") else [])
            continue
        flush()
        if line.startswith("## "):
            out.append(f"<h3>{escape(line[3:])}</h3>")
        elif line.startswith("- "):
            out.append(f"<p>• {escape(line[2:])}</p>")
        elif line.strip():
            out.append(f"<p>{escape(line)}</p>")
    flush()
    return "".join(out)


def render(report: Report, fmt: str) -> str:
    """Render ``report`` in ``fmt`` (one of :data:`FORMATS`)."""
    if fmt == "json":
        return to_json(report)
    if fmt == "csv":
        return to_csv(report)
    if fmt in ("md", "markdown"):
        return to_markdown(report)
    if fmt == "html":
        return to_html(report)
    raise ValueError(f"unknown report format {fmt!r} (one of {', '.join(FORMATS)})")
