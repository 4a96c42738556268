"""Many writers at once, and a killed process: no span lost, none duplicated."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from carbontrail.ledger import Ledger
from carbontrail.ledger.journal import ingest_orphans

WRITER = Path(__file__).with_name("span_writer.py")
ENV = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src")}


def test_four_processes_thousand_spans_each(ledger_url, tmp_path) -> None:
    Ledger.open(ledger_url).close()  # schema first, as `carbontrail db upgrade` would
    procs = [
        subprocess.Popen([sys.executable, str(WRITER), ledger_url, str(tmp_path / f"h{i}"), "1000", "run"], env=ENV)
        for i in range(4)
    ]
    assert [p.wait(timeout=240) for p in procs] == [0, 0, 0, 0]
    ledger = Ledger.open(ledger_url)
    assert ledger.count_spans() == 4000
    assert len({s.span_id for s in ledger.spans()}) == 4000
    # journals of finished processes are fully ingested and removed
    assert not list(tmp_path.glob("h*/journal/*.jsonl"))
    ledger.close()


def test_killed_process_spans_recovered_from_journal(ledger_url, tmp_path) -> None:
    home = tmp_path / "home"
    p = subprocess.Popen(
        [sys.executable, str(WRITER), ledger_url, str(home), "50", "hang"], env=ENV, stdout=subprocess.PIPE, text=True
    )
    assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    ledger = Ledger.open(ledger_url)
    # while the writer lives, its journal is locked and left alone
    assert ingest_orphans(ledger, home / "journal") == 0
    p.send_signal(signal.SIGKILL)
    p.wait(timeout=30)
    before = ledger.count_spans()
    assert before <= 50
    ingest_orphans(ledger, home / "journal")
    assert ledger.count_spans() == 50  # nothing lost, nothing duplicated
    assert not list((home / "journal").glob("*.jsonl"))
    ledger.close()


def test_torn_journal_lines_are_kept_not_dropped(sqlite_url, tmp_path) -> None:
    jdir = tmp_path / "journal"
    jdir.mkdir()
    header = (
        '{"journal":1,"host":"h","pid":1,"run_id":"r","components":[{"component":"cpu","method":"constant",'
        '"uncertainty_rel":0.1}],"attribution":"process","zone":null,"bucket_s":300}'
    )
    good = '["a' + "0" * 31 + '",null,"s","train","ok",0.5,1.5,[0.0],[2.0],[],null,null,null,null,null,null]'
    (jdir / "h-1-1.jsonl").write_text(header + "\n" + good + "\n" + '["torn",nul' + "\n")
    ledger = Ledger.open(sqlite_url)
    assert ingest_orphans(ledger, jdir) == 1
    assert ledger.count_spans() == 1
    rejected = (jdir / "rejected" / "h-1-1.txt").read_text()
    assert "torn" in rejected and rejected.count("\n") == 1
