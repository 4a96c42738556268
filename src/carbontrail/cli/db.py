"""``carbontrail db``: ledger schema management."""

from __future__ import annotations

import typer

from carbontrail.cli.common import cli_errors, err, settings

app = typer.Typer(help="Ledger database: schema upgrades.", no_args_is_help=True)


@app.command("upgrade")
def upgrade(url: str = typer.Option(None, "--url", help="ledger URL (default: settings)")) -> None:
    """Apply every pending migration (all areas) to the ledger database."""
    from carbontrail.ledger import Ledger

    with cli_errors():
        ledger = Ledger.open(url or settings().resolved_ledger_url, upgrade=False)
        heads = ledger.upgrade()
        err.print(f"ledger {ledger.safe_url} at {', '.join(heads)}")
