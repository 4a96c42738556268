"""Grid attribution at ingestion: spans per second, and what hourly attribution changes.

Baseline: one annual factor per span (energy x national factor, what CodeCarbon does), measured side by
side in the same run with carbontrail's time-resolved attribution (per-bucket intensity from the bundled
CISO 2022 series, provenance, fallback chain), with and without storing factor snapshots in a SQLite
ledger. Medians of 5 runs. Then the same 1-hour, 1-kWh job at each hour of one day in CISO: emissions
under hourly attribution vs the annual factor.

    python bench/attribution.py [--n 5000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime

from carbontrail.config import load_settings
from carbontrail.grid.attribute import make_attributor, split_energy
from carbontrail.grid.sources import StaticFactors
from carbontrail.ledger import Ledger
from carbontrail.span import SpanRecord
from carbontrail.units import emissions_g

T0 = datetime(2022, 7, 1, tzinfo=UTC).timestamp()


def make_spans(n: int, duration_s: float) -> list[SpanRecord]:
    out = []
    for i in range(n):
        t = T0 + (i * 37.0) % (20 * 86400)
        out.append(
            SpanRecord(
                span_id=uuid.uuid4().hex, run_id="bench", name=f"s{i}", kind="train",
                started_at=datetime.fromtimestamp(t, tz=UTC), ended_at=datetime.fromtimestamp(t + duration_s, tz=UTC),
                duration_s=duration_s, energy_j=5000.0, components=[],
                buckets=split_energy(t, t + duration_s, 5000.0, 300.0), zone="CISO",
            )
        )
    return out


def annual_factor_baseline(spans: list[SpanRecord], factor: float) -> list[SpanRecord]:
    return [s.with_emissions(emissions_g(s.energy_j, factor), factor, {"source": "annual"}) for s in spans]


def timed(fn, repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t)
    return statistics.median(runs)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    settings = load_settings(environ={})
    factor = StaticFactors().latest("US-CA", T0).intensity_g_per_kwh
    attr = make_attributor(settings)
    with tempfile.TemporaryDirectory() as tmp:
        ledger = Ledger.open(f"sqlite:///{tmp}/ledger.db")
        attr_db = make_attributor(settings, ledger)
        print(f"{'spans':>28} {'baseline/s':>12} {'hourly/s':>10} {'+snapshots/s':>13} {'ratio':>7}")
        for label, duration in (("60 s spans (1-2 buckets)", 60.0), ("1 h spans (12-13 buckets)", 3600.0)):
            spans = make_spans(args.n, duration)
            attr(spans[:10])  # warm: series load, chain build
            attr_db(spans[:10])
            base = timed(lambda s=spans: annual_factor_baseline(s, factor), args.repeat)
            hourly = timed(lambda s=spans: attr(s), args.repeat)
            stored = timed(lambda s=spans: attr_db(s), args.repeat)
            print(
                f"{label:>28} {args.n / base:12,.0f} {args.n / hourly:10,.0f} {args.n / stored:13,.0f} "
                f"{hourly / base:6.1f}x"
            )
        ledger.close()

    print("\nthe same 1 h, 1 kWh job started at each hour of 2022-07-01 (UTC) in CISO:")
    jobs = []
    for h in range(24):
        t = T0 + h * 3600
        jobs.append(
            SpanRecord(
                span_id=uuid.uuid4().hex, run_id="bench", name=f"h{h}", kind="train",
                started_at=datetime.fromtimestamp(t, tz=UTC), ended_at=datetime.fromtimestamp(t + 3600, tz=UTC),
                duration_s=3600.0, energy_j=3.6e6, components=[], buckets=split_energy(t, t + 3600, 3.6e6, 300.0),
                zone="CISO",
            )
        )
    got = [s.emissions_g or 0.0 for s in attr(jobs)]
    annual = StaticFactors().latest("CISO", T0).intensity_g_per_kwh
    lo, hi = min(got), max(got)
    print(
        f"  hourly attribution: min {lo:.0f} g (hour {got.index(lo)}), max {hi:.0f} g (hour {got.index(hi)}), "
        f"ratio {hi / lo:.2f}; annual factor (2022 mean) gives {annual:.0f} g at every hour"
    )


if __name__ == "__main__":
    main()
