"""Entry point of the ``carbontrail`` command: one sub-command per noun."""

from __future__ import annotations

import typer

from carbontrail.cli import db, grid, hpo, schedule, spans, track

app = typer.Typer(
    name="carbontrail",
    help="Measure, attribute, shift, budget, govern and report the carbon of ML pipelines.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(db.app, name="db")
# Each area registers its commands here (one line each).
app.command("track", context_settings={"allow_extra_args": False})(track.track_command)
app.add_typer(spans.app, name="spans")
app.add_typer(grid.app, name="grid")
app.add_typer(schedule.app, name="schedule")
app.command("run")(schedule.run_command)
app.command("worker")(schedule.worker_command)
app.command("meters")(__import__("carbontrail.cli.meters", fromlist=["meters"]).meters)
app.add_typer(hpo.app, name="hpo")


def main() -> None:
    app()
