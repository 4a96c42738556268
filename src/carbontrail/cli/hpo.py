"""``carbontrail hpo``: run a study under a quota from a YAML file, show or stop a study."""

from __future__ import annotations

import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer

from carbontrail.cli.common import cli_errors, err, print_json, settings

app = typer.Typer(help="Hyperparameter search under energy and carbon quotas.", no_args_is_help=True)


def _ledger(url: str | None) -> Any:
    from carbontrail.ledger import Ledger

    return Ledger.open(url) if url else Ledger.open(settings=settings())


def _progress(account: Any, done: threading.Event) -> None:
    from rich.progress import BarColumn, Progress, TextColumn

    st = account.state()
    unit = st.quota.unit
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.fields[text]}"),
                  console=err, transient=False) as bar:
        task = bar.add_task(f"{account.study_name} energy", total=st.quota.limit, text="")
        while True:
            st = account.state()
            c = st.counts
            bar.update(task, completed=min(st.spent, st.quota.limit),
                       text=f"{st.spent:.4g}/{st.quota.limit:.4g} {unit} spent, {st.reserved:.3g} "
                            f"reserved | {c['COMPLETE']} done {c['PRUNED'] + c['QUOTA']} pruned "
                            f"{c['FAIL']} failed {c['CACHED']} cached")
            if done.wait(0.5):
                st = account.state()
                bar.update(task, completed=min(st.spent, st.quota.limit))
                return


def _carbon_timing(cfg: Any) -> Any:
    """The study file's carbon-aware timing, planned on the scheduler's forecasts for its zone (a live
    provider's forecast, else the built-in forecaster over the zone's history)."""
    if cfg.carbon_aware is None:
        return None
    from carbontrail.schedule.signals import ForecastSource

    return cfg.carbon_timing(forecast=ForecastSource([cfg.carbon_aware["zone"]], settings=settings()))


@app.command("run")
def run(
    config: Path = typer.Argument(..., help="YAML study file (objective, space, quota, n_workers, storage)"),
    json_out: bool = typer.Option(False, "--json", help="print the result as JSON on stdout"),
    no_progress: bool = typer.Option(False, "--no-progress", help="no progress bar"),
) -> None:
    """Run (or resume) a study under its quota; prints the final account."""
    with cli_errors():
        from carbontrail.hpo import QuotaAccount, load_objective, optimize
        from carbontrail.hpo.config import HpoConfig
        from carbontrail.hpo.quota import Quota

        cfg = HpoConfig.load(config)
        sys.path.insert(0, str(cfg.base_dir))
        led = _ledger(cfg.ledger)
        study_name = cfg.study_name or config.stem
        QuotaAccount.open(led, study_name, Quota.parse(cfg.quota, intensity_g_per_kwh=cfg.intensity_g_per_kwh),
                          now=datetime.now(UTC))
        done = threading.Event()
        bar = None
        if not no_progress:
            bar = threading.Thread(target=_progress, args=(QuotaAccount(led, study_name), done), daemon=True)
            bar.start()
        client = cluster = None
        try:
            if cfg.dask:
                from dask.distributed import Client, LocalCluster

                if cfg.dask == "local":
                    cluster = LocalCluster(n_workers=cfg.n_workers, threads_per_worker=1, processes=True,
                                           dashboard_address=None)
                    client = Client(cluster)
                else:
                    client = Client(cfg.dask, timeout=30)
            res = optimize(
                cfg.objective, cfg.space, quota=cfg.quota, study_name=study_name, storage=cfg.storage,
                ledger=led, direction=cfg.direction, n_trials=cfg.n_trials, n_workers=cfg.n_workers,
                sampler=cfg.sampler, intensity_g_per_kwh=cfg.intensity_g_per_kwh, seed=cfg.seed,
                timeout_s=cfg.timeout_s, stale_after_s=cfg.stale_after_s,
                heartbeat_interval_s=cfg.heartbeat_interval_s, quantile=cfg.quantile,
                warm_start_from=cfg.warm_start_from, initial_reservation_j=cfg.initial_reservation_j,
                tags=cfg.tags, dask_client=client,
                measure=load_objective(cfg.measure)() if cfg.measure else None,
                carbon_aware=_carbon_timing(cfg),
            )
        finally:
            done.set()
            if bar is not None:
                bar.join(timeout=5)
            if client is not None:
                client.close()
            if cluster is not None:
                cluster.close()
        if json_out:
            print_json(res.to_dict())
        else:
            _print_account(res.account.to_dict())
            err.print(f"best value {res.best_value} with {res.best_params}")
        led.close()


def _print_account(d: dict[str, Any]) -> None:
    from rich.table import Table

    t = Table(title=f"study {d['study_name']}")
    t.add_column("field")
    t.add_column("value", justify="right")
    unit = d["unit"]
    rows = [
        ("quota", f"{d['limit']:.6g} {unit}"),
        ("spent", f"{d['spent_j']:.6g} J, {d['spent_g']:.6g} gCO2e"),
        ("spent / quota", f"{d['fraction_spent']:.1%}"),
        ("sampler", f"{d['sampler_j']:.4g} J"),
        ("reserved (running)", f"{d['reserved_j']:.4g} J in {d['n_open']} trials"),
        ("overshoot", f"{d['overshoot']:.4g} {unit}"),
        ("status", d["status"]),
    ] + [(f"trials {k.lower()}", str(v)) for k, v in d["counts"].items()]
    for k, v in rows:
        t.add_row(k, v)
    err.print(t)


@app.command("status")
def status(
    study: str = typer.Argument(..., help="study name"),
    ledger: str = typer.Option(None, "--ledger", help="ledger URL (default: the settings' ledger)"),
    json_out: bool = typer.Option(False, "--json", help="JSON on stdout"),
) -> None:
    """Show a study's quota account: spent, reserved, trials by state, overshoot."""
    with cli_errors():
        from carbontrail.hpo import QuotaAccount

        led = _ledger(ledger)
        d = QuotaAccount(led, study).state().to_dict()
        d["open_reservations"] = QuotaAccount(led, study).open_reservations()
        led.close()
        if json_out:
            print_json(d)
        else:
            _print_account(d)


@app.command("stop")
def stop(
    study: str = typer.Argument(..., help="study name"),
    ledger: str = typer.Option(None, "--ledger", help="ledger URL (default: the settings' ledger)"),
) -> None:
    """Stop a study: workers start no new trial and exit once their running trials end."""
    with cli_errors():
        from carbontrail.hpo import QuotaAccount

        led = _ledger(ledger)
        QuotaAccount(led, study).set_status("stopped", now=datetime.now(UTC))
        led.close()
        err.print(f"study {study} stopped; `carbontrail hpo run` on its file resumes it")
