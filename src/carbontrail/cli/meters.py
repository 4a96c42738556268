"""``carbontrail meters``: what this machine offers for metering and the meters spans will use."""

from __future__ import annotations

import json
from typing import Any

import typer

from carbontrail.cli import common


def _fmt(detail: dict[str, Any]) -> str:
    parts = []
    for k, v in detail.items():
        if v is None or v == "":
            continue
        parts.append(f"{k}={v if isinstance(v, str) else json.dumps(v, default=str)}")
    return "; ".join(parts)


def meters(
    as_json: bool = typer.Option(False, "--json", help="machine-readable output on stdout"),
) -> None:
    """Show the components spans will meter (method, uncertainty, detail) and the machine facts."""
    from rich.table import Table

    from carbontrail.meter.machine import default_meters, detect

    with common.cli_errors():
        s = common.settings()
        facts = detect(s)
        mset = default_meters(s)
        try:
            comps: list[dict[str, Any]] = [
                {
                    "component": i.component,
                    "method": i.method,
                    "uncertainty_rel": i.uncertainty_rel,
                    "detail": i.detail,
                }
                for i in mset.infos
            ]
        finally:
            mset.close()
    if as_json:
        common.print_json({"attribution": s.attribution, "components": comps, "machine": facts.to_dict()})
        return
    table = Table(title=f"meters (attribution: {s.attribution})")
    table.add_column("component")
    table.add_column("method")
    table.add_column("uncertainty", justify="right")
    table.add_column("detail", overflow="fold")
    for c in comps:
        style = "red" if c["method"] == "unavailable" else None
        table.add_row(
            c["component"],
            c["method"],
            f"±{c['uncertainty_rel'] * 100:.0f} %",
            _fmt(c["detail"]),
            style=style,
        )
    common.err.print(table)
    m = facts.to_dict()
    ft = Table(title="machine")
    ft.add_column("fact")
    ft.add_column("value", overflow="fold")
    cpu = m["cpu"]
    ft.add_row("CPU", f"{cpu['model'] or '?'} ({cpu['logical_cpus']} logical CPUs visible)")
    ft.add_row("CPU power", f"{cpu['per_thread_w']} W per busy thread ({cpu['power_source']})")
    rapl = m["rapl"]
    ft.add_row(
        "RAPL", "readable: " + ", ".join(rapl["domains"]) if rapl["readable"] else f"no — {rapl['reason']}"
    )
    nv = m["nvml"]
    gpus = [g["component"] for g in nv["gpus"] if g.get("method") == "nvml"]
    ft.add_row("NVML", "GPUs: " + ", ".join(gpus) if gpus else f"no — {nv['reason']}")
    v = m["virtualization"]
    ft.add_row("virtual machine", v["vm"] or "none found")
    ft.add_row("container", v["container"] or "none found")
    ft.add_row("evidence", "; ".join(v["evidence"]) or "-")
    common.err.print(ft)
