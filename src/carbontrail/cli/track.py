"""``carbontrail track -- CMD``: run a command and record the span of its whole process tree."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import typer

from carbontrail.cli.common import cli_errors, err, print_json, settings
from carbontrail.span import KINDS


def _parse_tags(tags: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for t in tags:
        if "=" not in t:
            raise typer.BadParameter(f"--tag expects key=value, got {t!r}")
        k, v = t.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def _tree_cpu_s(proc: object) -> float:
    """CPU seconds of a live process and its descendants (0 if it is gone)."""
    import psutil

    try:
        p = psutil.Process(proc.pid)  # type: ignore[attr-defined]
        total = sum(p.cpu_times()[:2])
        for c in p.children(recursive=True):
            try:
                total += sum(c.cpu_times()[:2])
            except psutil.Error:
                pass
        return total
    except psutil.Error:
        return 0.0


def track_command(
    cmd: list[str] = typer.Argument(..., help="the command to run, after --"),
    name: str = typer.Option(None, "--name", help="span name (default: the command)"),
    kind: str = typer.Option("other", "--kind", help=f"one of {', '.join(KINDS)}"),
    tag: list[str] = typer.Option([], "--tag", help="label key=value (repeatable)"),
    pipeline: str = typer.Option(None, "--pipeline"),
    model: str = typer.Option(None, "--model"),
    team: str = typer.Option(None, "--team"),
    zone: str = typer.Option(None, "--zone", help="grid zone where the work runs"),
    json_out: bool = typer.Option(False, "--json", help="print the span as JSON on stdout"),
) -> None:
    """Run CMD, record its energy as one span, and exit with its exit code.

    SIGINT and SIGTERM are forwarded to the command; a command killed by a signal is still
    recorded (status ``killed``) with its energy so far.
    """
    from carbontrail.meter.track import Tracker

    if kind not in KINDS:
        raise typer.BadParameter(f"--kind must be one of {', '.join(KINDS)}")
    with cli_errors():
        s = settings(zone=zone)
        tracker = Tracker(s)
        span = tracker.start(
            name or " ".join(cmd)[:200], kind=kind, zone=zone, pipeline=pipeline, model=model, team=team,
            tags=_parse_tags(tag) or None,
        ).activate()
        try:
            child = subprocess.Popen(cmd, env={**os.environ, **span.env()})
        except OSError as exc:
            span.stop(status="failed", error=f"{type(exc).__name__}: {exc}")
            tracker.close()
            err.print(f"[red]error:[/red] cannot run {cmd[0]!r}: {exc}")
            raise typer.Exit(127) from exc

        def forward(signum: int, _frame: object) -> None:
            try:
                child.send_signal(signum)
            except ProcessLookupError:
                pass

        old = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
        profile: list[tuple[float, float]] = []
        work = 0.0
        try:
            while True:
                try:
                    child.wait(timeout=1.0)
                    break
                except subprocess.TimeoutExpired:
                    work = max(work, _tree_cpu_s(child))
                    profile.append((time.time(), work))
        finally:
            for sig, handler in old.items():
                signal.signal(sig, handler)
        rc = child.returncode
        status = "ok" if rc == 0 else ("killed" if rc < 0 else "failed")
        error = None
        if rc < 0:
            error = f"killed by {signal.Signals(-rc).name}"
        elif rc > 0:
            error = f"exit code {rc}"
        record = span.stop(status=status, error=error, profile=profile or None)
        tracker.close()
        # spans the command's own processes left in their journals (e.g. flushed too late at exit)
        from carbontrail.ledger.journal import ingest_orphans

        try:
            ingest_orphans(tracker.ledger, s.journal_dir, tracker._attributor())
        except Exception as exc:  # the journals stay for the next command
            err.print(f"[yellow]warning:[/yellow] journals left for later ingestion: {exc}")
        if json_out:
            print_json(record.to_dict())
        else:
            err.print(
                f"[bold]{record.name}[/bold] {status} in {record.duration_s:.2f} s: "
                f"{record.energy_j:.1f} J ({', '.join(record.methods)})"
            )
    raise typer.Exit(rc if rc >= 0 else 128 - rc)
