"""Entry point of the ``carbontrail`` command: one sub-command per noun."""

from __future__ import annotations

import typer

from carbontrail.cli import audit as gov_audit
from carbontrail.cli import db, grid, hpo, report, schedule, serve, spans, track
from carbontrail.cli import deploy as gov_deploy
from carbontrail.cli import policy as gov_policy
from carbontrail.cli import registry as gov_registry

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
app.command("meters")(__import__("carbontrail.cli.meters", fromlist=["meters"]).meters)
app.add_typer(grid.app, name="grid")
app.add_typer(report.app, name="report")
app.add_typer(serve.app, name="serve")
app.add_typer(schedule.app, name="schedule")
app.command("run")(schedule.run_command)
app.command("worker")(schedule.worker_command)
app.add_typer(hpo.app, name="hpo")
app.add_typer(gov_registry.app, name="registry")
app.add_typer(gov_deploy.app, name="deploy")
app.add_typer(gov_policy.app, name="policy")
app.add_typer(gov_audit.app, name="audit")


def main() -> None:
    app()
