"""Metering overhead: meter reads, one span, the first span of a fresh process, vs CodeCarbon.

Targets (issue 2): median <= 30 us per span (enter + exit, default meters, journal on);
>= 100x cheaper than CodeCarbon's warm ``start()`` + ``stop()``; first span in a fresh process
(including ``import carbontrail``) <= 100 ms; any background thread <= 1 % of one core.

Everything is measured in one run, interleaved in rounds so that machine noise hits both sides
alike; figures are medians (and p99) over all rounds.

    python bench/overhead.py [--rounds 5] [--spans 4000] [--cc-iters 8] [--fresh 5] [--no-codecarbon]

CodeCarbon (the ``bench`` extra) is measured as ``OfflineEmissionsTracker(country_iso_code="FRA",
save_to_file=False, log_level="error")``: "cold" is the first tracker's ``start()`` + ``stop()`` in
this process (CPU detection and TDP matching), "warm" a new tracker's ``start()`` + ``stop()``
afterwards (construction timed apart). A CodeCarbon tracker cannot be restarted once stopped
(``start()`` then returns at once), hence a new tracker per warm iteration.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

SRC = str(Path(__file__).resolve().parents[1] / "src")
CLK_TCK = os.sysconf("SC_CLK_TCK")


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(q / 100 * (len(s) - 1)))]


def timed(fn: Callable[[], object], n: int) -> list[float]:
    """Seconds of each of ``n`` calls."""
    out = []
    clock = time.perf_counter
    for _ in range(n):
        t = clock()
        fn()
        out.append(clock() - t)
    return out


def thread_cpu_s(native_id: int | None) -> float:
    """CPU seconds used so far by one thread of this process (``/proc/self/task/<tid>/stat``)."""
    if native_id is None:
        return 0.0
    try:
        raw = Path(f"/proc/self/task/{native_id}/stat").read_bytes()
    except OSError:
        return 0.0
    fields = raw[raw.rindex(b")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def background_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("carbontrail")]


FRESH = r"""
import json, os, time
t0 = time.perf_counter()
import carbontrail
t1 = time.perf_counter()
with carbontrail.track("first", kind="other"):
    pass
t2 = time.perf_counter()
with carbontrail.track("second", kind="other"):
    pass
t3 = time.perf_counter()
import sys
print(json.dumps({"import_ms": (t1 - t0) * 1e3, "first_span_ms": (t2 - t1) * 1e3,
                  "total_ms": (t2 - t0) * 1e3, "second_span_ms": (t3 - t2) * 1e3,
                  "sqlalchemy": "sqlalchemy" in sys.modules}))
os._exit(0)  # the span is committed to the journal; skip the exit-time ledger flush
"""

FRESH_METERS = r"""
import json, os, time
t0 = time.perf_counter()
from carbontrail.meter import default_meters
t1 = time.perf_counter()
ms = default_meters()
ms.read(); ms.read()
t2 = time.perf_counter()
print(json.dumps({"import_ms": (t1 - t0) * 1e3, "meters_ms": (t2 - t1) * 1e3}))
os._exit(0)
"""

FRESH_CC = r"""
import json, os, time
t0 = time.perf_counter()
from codecarbon import OfflineEmissionsTracker
t1 = time.perf_counter()
tr = OfflineEmissionsTracker(country_iso_code="FRA", save_to_file=False, log_level="error")
tr.start(); tr.stop()
t2 = time.perf_counter()
print(json.dumps({"import_ms": (t1 - t0) * 1e3, "first_ms": (t2 - t1) * 1e3, "total_ms": (t2 - t0) * 1e3}))
os._exit(0)
"""


def run_fresh(code: str, env: dict[str, str]) -> dict[str, float]:
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    if res.returncode != 0:
        raise SystemExit(f"fresh process failed:\n{res.stderr[-2000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--spans", type=int, default=4000, help="spans per round")
    ap.add_argument("--reads", type=int, default=4000, help="read pairs per round")
    ap.add_argument("--cc-iters", type=int, default=8, help="CodeCarbon warm start+stop per round")
    ap.add_argument("--fresh", type=int, default=5, help="fresh-process runs")
    ap.add_argument("--idle-s", type=float, default=3.0, help="seconds an idle span stays open")
    ap.add_argument("--no-codecarbon", action="store_true")
    args = ap.parse_args()

    sys.path.insert(0, SRC)
    from carbontrail.config import load_settings
    from carbontrail.ledger import Ledger
    from carbontrail.meter import default_meters, track
    from carbontrail.meter.track import Tracker

    tmp = Path(tempfile.mkdtemp(prefix="ct-overhead-"))
    settings = load_settings(tmp, home=tmp / "home")
    meters = default_meters(settings)
    ledger = Ledger.open(f"sqlite:///{tmp / 'ledger.db'}")
    tracker = Tracker(settings, meters=meters, ledger=ledger, attribute=lambda recs: list(recs))
    from carbontrail.meter import MeterSet

    bare_tracker = Tracker(settings, meters=MeterSet([]), ledger=ledger, attribute=lambda recs: list(recs))

    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    print("default meters: " + ", ".join(f"{i.component} ({i.method})" for i in meters.infos))

    cc_tracker: Callable[[], object] | None = None
    cc_cold_ms = cc_import_ms = float("nan")
    if not args.no_codecarbon:
        t = time.perf_counter()
        from codecarbon import OfflineEmissionsTracker

        cc_import_ms = (time.perf_counter() - t) * 1e3
        logging.getLogger("codecarbon").setLevel(logging.ERROR)

        def cc_tracker() -> object:
            return OfflineEmissionsTracker(country_iso_code="FRA", save_to_file=False, log_level="error")

        tr = cc_tracker()
        t = time.perf_counter()
        tr.start()  # type: ignore[attr-defined]
        tr.stop()  # type: ignore[attr-defined]
        cc_cold_ms = (time.perf_counter() - t) * 1e3

    def one_span() -> None:
        with track("bench", kind="other", tracker=tracker):
            pass

    def bare_span() -> None:
        with track("bare", kind="other", tracker=bare_tracker):
            pass

    def read_pair() -> None:
        meters.read()
        meters.read()

    per_meter: dict[str, list[float]] = {m.name: [] for m in meters.meters}
    reads: list[float] = []
    spans: list[float] = []
    bare: list[float] = []
    cc_warm: list[float] = []
    cc_construct: list[float] = []
    one_span()  # journal file and flusher thread are created by the first span
    bare_span()
    for _ in range(args.rounds):
        reads += timed(read_pair, args.reads)
        for m in meters.meters:
            per_meter[m.name] += timed(m.read, args.reads)
        spans += timed(one_span, args.spans)
        bare += timed(bare_span, args.spans)
        if cc_tracker is not None:
            for _ in range(args.cc_iters):
                t = time.perf_counter()
                tr = cc_tracker()
                t1 = time.perf_counter()
                tr.start()  # type: ignore[attr-defined]
                tr.stop()  # type: ignore[attr-defined]
                cc_warm.append(time.perf_counter() - t1)
                cc_construct.append(t1 - t)
    n_spans = len(spans) + 1
    deadline = time.time() + 30
    for tr_ in (tracker, bare_tracker):  # let the background flushers drain the journals
        while tr_._pending and time.time() < deadline:
            time.sleep(0.05)
        tr_.flush()  # waits for a flush in progress (its lock), then finds nothing left
    flush_cpu_s = sum(thread_cpu_s(t.native_id) for t in background_threads() if t.name == "carbontrail-flush")
    n_spans *= 2  # two trackers

    # background threads while one span stays open and the process does nothing else
    bg = background_threads()
    cpu0 = {(t.name, t.native_id): thread_cpu_s(t.native_id) for t in bg}
    span = track("idle", tracker=tracker).start()
    time.sleep(args.idle_s)
    span.stop()
    bg = background_threads()
    idle_cpu = {
        f"{t.name} (tid {t.native_id})": thread_cpu_s(t.native_id) - cpu0.get((t.name, t.native_id), 0.0) for t in bg
    }
    tracker.flush()

    # fresh processes: first span including `import carbontrail`. Bytecode is cached under a
    # private prefix, as in any normal install (this environment may set PYTHONDONTWRITEBYTECODE).
    base = {k: v for k, v in os.environ.items() if not k.startswith("CARBONTRAIL_")}
    base.update({"PYTHONPATH": SRC, "CARBONTRAIL_HOME": str(tmp / "fresh-home")})
    nobc = {**base, "PYTHONDONTWRITEBYTECODE": "1", "XDG_CACHE_HOME": str(tmp / "xdg0")}
    env = {**base, "PYTHONPYCACHEPREFIX": str(tmp / "pycache"), "XDG_CACHE_HOME": str(tmp / "xdg")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    run_fresh(FRESH, {**env, "XDG_CACHE_HOME": str(tmp / "xdg-warmup")})  # writes the bytecode cache
    if cc_tracker is not None:
        run_fresh(FRESH_CC, env)
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True, env=env)
    bare_ms = (time.perf_counter() - t) * 1e3
    cold_cache = run_fresh(FRESH, env)  # empty CPU-match cache
    fresh = [run_fresh(FRESH, env) for _ in range(args.fresh)]
    fresh_meters = [run_fresh(FRESH_METERS, env) for _ in range(args.fresh)]
    no_bytecode = run_fresh(FRESH, nobc)
    cc_fresh = run_fresh(FRESH_CC, env) if cc_tracker is not None else None

    us = 1e6
    print()
    print(f"{'measure':58s} {'median':>10s} {'p99':>10s}")
    print(f"{'default_meters().read() pair':58s} {statistics.median(reads) * us:8.2f}us {pct(reads, 99) * us:8.2f}us")
    for name, v in per_meter.items():
        print(f"{'  one read of ' + name:58s} {statistics.median(v) * us:8.2f}us {pct(v, 99) * us:8.2f}us")
    span_med = statistics.median(spans)
    print(f"{'span enter+exit (default meters, journal on)':58s} {span_med * us:8.2f}us {pct(spans, 99) * us:8.2f}us")
    print(
        f"{'  same span with no meters (span machinery alone)':58s} {statistics.median(bare) * us:8.2f}us "
        f"{pct(bare, 99) * us:8.2f}us"
    )
    if cc_warm:
        cc_med = statistics.median(cc_warm)
        print(f"{'CodeCarbon warm start()+stop()':58s} {cc_med * 1e3:8.3f}ms {pct(cc_warm, 99) * 1e3:8.3f}ms")
        print(
            f"{'CodeCarbon tracker construction (not in warm figure)':58s} "
            f"{statistics.median(cc_construct) * 1e3:8.3f}ms"
        )
        print(f"{'CodeCarbon cold: first start()+stop() in this process':58s} {cc_cold_ms:8.1f}ms")
        print(f"{'CodeCarbon import':58s} {cc_import_ms:8.1f}ms")
        print(f"ratio CodeCarbon warm / carbontrail span (medians): {cc_med / span_med:,.0f}x")
    print()
    med = {k: statistics.median(r[k] for r in fresh) for k in fresh[0]}
    print(f"fresh process (median of {len(fresh)}; python startup alone {bare_ms:.0f} ms, not included):")
    print(
        f"  import carbontrail {med['import_ms']:.1f} ms, first span {med['first_span_ms']:.1f} ms, "
        f"import + first span {med['total_ms']:.1f} ms; second span {med['second_span_ms'] * 1e3:.0f} us"
    )
    if fresh[0].get("sqlalchemy"):
        print("  (the first span imported SQLAlchemy: carbontrail.ledger.journal -> carbontrail.ledger/__init__)")
    print(f"  with an empty CPU-match cache: import + first span {cold_cache['total_ms']:.1f} ms")
    print(
        f"  without a bytecode cache (PYTHONDONTWRITEBYTECODE=1): import + first span {no_bytecode['total_ms']:.1f} ms"
    )
    print(
        f"  meters alone: import carbontrail.meter "
        f"{statistics.median(r['import_ms'] for r in fresh_meters):.1f} ms (spans, settings, provenance), "
        f"then default_meters() + 2 reads {statistics.median(r['meters_ms'] for r in fresh_meters):.1f} ms"
    )
    if cc_fresh:
        print(
            f"  CodeCarbon in a fresh process: import {cc_fresh['import_ms']:.0f} ms, "
            f"first start()+stop() {cc_fresh['first_ms']:.0f} ms"
        )
    print()
    print(f"background threads, one span open {args.idle_s:.0f} s with nothing else running (10 ms CPU resolution):")
    for name, cpu in idle_cpu.items():
        print(f"  {name}: {cpu * 1e3:.1f} ms CPU = {cpu / args.idle_s * 100:.2f} % of one core")
    print(
        f"  the flusher (journal -> SQLite ledger) used {flush_cpu_s * 1e3:.0f} ms CPU for {n_spans} spans "
        f"= {flush_cpu_s / n_spans * 1e6:.0f} us per span, off the span's path"
    )
    print()
    ok = [
        ("median span <= 30 us", span_med * us <= 30),
        ("first span in a fresh process <= 100 ms", med["total_ms"] <= 100),
        ("background threads <= 1 % of a core (idle span)", all(c / args.idle_s <= 0.01 for c in idle_cpu.values())),
    ]
    if cc_warm:
        ok.append((">= 100x cheaper than CodeCarbon warm", statistics.median(cc_warm) / span_med >= 100))
    for what, good in ok:
        print(f"  {'MET ' if good else 'MISS'} {what}")
    tracker.close()
    bare_tracker.close()
    ledger.close()


if __name__ == "__main__":
    main()
