"""``carbontrail audit verify|export|checkpoint|list``: the tamper-evident audit chain."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from carbontrail.cli.common import cli_errors, err, open_ledger, print_json, settings

app = typer.Typer(help="Tamper-evident audit chain: verify, export with proofs, checkpoint.", no_args_is_help=True)

KEY_OPT = typer.Option(
    None,
    "--key",
    envvar="CARBONTRAIL_AUDIT_KEY",
    help="Ed25519 private key (PEM) signing checkpoints; default <home>/audit_ed25519.pem",
)


def open_audit(key: str | None = None, *, create_key: bool = True) -> Any:
    """The project's :class:`AuditLog` with its signing key (created 0600 on first use)."""
    from carbontrail.audit import AuditLog, load_or_create_key
    from carbontrail.audit.keys import KEY_FILE

    s = settings()
    ledger = open_ledger(s)
    path = Path(key) if key else s.home / KEY_FILE
    signing = load_or_create_key(path, create=create_key or bool(key)) if (create_key or path.exists()) else None
    return AuditLog(ledger, signing_key=signing)


@app.command("verify")
def verify(
    key: str = KEY_OPT,
    trusted_key: str = typer.Option(None, "--trusted-public-key", help="hex Ed25519 public key to trust"),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Recompute every entry hash and checkpoint; name the first tampered entry (exit 1 if any)."""
    with cli_errors():
        log = open_audit(key, create_key=False)
        rep = log.verify(trusted_key=trusted_key)
        if json_out:
            print_json(rep.to_dict())
        elif rep.ok:
            err.print(
                f"[green]audit chain intact[/green]: {rep.entries} entries, {rep.checkpoints} signed "
                f"checkpoints, key {str(rep.trusted_key)[:16]}..."
            )
        else:
            err.print(f"[red]audit chain does NOT verify[/red]; first bad entry: {rep.first_bad_seq}")
            for p in rep.problems:
                err.print(f"  - {p}")
        if not rep.ok:
            raise typer.Exit(1)


@app.command("export")
def export(
    seq: int = typer.Argument(..., help="entry sequence number"),
    key: str = KEY_OPT,
    out: Path = typer.Option(None, "--out", help="write the bundle here instead of stdout"),
) -> None:
    """An entry with its Merkle inclusion proof and signed checkpoint (verifies standalone)."""
    with cli_errors():
        bundle = open_audit(key, create_key=False).export(seq)
        if out:
            out.write_text(json.dumps(bundle, indent=2))
            err.print(f"wrote {out}")
        else:
            print_json(bundle)


@app.command("verify-export")
def verify_export_cmd(
    bundle: Path = typer.Argument(..., exists=True, dir_okay=False),
    trusted_key: str = typer.Option(None, "--trusted-public-key"),
) -> None:
    """Check an exported bundle without the ledger."""
    from carbontrail.audit import verify_export

    with cli_errors():
        try:
            data = json.loads(bundle.read_text())
        except json.JSONDecodeError as exc:
            err.print(f"[red]not JSON:[/red] {exc}")
            raise typer.Exit(1) from exc
        verify_export(data, trusted_key=trusted_key)
        err.print(f"[green]entry {data['entry']['seq']} is in checkpoint {data['checkpoint']['tree_size']}[/green]")


@app.command("checkpoint")
def checkpoint(key: str = KEY_OPT, json_out: bool = typer.Option(False, "--json")) -> None:
    """Sign a checkpoint over every entry so far."""
    with cli_errors():
        cp = open_audit(key).checkpoint()
        if json_out:
            print_json(cp.to_dict() if cp else None)
        else:
            err.print(
                "empty chain: nothing to sign"
                if cp is None
                else f"checkpoint at {cp.tree_size} entries, root {cp.root[:16]}..., key {cp.public_key[:16]}..."
            )


@app.command("list")
def list_entries(
    kind: str = typer.Option(None, "--kind"),
    since: int = typer.Option(0, "--since"),
    limit: int = typer.Option(50, "--limit"),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Entries in order."""
    with cli_errors():
        rows = open_audit(None, create_key=False).entries(kind=kind, since_seq=since, limit=limit)
        if json_out:
            print_json([e.to_dict() for e in rows])
            return
        t = Table(title=f"{len(rows)} audit entries")
        for c in ("seq", "kind", "at (UTC)", "hash", "payload"):
            t.add_column(c)
        for e in rows:
            t.add_row(str(e.seq), e.kind, e.at.strftime("%Y-%m-%d %H:%M:%S"), e.hash[:12], json.dumps(e.payload)[:80])
        err.print(t)


@app.command("prove-consistency")
def prove_consistency(
    old_size: int = typer.Argument(..., help="tree size of the checkpoint you kept"),
    new_size: int = typer.Argument(None, help="a later checkpoint (default: the latest)"),
    old_root: str = typer.Option(None, "--old-root", help="the root you kept: checked too"),
    trusted_key: str = typer.Option(None, "--trusted-public-key"),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Prove that a later signed checkpoint extends one you kept (RFC 6962 consistency proof)."""
    from carbontrail.audit import verify_consistency_bundle

    with cli_errors():
        bundle = open_audit(None, create_key=False).prove_consistency(old_size, new_size)
        verify_consistency_bundle(bundle, old_root=old_root, trusted_key=trusted_key)
        if json_out:
            print_json(bundle)
        else:
            err.print(
                f"[green]checkpoint {bundle['new']['tree_size']} extends checkpoint {old_size}[/green] "
                f"({len(bundle['consistency_proof'])} proof hashes)"
            )
