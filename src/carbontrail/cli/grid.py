"""``carbontrail grid zones|show|forecast``: zones, intensity with provenance, forecasts."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime
from typing import Any

import typer
from rich.table import Table

from carbontrail.cli.common import cli_errors, err, print_json, settings
from carbontrail.errors import GridError

app = typer.Typer(help="Grid intensity: zones, values with provenance, forecasts.", no_args_is_help=True)


def _time(text: str, what: str) -> float:
    """POSIX seconds from ``now``, an ISO 8601 time with a zone (``2022-07-01T12:00Z``) or POSIX seconds."""
    t = text.strip()
    if t.lower() == "now":
        return time.time()
    try:
        return float(t)
    except ValueError:
        pass
    try:
        dt = datetime.fromisoformat(t)
    except ValueError as exc:
        raise typer.BadParameter(
            f"{what}: cannot parse {text!r} (ISO 8601 with a zone, e.g. 2022-07-01T12:00Z)"
        ) from exc
    if dt.tzinfo is None:
        raise typer.BadParameter(f"{what}: {text!r} has no time zone; add Z or an offset such as +02:00")
    return dt.timestamp()


def _iso(t_s: float) -> str:
    return datetime.fromtimestamp(t_s, tz=UTC).isoformat(timespec="minutes")


def _series_json(s: Any) -> dict[str, Any]:
    return {
        "zone": s.provenance.zone,
        "start": _iso(s.start_s),
        "start_s": s.start_s,
        "step_s": s.step_s,
        "values_g_per_kwh": [round(float(v), 6) for v in s.values_g_per_kwh],
        "filled": [bool(f) for f in s.filled] if s.filled.size else [],
        "uncertainty_rel": [float(u) for u in s.uncertainty_rel] if s.uncertainty_rel.size else [],
        "provenance": s.provenance.to_dict(),
    }


def _provenance_lines(p: dict[str, Any]) -> None:
    err.print(
        f"[bold]{p['zone']}[/bold]  source {p['source']}  ·  {p['dataset']}  ·  vintage {p['vintage']}\n"
        f"signal {p['signal']}, basis {p['basis']}, resolution {p['resolution_s']:g} s"
        + (f", uncertainty ±{p['uncertainty_rel']:.0%}" if p.get("uncertainty_rel") else "")
        + (", estimated" if p.get("estimated") else "")
    )
    for f in p.get("fallbacks") or []:
        err.print(f"[yellow]fallback:[/yellow] {f}")


def _points_table(s: Any, title: str, limit: int = 96) -> None:
    table = Table(title=title)
    table.add_column("start (UTC)")
    table.add_column("g/kWh", justify="right")
    table.add_column("note")
    step = max(1, math.ceil(len(s) / limit))
    for i in range(0, len(s), step):
        note = []
        if s.filled.size and s.filled[i]:
            note.append("interpolated")
        if s.uncertainty_rel.size:
            note.append(f"±{s.uncertainty_rel[i]:.0%}")
        table.add_row(_iso(s.start_s + i * s.step_s), f"{s.values_g_per_kwh[i]:.1f}", " ".join(note))
    if step > 1:
        table.caption = f"every {step}th of {len(s)} intervals shown; --json for all"
    err.print(table)


def _source(zone: str, series_spec: str | None) -> Any:
    from carbontrail.grid.attribute import default_chain, parse_series_spec, settings_series

    s = settings()
    src = settings_series(s)
    if series_spec:
        path, kw = parse_series_spec(series_spec)
        kw.setdefault("zone", zone)
        src.add_file(path, **kw)
    ledger = None
    if s.grid_providers:
        from carbontrail.cli.common import open_ledger

        ledger = open_ledger(s)
    return default_chain(s, ledger, zone=zone, series=src), src


@app.command("zones")
def zones_command(
    search: str = typer.Option("", "--search", "-s", help="text to look for in ids, names, aliases, locations"),
    json_out: bool = typer.Option(False, "--json", help="machine-readable output on stdout"),
) -> None:
    """List known zones (countries, US states, balancing authorities, UK regions) and cloud regions."""
    from carbontrail.grid.zones import search as find

    with cli_errors():
        zs, regions = find(search)
        if json_out:
            print_json({"zones": [z.to_dict() for z in zs], "cloud_regions": [r.__dict__ for r in regions]})
            return
        table = Table(title=f"zones{f' matching {search!r}' if search else ''}")
        for col in ("zone", "kind", "name", "offline data", "aliases"):
            table.add_column(col)
        for z in zs:
            table.add_row(z.zone_id, z.kind, z.name, ", ".join(z.data) or f"via {z.parent}", ", ".join(z.aliases))
        err.print(table)
        if regions:
            rt = Table(title="cloud regions")
            for col in ("region", "zone", "location", "source"):
                rt.add_column(col)
            for r in regions:
                rt.add_row(r.key, r.zone, r.location, r.source)
            err.print(rt)


@app.command("show")
def show_command(
    zone: str = typer.Argument(..., help="zone id, alias or cloud region (aws:eu-central-1)"),
    at: str = typer.Option(None, "--at", help="a time (ISO 8601 with zone, POSIX seconds or 'now')"),
    start: str = typer.Option(None, "--from", help="window start"),
    end: str = typer.Option(None, "--to", help="window end"),
    series: str = typer.Option(None, "--series", help="a series file: PATH?unit=g/kWh&time=COL&value=COL"),
    json_out: bool = typer.Option(False, "--json", help="machine-readable output on stdout"),
) -> None:
    """Intensity of ZONE at a time or over a window, with where the number came from."""
    from carbontrail.grid.zones import lookup

    with cli_errors():
        if at is not None and (start is not None or end is not None):
            raise typer.BadParameter("give either --at or --from/--to")
        if (start is None) != (end is None):
            raise typer.BadParameter("--from and --to go together")
        z = lookup(zone).zone_id
        chain, _ = _source(z, series)
        try:
            if start is None:
                t = _time(at or "now", "--at")
                v = chain.latest(z, t)
                if json_out:
                    print_json(
                        {
                            "zone": z,
                            "at": _iso(v.at_s),
                            "intensity_g_per_kwh": v.intensity_g_per_kwh,
                            "provenance": v.provenance.to_dict(),
                        }
                    )
                    return
                err.print(f"{v.intensity_g_per_kwh:.1f} gCO2e/kWh at {_iso(t)}")
                _provenance_lines(v.provenance.to_dict())
                return
            a, b = _time(start, "--from"), _time(end or "", "--to")
            s = chain.history(z, a, b)
        finally:
            chain.close()
        if json_out:
            print_json(_series_json(s))
            return
        vals = s.values_g_per_kwh
        err.print(
            f"{len(s)} intervals of {s.step_s:g} s from {_iso(s.start_s)}: min {vals.min():.1f}, "
            f"mean {vals.mean():.1f}, max {vals.max():.1f} gCO2e/kWh"
            + (f"; {int(s.filled.sum())} interpolated" if s.filled.size and s.filled.any() else "")
        )
        _provenance_lines(s.provenance.to_dict())
        _points_table(s, f"{z} intensity")


@app.command("forecast")
def forecast_command(
    zone: str = typer.Argument(..., help="zone id, alias or cloud region"),
    series: str = typer.Option(None, "--series", help="history file: PATH?unit=g/kWh&time=COL&value=COL"),
    horizon: str = typer.Option("24h", "--horizon", help="how far ahead (e.g. 24h, 2d)"),
    now: str = typer.Option(None, "--now", help="forecast origin (default: now, or the end of the series)"),
    history: str = typer.Option("28d", "--history", help="how much history the forecaster sees"),
    json_out: bool = typer.Option(False, "--json", help="machine-readable output on stdout"),
) -> None:
    """Forecast ZONE's intensity: the provider's forecast when a live one is configured, else the
    carbontrail forecaster over the zone's series (bundled or --series)."""
    from carbontrail.grid.zones import lookup
    from carbontrail.units import parse_duration_s

    with cli_errors():
        z = lookup(zone).zone_id
        horizon_s = parse_duration_s(horizon)
        history_s = parse_duration_s(history)
        chain, src = _source(z, series)
        try:
            fc = None
            t_now = _time(now, "--now") if now else time.time()
            live = [s for s in chain.sources if s.live and s.supports_forecast]
            if live:
                from carbontrail.grid.sources import FallbackChain

                try:
                    fc = FallbackChain(live).forecast(z, t_now, horizon_s)
                except GridError as exc:
                    err.print(f"[yellow]live forecast unavailable, using the forecaster:[/yellow] {exc}")
            if fc is None:
                try:
                    from carbontrail.grid.forecast import forecast_series
                except ImportError as exc:  # pragma: no cover - depends on the branch state
                    raise GridError("the forecaster (carbontrail.grid.forecast) is not installed") from exc
                full = src.series_for(z)
                if now is None and t_now > full.end_s:
                    t_now = full.end_s
                    err.print(f"note: the {z} series ends {_iso(full.end_s)}; forecasting from there (--now to change)")
                a = max(full.start_s, t_now - history_s)
                if not full.start_s < t_now <= full.end_s:
                    raise GridError(
                        f"--now {_iso(t_now)} is outside the {z} series ({_iso(full.start_s)} to {_iso(full.end_s)})"
                    )
                fc = forecast_series(full.window(a, t_now), t_now, horizon_s)
        finally:
            chain.close()
        if json_out:
            print_json(_series_json(fc))
            return
        err.print(f"{z} forecast from {_iso(t_now)} for {horizon}")
        _provenance_lines(fc.provenance.to_dict())
        _points_table(fc, f"{z} forecast")


@app.command("past-forecasts")
def past_forecasts_command(
    zone: str = typer.Argument(..., help="zone id, alias or cloud region (a WattTime region)"),
    start: str = typer.Option(..., "--from", help="first generation time (ISO 8601 with a zone)"),
    end: str = typer.Option(..., "--to", help="last generation time (ISO 8601 with a zone)"),
    out: str = typer.Option(..., "--out", help="archive file to write (JSON lines)"),
) -> None:
    """Download the forecasts WattTime made between two times into an archive, for honest back-tests
    (`schedule plan --archive`, `bench/scheduling.py --archive`). Needs WattTime in grid_providers."""
    from carbontrail.grid.archive import ForecastArchive
    from carbontrail.grid.attribute import live_sources
    from carbontrail.grid.zones import lookup

    with cli_errors():
        z = lookup(zone).zone_id
        a, b = _time(start, "--from"), _time(end, "--to")
        sources = [s for s in live_sources(settings(), retries=3) if hasattr(s, "past_forecasts")]
        if not sources:
            raise GridError("past forecasts come from WattTime: add 'watttime' to grid_providers with its credentials")
        runs = sources[0].past_forecasts(z, a, b)
        ForecastArchive(runs).save(out)
        err.print(f"{len(runs)} {z} forecasts generated {_iso(a)} to {_iso(b)} written to {out}")
