"""`carbontrail schedule plan|submit|jobs|plans` and `carbontrail run` through the Typer app."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from carbontrail.cli.main import app
from carbontrail.ledger import Ledger
from carbontrail.schedule.queue import JobQueue, list_plans

T0 = datetime(2024, 3, 1, tzinfo=UTC)
SRC = str(Path(__file__).resolve().parents[2] / "src")
runner = CliRunner()


def _csv(tmp_path: Path, values, *, naive: bool = False, name: str = "fc.csv") -> Path:
    p = tmp_path / name
    rows = ["timestamp,intensity"]
    for i, v in enumerate(values):
        t = T0 + timedelta(hours=i)
        rows.append(f"{t.replace(tzinfo=None).isoformat() if naive else t.isoformat()},{v}")
    p.write_text("\n".join(rows) + "\n")
    return p


def _json(result) -> dict:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_plan_against_a_forecast_file(tmp_path) -> None:
    f = _csv(tmp_path, [500, 450, 120, 100, 480, 500, 510, 520])
    r = runner.invoke(
        app,
        [
            "schedule",
            "plan",
            "--duration",
            "2h",
            "--earliest",
            T0.isoformat(),
            "--deadline",
            (T0 + timedelta(hours=8)).isoformat(),
            "--series",
            str(f),
            "--power",
            "1kW",
            "--json",
        ],
    )
    d = _json(r)
    assert d["decision"] == "shift" and d["start_at"] == (T0 + timedelta(hours=2)).isoformat()
    assert d["expected_emissions_g"] == 220.0 and d["run_now_emissions_g"] == 950.0
    assert d["saving_pct"] > 76
    r = runner.invoke(
        app,
        [
            "schedule",
            "plan",
            "--duration",
            "4h",
            "--earliest",
            T0.isoformat(),
            "--deadline",
            "+8h",
            "--series",
            str(f),
            "--interruptible",
            "--min-chunk",
            "1h",
            "--json",
            "--column",
            "intensity",
        ],
    )
    assert len(_json(r)["chunks"]) >= 1


def test_plan_refuses_naive_timestamps_nan_and_bad_input(tmp_path) -> None:
    args = [
        "schedule",
        "plan",
        "--duration",
        "1h",
        "--earliest",
        T0.isoformat(),
        "--deadline",
        "+6h",
        "--series",
    ]
    r = runner.invoke(app, [*args, str(_csv(tmp_path, [1, 2, 3, 4, 5, 6], naive=True))])
    assert r.exit_code != 0 and ("naive" in r.output.lower() or "timezone" in r.output.lower())
    r = runner.invoke(app, [*args, str(_csv(tmp_path, [1, 2, "NaN", 4, 5, 6], name="nan.csv"))])
    assert r.exit_code != 0 and "nan" in r.output.lower()
    r = runner.invoke(app, [*args, str(tmp_path / "missing.csv")])
    assert r.exit_code != 0
    r = runner.invoke(
        app,
        [
            "schedule",
            "plan",
            "--duration",
            "1h",
            "--earliest",
            "2024-03-01T00:00",
            "--deadline",
            "+6h",
            "--series",
            str(_csv(tmp_path, [1] * 6)),
        ],
    )
    assert r.exit_code != 0 and "timezone" in r.output
    r = runner.invoke(
        app,
        [
            "schedule",
            "plan",
            "--duration",
            "9h",
            "--earliest",
            T0.isoformat(),
            "--deadline",
            "+6h",
            "--series",
            str(_csv(tmp_path, [1] * 6)),
        ],
    )
    assert r.exit_code != 0 and "covers only" in r.output
    r = runner.invoke(app, ["schedule", "plan", "--duration", "1h", "--deadline", "+6h", "--zone", "NOWHERE"])
    assert r.exit_code != 0 and "NOWHERE" in r.output


def test_plan_with_a_bundled_zone_and_the_forecaster() -> None:
    r = runner.invoke(
        app,
        [
            "schedule",
            "plan",
            "--duration",
            "2h",
            "--earliest",
            "2022-06-10T00:00Z",
            "--deadline",
            "2022-06-11T00:00Z",
            "--zone",
            "CISO",
            "--json",
        ],
    )
    d = _json(r)
    assert d["forecast_source"] == "forecast:blend" and d["zone"] == "CISO"
    assert d["forecast_generated_at"].startswith("2022-06-10T00:00")


def test_submit_lists_and_plans(tmp_path) -> None:
    f = _csv(tmp_path, [500, 450, 120, 100, 480, 500, 510, 520])
    r = runner.invoke(
        app,
        [
            "schedule",
            "submit",
            "--by",
            (T0 + timedelta(hours=8)).isoformat(),
            "--earliest",
            T0.isoformat(),
            "--duration",
            "1h",
            "--series",
            str(f),
            "--json",
            "--",
            "echo",
            "hi",
        ],
    )
    d = _json(r)
    r = runner.invoke(app, ["schedule", "jobs", "--json"])
    jobs = _json(r)
    assert [j["job_id"] for j in jobs] == [d["job_id"]] and jobs[0]["argv"] == ["echo", "hi"]
    plans = _json(runner.invoke(app, ["schedule", "plans", "--json"]))
    assert plans[0]["plan_id"] == d["plan_id"] and plans[0]["job_id"] == d["job_id"]


def test_run_on_a_simulated_clock_waits_and_runs_tracked(tmp_path) -> None:
    f = _csv(tmp_path, [500, 450, 120, 100, 480, 500, 510, 520])
    out = tmp_path / "ran.txt"
    r = runner.invoke(
        app,
        [
            "run",
            "--by",
            (T0 + timedelta(hours=8)).isoformat(),
            "--duration",
            "1h",
            "--series",
            str(f),
            "--simulate-from",
            T0.isoformat(),
            "--json",
            "--",
            sys.executable,
            "-c",
            f"open({str(out)!r}, 'w').write('ok')",
        ],
    )
    d = _json(r)
    assert out.read_text() == "ok"
    assert d["returncode"] == 0 and d["simulated"]
    assert d["chunks"][0]["start_at"] == (T0 + timedelta(hours=3)).isoformat()  # the 100 g/kWh hour
    assert len(d["span_ids"]) == 1
    home = Path(__import__("os").environ["CARBONTRAIL_HOME"])
    led = Ledger.open(f"sqlite:///{home / 'ledger.db'}")
    recs = list_plans(led)
    assert len(recs) == d["plans"] >= 2  # re-planned as time advanced
    assert recs[-1].realised_span_ids == d["span_ids"]
    assert JobQueue(led).jobs() == []
    led.close()
    r = runner.invoke(
        app, ["run", "--by", "+1h", "--duration", "1h", "--series", str(f), "--zones", "X", "--", "true"]
    )
    assert r.exit_code != 0 and "not both" in r.output


def _csv_from(tmp_path: Path, name: str, start: datetime, step_s: float, values) -> Path:
    p = tmp_path / name
    rows = ["timestamp,intensity"] + [
        f"{(start + timedelta(seconds=i * step_s)).isoformat()},{v}" for i, v in enumerate(values)
    ]
    p.write_text("\n".join(rows) + "\n")
    return p


def test_plan_and_submit_with_the_renewable_objective() -> None:
    args = ["--duration", "2h", "--earliest", "2022-06-10T00:00Z", "--zone", "CISO", "--objective", "renewable"]
    d = _json(runner.invoke(app, ["schedule", "plan", *args, "--deadline", "2022-06-11T00:00Z", "--json"]))
    assert d["objective"] == "renewable" and 0 < d["renewable_share"] <= 1
    r = runner.invoke(app, ["schedule", "plan", *args[:-1], "wind", "--deadline", "2022-06-11T00:00Z"])
    assert r.exit_code != 0 and "--objective must be" in r.output


@pytest.mark.slow
def test_run_hands_a_job_to_a_worker_in_the_greener_zone(tmp_path, monkeypatch) -> None:
    """Two candidate zones; this machine is in AA; BB is greener, so a `worker --zone BB` runs it."""
    now = datetime.now(UTC).replace(microsecond=0)
    aa = _csv_from(tmp_path, "AA.csv", now - timedelta(minutes=5), 10.0, [500.0] * 400)
    bb = _csv_from(tmp_path, "BB.csv", now - timedelta(minutes=5), 10.0, [50.0] * 400)
    monkeypatch.setenv("CARBONTRAIL_ZONE", "AA")
    home = Path(os.environ["CARBONTRAIL_HOME"])
    url = f"sqlite:///{home / 'ledger.db'}"
    Ledger.open(url).close()  # create the schema before the worker starts
    env = {**os.environ, "PYTHONPATH": SRC}
    worker = subprocess.Popen(
        [sys.executable, "-m", "carbontrail", "worker", "--ledger", url, "--poll", "0.2s", "--zone", "BB",
         "--max-jobs", "1", "--replan-every", "0"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    out = tmp_path / "where.txt"
    try:
        r = runner.invoke(
            app,
            ["run", "--by", "+20m", "--duration", "30s", "--series", str(aa), "--series", str(bb), "--json",
             "--", sys.executable, "-c", f"open({str(out)!r}, 'w').write('ran')"],
        )
        d = _json(r)
        assert d["zone"] == "BB" and d["status"] == "done" and d["returncode"] == 0
        assert out.read_text() == "ran"
        assert worker.wait(timeout=60) == 0
    finally:
        worker.kill()
    led = Ledger.open(url)
    [job] = JobQueue(led).jobs()
    assert job.zone == "BB" and job.completions == 1 and not job.spec["replan"]  # a file forecast: not re-planned
    led.close()


@pytest.mark.slow
def test_ctrl_c_while_handed_off_cancels_the_queued_job(tmp_path) -> None:
    """No worker serves the greener zone: Ctrl-C on `run` cancels the job it queued, which never runs."""
    import signal
    import time

    now = datetime.now(UTC).replace(microsecond=0)
    aa = _csv_from(tmp_path, "AA.csv", now - timedelta(minutes=5), 10.0, [500.0] * 400)
    bb = _csv_from(tmp_path, "BB.csv", now - timedelta(minutes=5), 10.0, [50.0] * 400)
    home = Path(os.environ["CARBONTRAIL_HOME"])
    env = {**os.environ, "PYTHONPATH": SRC, "CARBONTRAIL_ZONE": "AA"}
    out = tmp_path / "ran.txt"
    proc = subprocess.Popen(
        [sys.executable, "-m", "carbontrail", "run", "--by", "+20m", "--duration", "30s", "--series", str(aa),
         "--series", str(bb), "--", sys.executable, "-c", f"open({str(out)!r}, 'w').write('ran')"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        url = f"sqlite:///{home / 'ledger.db'}"
        deadline = time.monotonic() + 60
        jobs: list = []
        while time.monotonic() < deadline and not jobs:
            time.sleep(0.2)
            if (home / "ledger.db").exists():
                led = Ledger.open(url)
                jobs = JobQueue(led).jobs(status="queued")
                led.close()
        assert jobs and jobs[0].zone == "BB"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) != 0
    finally:
        proc.kill()
    led = Ledger.open(url)
    [job] = JobQueue(led).jobs()
    assert job.status == "cancelled" and not out.exists()
    led.close()
