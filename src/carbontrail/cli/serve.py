"""``carbontrail serve``: run the service (API, dashboard, /metrics); ``serve token ...``: API tokens."""

from __future__ import annotations

import typer

from carbontrail.cli.common import cli_errors, err, open_ledger, print_json, settings

app = typer.Typer(help="Run the carbontrail service and manage its API tokens.", invoke_without_command=True)
token_app = typer.Typer(help="API tokens (stored hashed in the ledger).", no_args_is_help=True)
app.add_typer(token_app, name="token")


@app.callback()
def serve(
    ctx: typer.Context,
    host: str = typer.Option("127.0.0.1", "--host", help="interface to listen on"),
    port: int = typer.Option(8520, "--port", help="TCP port"),
    url: str = typer.Option(None, "--url", help="ledger URL (default: settings)"),
    log_level: str = typer.Option("info", "--log-level"),
) -> None:
    """Serve the REST API, the dashboard (/ui) and Prometheus metrics (/metrics)."""
    if ctx.invoked_subcommand is not None:
        return
    with cli_errors():
        try:
            import uvicorn
        except ImportError as exc:
            err.print(
                "[red]error:[/red] the service needs the server extra: pip install 'carbontrail[server]'"
            )
            raise typer.Exit(1) from exc
        from carbontrail.server import create_app

        s = settings(ledger_url=url)
        application = create_app(s)
        err.print(f"carbontrail dashboard: http://{host}:{port}/ui/  (API docs: http://{host}:{port}/docs)")
        uvicorn.run(application, host=host, port=port, log_level=log_level)


@token_app.command("create")
def token_create(
    role: str = typer.Option(..., "--role", help="ingest, viewer, submitter, committee or admin"),
    name: str = typer.Option(None, "--name", help="who or what holds the token (default: the role)"),
    url: str = typer.Option(None, "--url", help="ledger URL (default: settings)"),
    as_json: bool = typer.Option(False, "--json", help="print JSON on stdout"),
) -> None:
    """Create an API token; it is printed once (only its hash is stored)."""
    from carbontrail.server.auth import TokenStore

    with cli_errors():
        led = open_ledger(settings(ledger_url=url))
        token, p = TokenStore(led).create(name or role, role)
        if as_json:
            print_json({"token": token, "token_id": p.token_id, "name": p.name, "role": p.role})
        else:
            err.print(f"token {p.token_id} ({p.role}) created; it is shown only now:")
            typer.echo(token)


@token_app.command("list")
def token_list(url: str = typer.Option(None, "--url"), as_json: bool = typer.Option(False, "--json")) -> None:
    """List tokens (without secrets)."""
    from rich.table import Table

    from carbontrail.server.auth import TokenStore

    with cli_errors():
        rows = TokenStore(open_ledger(settings(ledger_url=url))).list()
        if as_json:
            print_json(rows)
            return
        t = Table("token_id", "name", "role", "created_at", "revoked_at")
        for r in rows:
            t.add_row(r["token_id"], r["name"], r["role"], str(r["created_at"]), str(r["revoked_at"] or ""))
        err.print(t)


@token_app.command("revoke")
def token_revoke(token_id: str, url: str = typer.Option(None, "--url")) -> None:
    """Revoke a token by id."""
    from carbontrail.server.auth import TokenStore

    with cli_errors():
        if not TokenStore(open_ledger(settings(ledger_url=url))).revoke(token_id):
            err.print(f"[red]error:[/red] no active token {token_id}")
            raise typer.Exit(1)
        err.print(f"token {token_id} revoked")
