"""Entry point of the ``carbontrail`` command: one sub-command per noun."""

from __future__ import annotations

import typer

from carbontrail.cli import (
    audit,
    db,
    deploy,
    grid,
    hpo,
    meters,
    policy,
    registry,
    report,
    schedule,
    serve,
    spans,
    track,
)

app = typer.Typer(
    name="carbontrail",
    help="Measure, attribute, shift, budget, govern and report the carbon of ML pipelines.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(db.app, name="db")
app.command("track", context_settings={"allow_extra_args": False})(track.track_command)
app.add_typer(spans.app, name="spans")
app.command("meters")(meters.meters)
app.add_typer(grid.app, name="grid")
app.add_typer(schedule.app, name="schedule")
app.command("run")(schedule.run_command)
app.command("worker")(schedule.worker_command)
app.add_typer(hpo.app, name="hpo")
app.add_typer(registry.app, name="registry")
app.add_typer(deploy.app, name="deploy")
app.add_typer(policy.app, name="policy")
app.add_typer(audit.app, name="audit")
app.add_typer(report.app, name="report")
app.add_typer(serve.app, name="serve")


def main() -> None:
    app()
