"""``carbontrail spans list|show``: what the ledger holds."""

from __future__ import annotations

import typer
from rich.table import Table

from carbontrail.cli.common import cli_errors, err, open_ledger, print_json, settings
from carbontrail.units import j_to_kwh

app = typer.Typer(help="Recorded spans: list and inspect.", no_args_is_help=True)


def _ledger_with_orphans():  # type: ignore[no-untyped-def]
    from carbontrail.ledger.journal import ingest_orphans

    s = settings()
    ledger = open_ledger(s)
    ingest_orphans(ledger, s.journal_dir, _attributor(s, ledger))
    return ledger


def _attributor(s, ledger):  # type: ignore[no-untyped-def]
    from carbontrail.grid.attribute import make_attributor

    return make_attributor(s, ledger)


def _energy(j: float) -> str:
    return f"{j:,.1f} J" if j < 3600 else f"{j_to_kwh(j) * 1000:,.2f} Wh"


@app.command("list")
def list_spans(
    kind: str = typer.Option(None, "--kind"),
    run: str = typer.Option(None, "--run"),
    model: str = typer.Option(None, "--model"),
    team: str = typer.Option(None, "--team"),
    limit: int = typer.Option(50, "--limit"),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Newest spans first, with energy, method, emissions and the factor's source."""
    with cli_errors():
        ledger = _ledger_with_orphans()
        rows = ledger.spans(kind=kind, run_id=run, model=model, team=team, limit=limit, newest_first=True)
        if json_out:
            print_json([r.to_dict() for r in rows])
            return
        t = Table(title=f"{len(rows)} spans")
        for col in ("id", "name", "kind", "status", "started (UTC)", "s", "energy", "method", "gCO2e", "factor"):
            t.add_column(col)
        for r in rows:
            prov = r.provenance or {}
            factor = (
                f"{r.intensity_g_per_kwh:.0f} g/kWh {prov.get('zone', '')} {prov.get('source', '')} "
                f"{prov.get('vintage', '')}"
                if r.intensity_g_per_kwh is not None
                else "-"
            )
            t.add_row(
                r.span_id[:8],
                ("  " if r.parent_id else "") + r.name,
                r.kind,
                r.status,
                r.started_at.strftime("%Y-%m-%d %H:%M:%S"),
                f"{r.duration_s:.2f}",
                _energy(r.energy_j),
                ",".join(r.methods),
                "-" if r.emissions_g is None else f"{r.emissions_g:.3f}",
                factor,
            )
        err.print(t)


@app.command("show")
def show(span_id: str, json_out: bool = typer.Option(False, "--json")) -> None:
    """One span with its components, buckets and provenance."""
    with cli_errors():
        r = _ledger_with_orphans().span(span_id)
        if json_out:
            print_json(r.to_dict())
            return
        err.print(f"[bold]{r.name}[/bold] ({r.kind}, {r.status}) span {r.span_id} run {r.run_id}")
        err.print(f"  {r.started_at.isoformat()} -> {r.ended_at.isoformat()} ({r.duration_s:.3f} s)")
        err.print(f"  energy {_energy(r.energy_j)} ± {_energy(r.uncertainty_j)}  attribution {r.attribution}")
        t = Table("component", "energy_j", "method", "±", "detail")
        for c in r.components:
            t.add_row(c.component, f"{c.energy_j:.3f}", c.method, f"{c.uncertainty_rel:.0%}", str(c.detail))
        err.print(t)
        if r.provenance:
            err.print("  provenance:")
            for k, v in r.provenance.items():
                err.print(f"    {k}: {v}")
        if r.error:
            err.print(f"  error: {r.error}")
