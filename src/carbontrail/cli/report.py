"""``carbontrail report``: build reports from the ledger; CodeCarbon-compatible emissions.csv."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import typer

from carbontrail.cli.common import cli_errors, err, open_ledger, settings
from carbontrail.errors import ConfigError

app = typer.Typer(help="Reports: lifecycle, GHG Scope 2, SCI, EU AI Act, CSRD E1; emissions.csv.", no_args_is_help=True)


def _when(text: str | None, default: datetime) -> datetime:
    if not text:
        return default
    try:
        t = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ConfigError(f"cannot parse time {text!r} (ISO 8601, e.g. 2026-01-01 or 2026-01-01T00:00Z)") from exc
    return t.replace(tzinfo=UTC) if t.tzinfo is None and len(text) == 10 else t


def _options(path: Path | None, models: list[str]) -> Any:
    from carbontrail.report import GridMix, Instrument, ReportOptions, SciSpec
    from carbontrail.units import parse_energy_j

    opts = ReportOptions(ai_act_models=list(models))
    if path is None:
        return opts
    try:
        text = path.read_text()
        data = json.loads(text) if path.suffix == ".json" else __import__("yaml").safe_load(text)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping")
    try:
        for i in data.get("instruments", []):
            opts.instruments.append(
                Instrument(
                    str(i["id"]),
                    i["kind"],
                    parse_energy_j(i["energy"]),
                    str(i["zone"]),
                    _when(str(i["start"]), datetime.now(UTC)),
                    _when(str(i["end"]), datetime.now(UTC)),
                    float(i.get("intensity_g_per_kwh", 0.0)),
                )
            )
        opts.residual_mix_g_per_kwh = {str(k): float(v) for k, v in (data.get("residual_mix") or {}).items()}
        opts.residual_mix_source = str(data.get("residual_mix_source", ""))
        opts.grid_mix = {
            str(z): GridMix(
                float(m["fossil"]),
                float(m["nuclear"]),
                float(m["renewable"]),
                str(m.get("source", path.name)),
            )
            for z, m in (data.get("grid_mix") or {}).items()
        }
        opts.sci = [
            SciSpec(
                str(s["model"]),
                str(s["functional_unit"]),
                float(s["units"]),
                tuple(s.get("kinds", ["inference"])),
                float(s.get("embodied_g", 0.0)),
                str(s.get("embodied_source", "not included (M = 0)")),
            )
            for s in data.get("sci", [])
        ]
        opts.ai_act_models += [str(m) for m in data.get("ai_act_models", [])]
        opts.training_compute_flops = {str(k): float(v) for k, v in (data.get("training_compute_flops") or {}).items()}
        opts.organisation = str(data.get("organisation", ""))
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"{path}: bad report inputs: {exc!r}") from exc
    return opts


@app.command("build")
def build(
    since: str = typer.Option(None, "--since", help="period start (ISO 8601; default 30 days ago)"),
    until: str = typer.Option(None, "--until", help="period end, exclusive (default now)"),
    fmt: str = typer.Option("html", "--format", "-f", help="json, csv, md or html"),
    out: Path = typer.Option(None, "--out", "-o", help="write here instead of stdout"),
    inputs: Path = typer.Option(None, "--inputs", help="YAML/JSON: instruments, residual_mix, grid_mix, sci, ..."),
    model: list[str] = typer.Option([], "--model", help="add EU AI Act rows for this model (repeatable)"),
    url: str = typer.Option(None, "--url", help="ledger URL (default: settings)"),
) -> None:
    """Build a report over a period from the ledger."""
    from carbontrail.report import render, report_from_ledger

    with cli_errors():
        now = datetime.now(UTC)
        end = _when(until, now)
        start = _when(since, end - timedelta(days=30))
        rep = report_from_ledger(
            open_ledger(settings(ledger_url=url)),
            period_start=start,
            period_end=end,
            generated_at=now,
            options=_options(inputs, model),
            verify_audit=True,
        )
        text = render(rep, fmt)
        if out:
            out.write_text(text)
            err.print(f"report {rep.report_id} written to {out}")
        else:
            typer.echo(text, nl=False)


@app.command("emissions-csv")
def emissions(
    since: str = typer.Option(None, "--since"),
    until: str = typer.Option(None, "--until"),
    out: Path = typer.Option(Path("emissions.csv"), "--out", "-o"),
    url: str = typer.Option(None, "--url"),
) -> None:
    """Export root spans as a CodeCarbon-compatible emissions.csv."""
    from carbontrail.report import emissions_csv, load_period_spans

    with cli_errors():
        now = datetime.now(UTC)
        end = _when(until, now)
        start = _when(since, end - timedelta(days=30))
        out.write_text(emissions_csv(load_period_spans(open_ledger(settings(ledger_url=url)), start, end)))
        err.print(f"wrote {out}")
