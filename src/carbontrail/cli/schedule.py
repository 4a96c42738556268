"""``carbontrail schedule plan|submit|jobs|plans``, ``carbontrail run`` and ``carbontrail worker``."""

from __future__ import annotations

import logging
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import typer

from carbontrail.cli.common import cli_errors, err, open_ledger, print_json, settings
from carbontrail.errors import CarbontrailError, ConfigError

if TYPE_CHECKING:
    from carbontrail.schedule.plan import Objective

app = typer.Typer(help="Plan deferrable work into low-carbon windows; queue it for workers.", no_args_is_help=True)

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------
# parsing helpers
# ---------------------------------------------------------------------------------------------


def parse_time(text: str, *, now: datetime) -> datetime:
    """``2024-03-01T06:00Z`` / ``+8h`` / ``06:00`` (next occurrence, UTC) to a tz-aware UTC datetime."""
    from carbontrail.units import parse_duration_s

    t = text.strip()
    if t.lower() == "now":
        return now
    if t.startswith("+"):
        return now + timedelta(seconds=parse_duration_s(t[1:]))
    m = re.fullmatch(r"(\d{1,2}):(\d{2})", t)
    if m:
        cand = now.replace(hour=int(m.group(1)), minute=int(m.group(2)), second=0, microsecond=0)
        return cand if cand > now else cand + timedelta(days=1)
    try:
        dt = datetime.fromisoformat(t.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ConfigError(f"cannot read time {text!r}: use ISO 8601 with a timezone, +DURATION or HH:MM") from exc
    if dt.tzinfo is None:
        raise ConfigError(f"time {text!r} has no timezone; add Z or +HH:MM")
    return dt.astimezone(UTC)


def _series_from_file(path: str, column: str | None, time_column: str, unit: str, zone: str | None) -> Any:
    from carbontrail.grid.loaders import load_series_csv

    p = Path(path)
    value_col = column
    if value_col is None:
        import csv

        try:
            with open(p, newline="") as fh:
                header = next(csv.reader(fh))
        except (OSError, StopIteration) as exc:
            raise ConfigError(f"cannot read series file {p}: {exc}") from exc
        others = [h for h in header if h != time_column]
        if len(others) != 1:
            raise ConfigError(f"{p} has columns {header}; say which holds the intensity with --column")
        value_col = others[0]
    return load_series_csv(p, time_column=time_column, value_column=value_col, unit=unit, zone=zone or p.stem)


def _source(
    *,
    zones: list[str],
    series_files: list[str],
    column: str | None,
    time_column: str,
    unit: str,
    forecast: str,
    objective: str,
    archive: str | None = None,
) -> tuple[Any, list[str]]:
    """The forecast source and the candidate zones.

    With ``--series`` each file (one per zone, the zone named by ``--zone`` for a single file, else
    by the file's stem) is the forecast (``series``) or the history the built-in forecaster reads
    (``blend``); with ``--zone`` only, a live provider's forecast when one is configured, else
    the forecaster over the zone's history; ``--forecast series`` with ``--zone`` plans against the
    zone's recorded series as if it were a perfect forecast (what-if).
    """
    from carbontrail.schedule.signals import ForecastSource

    if forecast not in ("series", "blend"):
        raise ConfigError("--forecast must be 'series' or 'blend'")
    _objective(objective)
    if archive is not None:
        from carbontrail.grid.archive import ForecastArchive

        past = ForecastArchive.load(archive)
        zs = list(zones) or past.zones()
        return ForecastSource(zs, settings=settings(), objective=objective, archive=past), zs
    if series_files:
        if len(series_files) > 1 and zones:
            raise ConfigError("with several --series files the zones are the file names; leave out --zone")
        given = {}
        for f in series_files:
            s = _series_from_file(f, column, time_column, unit, zones[0] if zones else None)
            given[s.provenance.zone] = s
        zs = list(given)
        if forecast == "series":
            return ForecastSource(zs, settings=settings(), objective=objective, forecasts=given), zs
        return ForecastSource(zs, settings=settings(), objective=objective, history=given), zs
    if not zones:
        raise ConfigError("give --zone ZONE or --series FILE.csv")
    if forecast == "series":
        from carbontrail.grid.bundled import load_series

        recorded = {z: load_series(z) for z in zones}
        return ForecastSource(zones, forecasts=recorded, objective=objective), list(zones)
    return ForecastSource(zones, settings=settings(), objective=objective), list(zones)


def _objective(text: str) -> Objective:
    if text not in ("emissions", "renewable"):
        raise ConfigError("--objective must be 'emissions' or 'renewable'")
    return cast("Objective", text)


def _job(
    *,
    duration: str,
    earliest: datetime,
    deadline: datetime,
    interruptible: bool,
    min_chunk: str | None,
    max_pauses: int | None,
    overhead: str,
    zones: list[str],
    power: str,
    name: str,
) -> Any:
    from carbontrail.schedule.plan import Interruptible, Job
    from carbontrail.units import parse_duration_s, parse_power_w

    it = None
    if interruptible:
        it = Interruptible(
            min_chunk_s=parse_duration_s(min_chunk) if min_chunk else 0.0,
            max_pauses=max_pauses,
            checkpoint_overhead_s=parse_duration_s(overhead),
        )
    elif min_chunk or max_pauses is not None:
        raise ConfigError("--min-chunk and --max-pauses need --interruptible")
    return Job(
        earliest_at=earliest,
        deadline_at=deadline,
        duration_s=parse_duration_s(duration),
        power_w=parse_power_w(power),
        interruptible=it,
        zones=tuple(zones),
        name=name,
    )


def _plan_job(
    *, earliest: str, deadline: str, source: dict[str, Any], job: dict[str, Any], min_saving: float, error_band_z: float
) -> tuple[Any, Any, Any]:
    """``(job, signal, plan)`` for `schedule plan` and `schedule submit`: ``source`` and ``job`` are the
    keyword arguments of :func:`_source` and :func:`_job` (less the times and zones)."""
    from carbontrail.schedule.plan import plan

    e = parse_time(earliest, now=datetime.now(UTC))
    d = parse_time(deadline, now=e)
    src, zs = _source(**source)
    j = _job(earliest=e, deadline=d, zones=zs, **job)
    sig = src(e.timestamp(), d.timestamp())
    p = plan(
        j, sig, min_saving_rel=min_saving / 100.0, error_band_z=error_band_z, objective=_objective(source["objective"])
    )
    return j, sig, p


def _print_plan(p: Any) -> None:
    from rich.table import Table

    t = Table(title=f"plan: {p.decision} in {p.zone}")
    t.add_column("chunk")
    t.add_column("start (UTC)")
    t.add_column("end (UTC)")
    for i, (a, b) in enumerate(p.chunks, 1):
        t.add_row(str(i), a.isoformat(timespec="minutes"), b.isoformat(timespec="minutes"))
    err.print(t)
    err.print(
        f"expected {p.expected_emissions_g:.1f} g vs run-now {p.run_now_emissions_g:.1f} g: saving "
        f"{p.saving_g:.1f} g ({p.saving_pct:.1f} %); forecast {p.forecast_source} generated "
        f"{p.forecast_generated_at.isoformat(timespec='minutes')}\n{p.reason}"
    )
    if p.renewable_share is not None:
        err.print(f"renewable share of the plan's energy: {100 * p.renewable_share:.1f} %")


# ---------------------------------------------------------------------------------------------
# schedule plan / submit / jobs / plans
# ---------------------------------------------------------------------------------------------

_ZONE = typer.Option([], "--zone", help="candidate zone (repeatable; the first is home)")
_SERIES = typer.Option(
    [], "--series", help="CSV/Parquet file of intensity (your forecast); repeatable, one per zone, named by the file"
)
_COLUMN = typer.Option(None, "--column", help="intensity column of --series (default: the only other column)")
_TCOL = typer.Option("timestamp", "--time-column", help="timestamp column of --series (tz-aware times)")
_UNIT = typer.Option("g/kWh", "--unit", help="unit of the --series values")
_OBJECTIVE = typer.Option(
    "emissions", "--objective", help="emissions: least expected gCO2e; renewable: highest renewable share"
)
_MIN_SAVING = typer.Option(0.0, "--min-saving", help="run now below this expected saving (%)")
_BAND = typer.Option(0.5, "--error-band-z", help="run now while the saving is inside this many standard errors")
_FORECAST = typer.Option(
    None,
    "--forecast",
    help="'series': use the values as the forecast (default for --series); "
    "'blend': the built-in forecaster on the history before --earliest (default for --zone)",
)


@app.command("plan")
def plan_command(
    duration: str = typer.Option(..., "--duration", help="run time, e.g. 2h"),
    earliest: str = typer.Option("now", "--earliest", help="earliest start (ISO 8601 with zone, +2h, HH:MM)"),
    deadline: str = typer.Option(..., "--deadline", help="finish by (ISO 8601 with zone, +8h, HH:MM)"),
    interruptible: bool = typer.Option(False, "--interruptible"),
    min_chunk: str = typer.Option(None, "--min-chunk", help="shortest chunk, e.g. 30m"),
    max_pauses: int = typer.Option(None, "--max-pauses"),
    overhead: str = typer.Option("0s", "--checkpoint-overhead", help="restore time per resumed chunk"),
    zone: list[str] = _ZONE,
    series: list[str] = _SERIES,
    column: str = _COLUMN,
    time_column: str = _TCOL,
    unit: str = _UNIT,
    forecast: str = _FORECAST,
    power: str = typer.Option("100W", "--power", help="mean power draw, e.g. 300W"),
    min_saving: float = _MIN_SAVING,
    error_band_z: float = _BAND,
    objective: str = _OBJECTIVE,
    archive: str = typer.Option(
        None, "--archive", help="plan on the newest forecast of this archive made by --earliest (a back-test)"
    ),
    record: bool = typer.Option(False, "--record", help="store the plan in the ledger"),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Print the best plan for a job against a zone's forecast or your own forecast file."""
    with cli_errors():
        job, sig, p = _plan_job(
            earliest=earliest,
            deadline=deadline,
            source={
                "zones": list(zone),
                "series_files": list(series),
                "column": column,
                "time_column": time_column,
                "unit": unit,
                "forecast": forecast or ("series" if series else "blend"),
                "objective": objective,
                "archive": archive,
            },
            job={
                "duration": duration,
                "interruptible": interruptible,
                "min_chunk": min_chunk,
                "max_pauses": max_pauses,
                "overhead": overhead,
                "power": power,
                "name": "cli-plan",
            },
            min_saving=min_saving,
            error_band_z=error_band_z,
        )
        if record:
            from carbontrail.schedule.queue import record_plan

            led = open_ledger()
            try:
                record_plan(led, p, sig, job=job)
            finally:
                led.close()
        if json_out:
            print_json(p.to_dict())
        else:
            _print_plan(p)


@app.command("submit")
def submit_command(
    cmd: list[str] = typer.Argument(..., help="the command, after --"),
    by: str = typer.Option(..., "--by", help="deadline"),
    duration: str = typer.Option(..., "--duration"),
    earliest: str = typer.Option("now", "--earliest"),
    interruptible: bool = typer.Option(False, "--interruptible"),
    min_chunk: str = typer.Option(None, "--min-chunk"),
    max_pauses: int = typer.Option(None, "--max-pauses"),
    overhead: str = typer.Option("0s", "--checkpoint-overhead"),
    pause_mode: str = typer.Option("stop", "--pause-mode", help="term|stop"),
    zone: list[str] = _ZONE,
    series: list[str] = _SERIES,
    column: str = _COLUMN,
    time_column: str = _TCOL,
    unit: str = _UNIT,
    forecast: str = _FORECAST,
    power: str = typer.Option("100W", "--power"),
    min_saving: float = _MIN_SAVING,
    error_band_z: float = _BAND,
    objective: str = _OBJECTIVE,
    replan: bool = typer.Option(
        True, "--replan/--no-replan", help="let workers re-plan on fresh forecasts (not with a --series forecast)"
    ),
    name: str = typer.Option(None, "--name"),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Plan CMD and put it in the ledger's queue for `carbontrail worker`."""
    from carbontrail.schedule.queue import JobQueue, record_plan

    with cli_errors():
        fmode = forecast or ("series" if series else "blend")
        job, sig, p = _plan_job(
            earliest=earliest,
            deadline=by,
            source={
                "zones": list(zone),
                "series_files": list(series),
                "column": column,
                "time_column": time_column,
                "unit": unit,
                "forecast": fmode,
                "objective": objective,
            },
            job={
                "duration": duration,
                "interruptible": interruptible,
                "min_chunk": min_chunk,
                "max_pauses": max_pauses,
                "overhead": overhead,
                "power": power,
                "name": name or " ".join(cmd)[:200],
            },
            min_saving=min_saving,
            error_band_z=error_band_z,
        )
        led = open_ledger()
        try:
            pid = record_plan(led, p, sig, job=job)
            # a user's forecast file stays on this machine: workers then follow the plan as made
            can_replan = replan and not series and fmode == "blend"
            jid = JobQueue(led).submit(job, cmd, p, plan_id=pid, pause_mode=pause_mode, replan=can_replan)
        finally:
            led.close()
        if json_out:
            print_json({"job_id": jid, "plan_id": pid, "plan": p.to_dict()})
        else:
            _print_plan(p)
            err.print(f"queued job {jid}")


@app.command("jobs")
def jobs_command(
    status: str = typer.Option(None, "--status"),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """List the queue."""
    from rich.table import Table

    from carbontrail.schedule.queue import JobQueue

    with cli_errors():
        led = open_ledger()
        try:
            jobs = JobQueue(led).jobs(status=status)
        finally:
            led.close()
        if json_out:
            print_json([j.__dict__ for j in jobs])
            return
        t = Table(title="deferred jobs")
        for c in ("job", "name", "status", "planned start", "zone", "attempts", "rc"):
            t.add_column(c)
        for j in jobs:
            t.add_row(
                j.job_id[:12],
                j.name[:40],
                j.status,
                j.planned_start_at.isoformat(timespec="minutes"),
                j.zone or "",
                str(j.attempts),
                "" if j.returncode is None else str(j.returncode),
            )
        err.print(t)


@app.command("plans")
def plans_command(json_out: bool = typer.Option(False, "--json")) -> None:
    """List recorded plans with expected and realised emissions."""
    from rich.table import Table

    from carbontrail.schedule.queue import list_plans

    with cli_errors():
        led = open_ledger()
        try:
            recs = list_plans(led)
        finally:
            led.close()
        if json_out:
            print_json([{k: v for k, v in r.__dict__.items() if k != "forecast"} for r in recs])
            return
        t = Table(title="plans")
        for c in ("plan", "job", "decision", "zone", "expected g", "run-now g", "realised g"):
            t.add_column(c)
        for r in recs:
            t.add_row(
                r.plan_id[:12],
                r.job_name[:30],
                r.decision,
                r.zone,
                f"{r.expected_emissions_g or 0:.1f}",
                f"{r.run_now_emissions_g or 0:.1f}",
                "" if r.realised_emissions_g is None else f"{r.realised_emissions_g:.1f}",
            )
        err.print(t)


# ---------------------------------------------------------------------------------------------
# carbontrail run
# ---------------------------------------------------------------------------------------------


def run_command(
    cmd: list[str] = typer.Argument(..., help="the command, after --"),
    by: str = typer.Option(..., "--by", help="deadline (ISO 8601 with zone, +8h, HH:MM)"),
    duration: str = typer.Option(..., "--duration", help="estimated run time, e.g. 2h"),
    interruptible: bool = typer.Option(False, "--interruptible"),
    min_chunk: str = typer.Option(None, "--min-chunk"),
    max_pauses: int = typer.Option(None, "--max-pauses"),
    overhead: str = typer.Option("0s", "--checkpoint-overhead"),
    pause_mode: str = typer.Option("stop", "--pause-mode", help="stop: SIGSTOP/SIGCONT; term: SIGTERM + restart"),
    zones: list[str] = typer.Option(
        [],
        "--zones",
        "--zone",
        help="candidate zones (repeatable); this machine's is the settings' zone, else the first. When another "
        "zone is greener the job goes to the queue for a `carbontrail worker --zone` there",
    ),
    series: list[str] = _SERIES,
    column: str = _COLUMN,
    time_column: str = _TCOL,
    unit: str = _UNIT,
    power: str = typer.Option("100W", "--power"),
    min_saving: float = _MIN_SAVING,
    error_band_z: float = _BAND,
    objective: str = _OBJECTIVE,
    replan_every: str = typer.Option("1h", "--replan-every"),
    simulate_from: str = typer.Option(
        None,
        "--simulate-from",
        help="what-if: start a simulated clock at this time (no real waiting; the command runs at once)",
    ),
    name: str = typer.Option(None, "--name"),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Wait for the planned low-carbon window, then run CMD tracked (pausing it between chunks)."""
    from carbontrail.schedule.execute import ProcessRunner, SimulatedClock, SystemClock, TrackedRunner, execute
    from carbontrail.schedule.plan import plan
    from carbontrail.schedule.queue import realised_for_plan, record_plan, record_realised
    from carbontrail.units import parse_duration_s

    with cli_errors():
        if zones and series:
            raise ConfigError("give --zones or --series, not both")
        if simulate_from:
            clock: Any = SimulatedClock(parse_time(simulate_from, now=datetime.now(UTC)).timestamp())
        else:
            clock = SystemClock()
        now = datetime.fromtimestamp(clock.now(), UTC)
        d = parse_time(by, now=now)
        s = settings()
        src, zs = _source(
            zones=list(zones),
            series_files=list(series),
            column=column,
            time_column=time_column,
            unit=unit,
            forecast="series" if series else "blend",
            objective=objective,
        )
        local = s.zone if s.zone in zs else zs[0]
        job = _job(
            duration=duration,
            earliest=now,
            deadline=d,
            interruptible=interruptible,
            min_chunk=min_chunk,
            max_pauses=max_pauses,
            overhead=overhead,
            zones=[local] + [z for z in zs if z != local],
            power=power,
            name=name or " ".join(cmd)[:200],
        )
        guard = {"min_saving_rel": min_saving / 100.0, "error_band_z": error_band_z}
        led = open_ledger(s)
        if len(zs) > 1:
            sig0 = src(clock.now(), d.timestamp())
            p0 = plan(job, sig0, objective=_objective(objective), **guard)
            if p0.zone != local:
                if simulate_from:
                    led.close()
                    raise ConfigError(
                        f"the plan moves the job to {p0.zone}; --simulate-from runs only here (use schedule plan)"
                    )
                _hand_off(led, job, cmd, p0, sig0, pause_mode=pause_mode, json_out=json_out, replan=not series)
            src.zones = (local,)
            job = job.__class__(**{**job.__dict__, "zones": (local,)})
        plan_ids: list[str] = []
        last_signal: list[Any] = []

        def forecast(now_s: float, until_s: float) -> Any:
            last_signal[:] = [src(now_s, until_s)]  # kept for the plan's record: one forecast per plan
            return last_signal[0]

        def on_plan(p: Any) -> None:
            plan_ids.append(record_plan(led, p, last_signal[0], job=job, clock=clock))
            err.print(
                f"[dim]{datetime.fromtimestamp(clock.now(), UTC).isoformat(timespec='minutes')}[/dim] "
                f"{p.decision}: start {p.start_at.isoformat(timespec='minutes')} in {p.zone} — {p.reason}"
            )

        inner = ProcessRunner(cmd, pause_mode=pause_mode)
        runner = TrackedRunner(inner, name=job.name, zone=local, settings=s, ledger=led)
        try:
            ex = execute(
                job,
                forecast,
                runner,
                clock=clock,
                replan_every_s=parse_duration_s(replan_every),
                poll_s=1.0 if not simulate_from else 60.0,
                on_plan=on_plan,
                objective=_objective(objective),
                **guard,
            )
        except KeyboardInterrupt:
            inner.kill()
            raise
        finally:
            runner.close()
        rc = inner.returncode if inner.returncode is not None else 1
        real = now_real = None
        energy = sum(r.energy_j for r in runner.records)
        if ex.plans and runner.records and plan_ids:
            buckets = [b for r in runner.records for b in r.buckets]
            if not simulate_from:
                try:
                    h = src.history_for(local)
                    real, now_real = realised_for_plan(buckets, h, run_now_s=now.timestamp(), bucket_s=s.bucket_s)
                except CarbontrailError as exc:
                    log.info("no actual intensity for %s: %s", local, exc)
            record_realised(
                led,
                plan_ids[-1],
                realised_emissions_g=real,
                realised_run_now_emissions_g=now_real,
                energy_j=energy,
                span_ids=[r.span_id for r in runner.records],
                clock=clock,
            )
        led.close()
        summary = {
            "returncode": rc,
            "zone": local,
            "chunks": [{"start_at": a.isoformat(), "end_at": b.isoformat()} for a, b in ex.chunks],
            "plans": len(ex.plans),
            "final_plan": ex.plans[-1].to_dict() if ex.plans else None,
            "energy_j": energy,
            "realised_emissions_g": real,
            "realised_run_now_emissions_g": now_real,
            "span_ids": [r.span_id for r in runner.records],
            "simulated": bool(simulate_from),
        }
        if json_out:
            print_json(summary)
        else:
            err.print(f"ran {len(ex.chunks)} chunk(s); exit code {rc}; {energy:.1f} J measured")
    raise typer.Exit(rc if rc >= 0 else 128 - rc)


def _hand_off(
    led: Any,
    job: Any,
    cmd: list[str],
    p: Any,
    sig: Any,
    *,
    pause_mode: str,
    json_out: bool,
    replan: bool,
    poll_s: float = 1.0,
) -> None:
    """Queue the job for a worker in the zone the plan chose, wait for it, and exit with its code."""
    import time

    from carbontrail.schedule.queue import JobQueue, record_plan

    q = JobQueue(led)
    pid = record_plan(led, p, sig, job=job)
    jid = q.submit(job, cmd, p, plan_id=pid, pause_mode=pause_mode, replan=replan)
    err.print(
        f"{p.zone} is greener ({p.reason}); queued job {jid} for a worker there "
        f"(`carbontrail worker --zone {p.zone}` on the same ledger), waiting for it"
    )
    try:
        while (qj := q.get(jid)).status in ("queued", "running"):
            time.sleep(poll_s)
    except KeyboardInterrupt:
        if q.cancel(jid):
            err.print(f"cancelled job {jid}")
        led.close()
        raise
    led.close()
    rc = qj.returncode if qj.returncode is not None else 1
    if json_out:
        print_json({"returncode": rc, "zone": qj.zone, "job_id": jid, "status": qj.status, "result": qj.result})
    else:
        err.print(f"job {jid} {qj.status} in {qj.zone}; exit code {rc}")
    raise typer.Exit(rc if rc >= 0 else 128 - rc)


# ---------------------------------------------------------------------------------------------
# carbontrail worker
# ---------------------------------------------------------------------------------------------


def worker_command(
    dask: str = typer.Option(None, "--dask", help="Dask scheduler address to run jobs on"),
    ledger_url: str = typer.Option(None, "--ledger", help="ledger URL (default: settings)"),
    lease: str = typer.Option("30s", "--lease", help="lease length; a dead worker's job is re-queued after it"),
    poll: str = typer.Option("5s", "--poll", help="sleep when nothing is due"),
    max_jobs: int = typer.Option(None, "--max-jobs", help="exit after claiming this many jobs"),
    until_idle: bool = typer.Option(False, "--until-idle", help="exit when the queue is empty"),
    worker_id: str = typer.Option(None, "--id"),
    zone: list[str] = typer.Option([], "--zone", help="run only jobs planned in this zone (repeatable)"),
    replan_every: str = typer.Option(
        "15m", "--replan-every", help="re-plan waiting jobs on fresh forecasts this often (0: never)"
    ),
) -> None:
    """Launch queued jobs at their planned time (locally, or on a Dask cluster)."""
    import signal
    import threading

    from carbontrail.ledger import Ledger
    from carbontrail.schedule.worker import Worker
    from carbontrail.units import parse_duration_s

    with cli_errors():
        led = Ledger.open(ledger_url) if ledger_url else open_ledger()
        stop = threading.Event()

        def _stop(signum: int, _frame: object) -> None:
            stop.set()

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        w = Worker(
            led,
            worker_id=worker_id,
            lease_s=parse_duration_s(lease),
            poll_s=parse_duration_s(poll),
            dask_address=dask,
            zones=tuple(zone) or None,
            replan_every_s=parse_duration_s(replan_every) if replan_every.strip() not in ("0", "") else None,
        )
        err.print(
            f"worker {w.worker_id} on {led.safe_url}"
            + (f" with Dask at {dask}" if dask else "")
            + (f" for zone(s) {', '.join(zone)}" if zone else "")
        )
        stats = w.run(stop=stop, max_jobs=max_jobs, until_idle=until_idle)
        led.close()
        err.print(f"worker {w.worker_id}: {len(stats.claimed)} job(s) claimed")
        sys.stderr.flush()
