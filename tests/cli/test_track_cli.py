"""`carbontrail track -- CMD` end to end, in real subprocesses."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from carbontrail.ledger import Ledger

SRC = str(Path(__file__).parents[2] / "src")


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARBONTRAIL_")}
    env.update({"PYTHONPATH": SRC, "CARBONTRAIL_HOME": str(tmp_path / "home"), "CARBONTRAIL_ZONE": "FR"})
    env.update(extra)
    return env


def _ct(*args: str) -> list[str]:
    return [sys.executable, "-m", "carbontrail", *args]


def _ledger(tmp_path: Path) -> Ledger:
    return Ledger.open(f"sqlite:///{tmp_path / 'home' / 'ledger.db'}")


def test_exit_code_passed_through_and_span_recorded(tmp_path: Path) -> None:
    burn = "import sys,time\nt=time.process_time()\nwhile time.process_time()-t<0.3: pass\nsys.exit(3)"
    p = subprocess.run(
        _ct("track", "--name", "burn", "--kind", "train", "--tag", "team=ml", "--json", "--", sys.executable, "-c",
            burn),
        env=_env(tmp_path), capture_output=True, text=True, timeout=120,
    )
    assert p.returncode == 3, p.stderr
    rec = json.loads(p.stdout)
    assert rec["status"] == "failed" and rec["error"] == "exit code 3"
    assert rec["energy_j"] > 0
    cpu = [c for c in rec["components"] if c["method"] in ("cpu-time-model", "rapl")]
    assert cpu and sum(c["energy_j"] for c in cpu) > 0
    stored = _ledger(tmp_path).spans()
    assert [s.name for s in stored] == ["burn"]
    assert stored[0].tags == {"team": "ml"} and stored[0].zone == "FR"


def test_child_spans_nest_under_the_command(tmp_path: Path) -> None:
    code = "import carbontrail\nwith carbontrail.track('inner', kind='evaluate'):\n    sum(range(10**5))"
    p = subprocess.run(_ct("track", "--name", "outer", "--", sys.executable, "-c", code),
                       env=_env(tmp_path), capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    spans = {s.name: s for s in _ledger(tmp_path).spans()}
    assert spans["inner"].parent_id == spans["outer"].span_id
    assert spans["inner"].run_id == spans["outer"].run_id


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_killed_child_is_recorded_with_its_energy(tmp_path: Path, sig: signal.Signals) -> None:
    script = "import time\nt=time.process_time()\nwhile True:\n    pass"
    p = subprocess.Popen(_ct("track", "--name", "victim", "--", sys.executable, "-c", script),
                         env=_env(tmp_path), stderr=subprocess.PIPE, text=True)
    time.sleep(2.0)
    import psutil

    kids = psutil.Process(p.pid).children()
    assert kids, "the tracked command is running"
    kids[0].send_signal(sig)
    rc = p.wait(timeout=60)
    assert rc == 128 + sig
    (span,) = _ledger(tmp_path).spans()
    assert span.status == "killed" and span.error == f"killed by {sig.name}"
    assert span.energy_j > 0


def test_sigterm_to_wrapper_is_forwarded(tmp_path: Path) -> None:
    script = "import signal,sys,time\nsignal.signal(signal.SIGTERM, lambda *a: sys.exit(7))\ntime.sleep(60)"
    p = subprocess.Popen(_ct("track", "--name", "fwd", "--", sys.executable, "-c", script),
                         env=_env(tmp_path), stderr=subprocess.PIPE, text=True)
    time.sleep(2.0)
    p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=60) == 7
    (span,) = _ledger(tmp_path).spans()
    assert span.status == "failed" and span.error == "exit code 7"


def test_missing_command_is_a_clear_error(tmp_path: Path) -> None:
    p = subprocess.run(_ct("track", "--", "no-such-command-xyz"), env=_env(tmp_path),
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 127
    assert "cannot run" in p.stderr
    (span,) = _ledger(tmp_path).spans()
    assert span.status == "failed"


def test_spans_list_json(tmp_path: Path) -> None:
    subprocess.run(_ct("track", "--name", "one", "--", sys.executable, "-c", "pass"), env=_env(tmp_path),
                   check=True, capture_output=True, timeout=60)
    p = subprocess.run(_ct("spans", "list", "--json"), env=_env(tmp_path), capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0, p.stderr
    rows = json.loads(p.stdout)
    assert [r["name"] for r in rows] == ["one"]
    p = subprocess.run(_ct("spans", "show", rows[0]["span_id"][:8]), env=_env(tmp_path), capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0 and "one" in p.stderr
