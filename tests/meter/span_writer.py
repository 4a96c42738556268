"""Child process for the multi-writer and kill tests: writes N spans through a real Tracker."""

from __future__ import annotations

import os
import sys
import time

from carbontrail.config import load_settings
from carbontrail.ledger import Ledger
from carbontrail.meter import MeterSet, Tracker, track
from carbontrail.testing import FakeMeter

url, home, n, mode = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
meter = FakeMeter(("cpu",), method="cpu-time-model")
tracker = Tracker(
    load_settings(home=home), meters=MeterSet([meter]), ledger=Ledger.open(url), attribute=lambda rs: list(rs),
    flush_interval_s=0.05,
)
for i in range(n):
    with track(f"span-{os.getpid()}-{i}", kind="train", tracker=tracker):
        meter.add(1.0)
if mode == "hang":
    # every span is closed (journalled); wait to be killed before the flusher runs again
    tracker._stopping = True
    print("ready", flush=True)
    time.sleep(60)
tracker.close()
