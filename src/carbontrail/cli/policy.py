"""``carbontrail policy check|test|activate``: declarative deployment policies."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from carbontrail.cli.common import EXIT_POLICY_DENIED, cli_errors, err, print_json

app = typer.Typer(help="Deployment policies (YAML + CEL): check, test, activate.", no_args_is_help=True)


@app.command("check")
def check(
    path: Path = typer.Argument(..., help="policy YAML file"),
    input_file: Path = typer.Option(None, "--input", help="evaluate this JSON/YAML input too"),
    backend: str = typer.Option("auto", "--backend", help="cel | celpy | auto"),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Load and compile a policy (errors name file, line and rule); optionally evaluate an input
    (exit 5 when the outcome is not `allow`)."""
    from carbontrail.policy import Policy

    with cli_errors():
        pol = Policy.load(path, backend=backend)
        if input_file is None:
            info = {
                "policy": pol.policy_id,
                "version": pol.version,
                "digest": pol.digest,
                "rules": [{"id": r.rule_id, "severity": r.severity} for r in pol.rules],
                "variables": [n for n, _s, _p in pol.variables],
                "inputs": [p for p, _ in pol.input_paths],
            }
            if json_out:
                print_json(info)
            else:
                err.print(
                    f"[green]ok[/green] {pol.policy_id} v{pol.version}: {len(pol.rules)} rules, "
                    f"digest {pol.digest[:16]}..."
                )
            return
        import yaml

        data = yaml.safe_load(input_file.read_text())
        d = pol.evaluate(data if data is not None else {})
        if json_out:
            print_json(d.to_dict())
        else:
            _print_decision(d.to_dict())
        if d.outcome != "allow":
            raise typer.Exit(EXIT_POLICY_DENIED)


def _print_decision(d: dict) -> None:  # type: ignore[type-arg]
    colour = {"allow": "green", "needs-approval": "yellow", "veto": "red"}[d["outcome"]]
    err.print(
        f"outcome: [{colour}]{d['outcome']}[/{colour}]  policy {d['policy_id']} v{d['policy_version']} "
        f"({d['policy_digest'][:12]}), input {d['input_digest'][:12]}"
    )
    t = Table()
    for c in ("rule", "severity", "status", "message"):
        t.add_column(c)
    for r in d["rules"]:
        t.add_row(r["rule_id"], r["severity"], r["status"], r["message"] or "")
    err.print(t)


@app.command("test")
def test(
    path: Path = typer.Argument(..., help="a policy file, its .tests.yaml, or a folder"),
    backend: str = typer.Option("auto", "--backend"),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Run the YAML test cases beside a policy (exit 1 if any case fails)."""
    from carbontrail.policy import find_test_files, run_cases

    with cli_errors():
        files = find_test_files(path)
        if not files:
            err.print(f"[red]no *.tests.yaml found for {path}[/red]")
            raise typer.Exit(1)
        report = []
        failed = 0
        for f in files:
            _pol, results = run_cases(f, backend=backend)
            for r in results:
                failed += not r.ok
                report.append(
                    {
                        "file": str(f),
                        "line": r.line,
                        "case": r.name,
                        "ok": r.ok,
                        "expected": r.expected,
                        "got": r.got,
                        "mismatches": r.mismatches,
                    }
                )
                if not json_out:
                    mark = "[green]PASS[/green]" if r.ok else "[red]FAIL[/red]"
                    err.print(f"{mark} {f}:{r.line} {r.name}" + ("" if r.ok else f"  ({'; '.join(r.mismatches)})"))
        if json_out:
            print_json(report)
        else:
            err.print(f"{len(report) - failed} passed, {failed} failed")
        if failed:
            raise typer.Exit(1)


@app.command("activate")
def activate(
    path: Path = typer.Argument(..., help="policy YAML file"),
    actor: str = typer.Option(..., "--as", envvar="CARBONTRAIL_USER", help="who you are (an admin)"),
) -> None:
    """Record a policy as the active one (admin only); appended to the audit chain."""
    from carbontrail.cli.deploy import open_gate

    with cli_errors():
        gate = open_gate(path, ())
        gate.activate_policy(by=actor)
        err.print(f"activated {gate.policy.policy_id} v{gate.policy.version} ({gate.policy.digest[:16]}...)")
