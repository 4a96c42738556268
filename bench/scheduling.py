"""Savings of the planner against run-now on every bundled series, side by side with baselines.

Scenarios (the issue's): a 1-hour nightly job at 01:00 UTC that may move up to 8 h either way;
a 1-hour job free to start anywhere within 24 h; a 6-hour job within 24 h (contiguous and
interruptible with a 1-hour minimum chunk); a 1-hour job within a week. Job arrivals are
sampled every ``--stride-h`` hours (the week scenario every 7 days + 5 h).

Forecasts: (a) perfect (the truth), (b) the built-in forecaster (:func:`forecast_series`, made at
the job's earliest start from data before it), (c) the truth with 5 % and 10 % multiplicative
Gaussian noise per slot (seeded; the planner is told that uncertainty).

Mode ``fc-z0`` is (b) planned with the run-now guard off (``error_band_z=0``), to show what the
guard costs; ``replan`` is (b) through the re-planning executor (on every n-th job).

Methods, each evaluated on the truth: ``plan`` (carbontrail's planner with its run-now guard),
``sdk`` (Carbon-Aware-SDK rule: the contiguous window of minimum rolling mean of the same
forecast, no guard) and ``oracle`` (the optimum on the truth). Savings are the total over all
sampled jobs against running each job at its reference time (nominal 01:00 for nightly, the
arrival time otherwise), as % and as a fraction of the oracle's saving. Planning time per job is
the median wall time of one ``plan()`` call.

    PYTHONPATH=src python bench/scheduling.py [--stride-h 25] [--zones DE,GB]

For quick iterations on the forecaster, ``--modes forecast,replan`` evaluates only those modes
(the oracle and run-now are always computed), ``--scenarios 1h/24h,nightly`` only those scenarios
and ``--days 17:180`` only the jobs whose window lies in that range of days from the
series' start (e.g. to tune on the first half of the year and check on the second).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _series import load, zones
from carbontrail.grid.forecast import forecast_series
from carbontrail.grid.series import IntensitySeries
from carbontrail.schedule.execute import SimulatedClock, SimulatedRunner, execute
from carbontrail.schedule.plan import (
    Interruptible,
    Job,
    Signal,
    plan,
    plan_contiguous,
    plan_interruptible,
    plan_rolling_mean,
)

H = 3600.0
PUBLISHED = {  # perfect-forecast savings from the issue (Wiesner et al. 2021 and the figures)
    ("nightly", "DE"): 13.9, ("nightly", "GB"): 8.6, ("nightly", "FR"): 6.5,
    ("1h/24h", "DE"): 22.3, ("1h/24h", "GB"): 26.1, ("1h/24h", "FR"): 16.1,
    ("1h/24h", "CISO"): 35.1, ("1h/24h", "PJM"): 6.6,
}


@dataclass(frozen=True)
class Scenario:
    name: str
    duration_h: float
    window_h: float  # from earliest to deadline
    interruptible: bool = False
    nightly: bool = False
    stride_h: float | None = None


SCENARIOS = (
    Scenario("nightly", 1, 18, nightly=True),
    Scenario("1h/24h", 1, 24),
    Scenario("6h/24h", 6, 24),
    Scenario("6h/24h-int", 6, 24, interruptible=True),
    Scenario("1h/week", 1, 7 * 24, stride_h=7 * 24 + 5),
)
MODES = ("perfect", "forecast", "fc-z0", "replan", "noise5", "noise10")


def realised(truth: IntensitySeries, chunks) -> float:
    """Sum of true intensity × hours over the chunks (a 1 kW job: g)."""
    tot = 0.0
    for a, b in chunks:
        i0 = (a.timestamp() - truth.start_s) / truth.step_s
        i1 = (b.timestamp() - truth.start_s) / truth.step_s
        lo, hi = math.floor(i0 + 1e-9), math.ceil(i1 - 1e-9)
        for i in range(lo, hi):
            w = min(i + 1, i1) - max(i, i0)
            tot += truth.values_g_per_kwh[i] * w * truth.step_s / H
    return tot


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--stride-h", type=float, default=25.0)
    ap.add_argument("--zones", default="")
    ap.add_argument("--error-band-z", type=float, default=0.5)
    ap.add_argument("--replan-every-nth", type=int, default=3,
                    help="simulate the re-planning executor on every n-th job only (it is slow); 0: never")
    ap.add_argument("--modes", default=",".join(MODES), help="comma-separated subset of " + ",".join(MODES))
    ap.add_argument("--scenarios", default="", help="comma-separated subset of scenario names")
    ap.add_argument("--days", default="", help="A:B: only jobs whose window lies A..B days after the series' start")
    ap.add_argument("--no-speed", action="store_true", help="skip the planner speed measurements")
    args = ap.parse_args()
    zs = args.zones.split(",") if args.zones else zones()
    modes = tuple(m for m in MODES if m in args.modes.split(","))
    scenarios = tuple(s for s in SCENARIOS if not args.scenarios or s.name in args.scenarios.split(","))
    day_lo, day_hi = (float(x) for x in args.days.split(":")) if args.days else (0.0, math.inf)
    t0_wall = time.perf_counter()
    rng = np.random.default_rng(20240301)
    # totals[scenario][zone][mode][method] = realised g ; plus run-now
    rows = []
    plan_t: dict[str, list[float]] = {s.name: [] for s in scenarios}
    replans: dict[str, list[int]] = {s.name: [] for s in scenarios}
    fc_t: list[float] = []
    for z in zs:
        truth = load(z)
        step = truth.step_s
        t_start = truth.start_s + max(17.0, day_lo) * 86400  # leave history for the forecaster
        t_end = min(truth.end_s - 8 * 86400, truth.start_s + day_hi * 86400)
        forecasts = Forecasts(truth, fc_t)
        for sc in scenarios:
            stride = (sc.stride_h or args.stride_h) * H
            tot = {m: {"plan": 0.0, "sdk": 0.0} for m in modes}
            tot_now = tot_oracle = 0.0
            tot_now_r: dict[str, float] = {}
            tot_orc_r: dict[str, float] = {}
            worst = 0.0
            njobs = 0
            t = t_start - (t_start % 86400) + 86400
            while t + sc.window_h * H < t_end:
                if sc.nightly:
                    nominal = t - (t % 86400) + 86400 + H  # 01:00 next day
                    earliest = nominal - 8 * H
                    run_now = nominal
                else:
                    earliest = t - (t % step)
                    run_now = earliest
                deadline = earliest + sc.window_h * H + (H if sc.nightly else 0.0)
                t += 86400 if sc.nightly else stride
                e_at = datetime.fromtimestamp(earliest, UTC)
                job = Job(
                    earliest_at=e_at,
                    deadline_at=datetime.fromtimestamp(deadline, UTC),
                    duration_s=sc.duration_h * H,
                    power_w=1000.0,
                    interruptible=Interruptible(min_chunk_s=H) if sc.interruptible else None,
                    run_now_at=datetime.fromtimestamp(run_now, UTC),
                    zones=(z,),
                )
                tw = truth.window(earliest, deadline)
                now_g = realised(truth, [(datetime.fromtimestamp(run_now, UTC),
                                          datetime.fromtimestamp(run_now + sc.duration_h * H, UTC))])
                orc = plan(job, Signal.single(tw, e_at), error_band_z=0)
                orc_g = realised(truth, orc.best_shift_chunks)
                tot_now += now_g
                tot_oracle += min(orc_g, now_g)
                njobs += 1
                for mode in modes:
                    if mode == "replan":
                        if not args.replan_every_nth or njobs % args.replan_every_nth:
                            continue
                        g, np_ = simulate(truth, job, args.error_band_z, forecasts)
                        tot_now_r[sc.name] = tot_now_r.get(sc.name, 0.0) + now_g
                        tot_orc_r[sc.name] = tot_orc_r.get(sc.name, 0.0) + min(orc_g, now_g)
                        tot[mode]["plan"] += g
                        tot[mode]["sdk"] = math.nan
                        replans[sc.name].append(np_)
                        worst = max(worst, g - now_g)
                        continue
                    if mode == "perfect":
                        f = tw
                    elif mode in ("forecast", "fc-z0"):
                        f = forecasts(earliest, deadline).window(earliest, deadline)
                    else:
                        sigma = 0.05 if mode == "noise5" else 0.10
                        noisy = tw.values_g_per_kwh * (1 + sigma * rng.standard_normal(len(tw)))
                        f = replace(tw, values_g_per_kwh=np.maximum(noisy, 0.0),
                                    uncertainty_rel=np.full(len(tw), sigma))
                    t0 = time.perf_counter()
                    p = plan(job, Signal.single(f, e_at), error_band_z=0.0 if mode == "fc-z0" else args.error_band_z)
                    if mode == "forecast":
                        plan_t[sc.name].append(time.perf_counter() - t0)
                    g = realised(truth, p.chunks)
                    tot[mode]["plan"] += g
                    n = round(sc.duration_h * H / step)
                    s = plan_rolling_mean(f.values_g_per_kwh, n)
                    a = datetime.fromtimestamp(f.start_s + s * step, UTC)
                    tot[mode]["sdk"] += realised(truth, [(a, a + timedelta(hours=sc.duration_h))])
            print(f"  .. {z} {sc.name}: {njobs} jobs", file=sys.stderr, flush=True)
            rows.append((sc.name, z, njobs, tot_now, tot_oracle, tot,
                         tot_now_r.get(sc.name, math.nan), tot_orc_r.get(sc.name, math.nan)))
    # report
    print(f"{'scenario':11} {'zone':5} {'jobs':>4} {'oracle%':>7} {'publ%':>6} | "
          + " | ".join(f"{m:>8} plan   sdk " for m in modes))
    frac: dict[str, dict[str, list[float]]] = {m: {"plan": [], "sdk": []} for m in modes}
    by_sc: dict[str, dict[str, list[float]]] = {m: {} for m in modes}
    worse: list[tuple[str, str, float]] = []
    for name, z, nj, now, orc, tot, now_r, orc_r in rows:
        osave = 100 * (1 - orc / now)
        pub = PUBLISHED.get((name, z))
        cells = []
        for m in modes:
            parts = []
            for meth in ("plan", "sdk"):
                if m == "replan":  # a subset of the jobs: compare with the oracle on that subset
                    sv = 100 * (1 - tot[m][meth] / now_r) if meth == "plan" else math.nan
                    osr = 100 * (1 - orc_r / now_r)
                    fr = sv / osr if osr > 1e-9 else float("nan")
                else:
                    sv = 100 * (1 - tot[m][meth] / now)
                    fr = sv / osave if osave > 1e-9 else float("nan")
                if math.isfinite(sv):
                    frac[m][meth].append(fr)
                    if meth == "plan":
                        by_sc[m].setdefault(name, []).append(fr)
                parts.append(f"{sv:5.1f}%({fr:4.2f})" if math.isfinite(sv) else f"{'-':>11}")
                if m in ("forecast", "fc-z0", "replan") and meth == "plan" and math.isfinite(sv):
                    worse.append((f"{name} ({m})", z, sv))
            cells.append(" ".join(parts))
        print(f"{name:11} {z:5} {nj:4d} {osave:6.1f}% {'' if pub is None else f'{pub:5.1f}%':>6} | "
              + " | ".join(cells))
    print("\nmean fraction of the oracle's saving over all scenario x series rows:")
    for m in modes:
        sdk_mean = np.mean(frac[m]["sdk"]) if frac[m]["sdk"] else math.nan
        print(f"  {m:8}: plan {np.mean(frac[m]['plan']):.3f}   sdk-baseline {sdk_mean:.3f}   per scenario: "
              + ", ".join(f"{k} {np.mean(v):.2f}" for k, v in by_sc[m].items()))
    for m in ("forecast", "fc-z0", "replan"):
        if m in modes:
            print(f"  with the built-in forecaster ({m}): mean fraction {np.nanmean(frac[m]['plan']):.3f}, "
                  f"rows below 85 %: {sum(1 for f in frac[m]['plan'] if f < 0.85)}/{len(frac[m]['plan'])}")
    if worse:
        w = min(worse, key=lambda r: r[2])
        print(f"worst row with the built-in forecaster: {w[0]} {w[1]} saving {w[2]:+.2f}% of run-now "
              f"({'OK' if w[2] >= -1.0 else 'MORE THAN 1% WORSE'})")
    if any(plan_t.values()):
        print("\nplanning time per job with the built-in forecast (median ms): "
              + ", ".join(f"{k} {1e3 * np.median(v):.2f}" for k, v in plan_t.items() if v))
    if fc_t:
        print(f"forecast_series call (median over {len(fc_t)} calls): {1e3 * np.median(fc_t):.2f} ms, "
              f"p95 {1e3 * np.quantile(fc_t, 0.95):.2f} ms")
    if any(replans.values()):
        print("plans made per job when re-planning hourly (mean): "
              + ", ".join(f"{k} {np.mean(v):.1f}" for k, v in replans.items() if v))
    print(f"wall time (jobs, before the speed section): {time.perf_counter() - t0_wall:.0f} s")
    if args.no_speed:
        return
    _speed()


class Forecasts:
    """The built-in forecaster on ``truth``, one forecast per origin.

    A forecast over a longer horizon extends one over a shorter horizon (the forecaster's contract,
    tested), so one forecast over ``horizon_s`` per origin serves every job and every re-plan made
    at that origin; the call times go to ``times``.
    """

    def __init__(self, truth: IntensitySeries, times: list[float], horizon_s: float = 8 * 86400.0) -> None:
        self.truth = truth
        self.times = times
        self.horizon_s = horizon_s
        self.cache: dict[float, IntensitySeries] = {}

    def __call__(self, now_s: float, until_s: float) -> IntensitySeries:
        """The forecast made at ``now_s`` covering ``[now_s, until_s)`` (it may run on a little further)."""
        f = self.cache.get(now_s)
        if f is None or f.end_s < until_s:
            if len(self.cache) > 2000:
                self.cache.clear()
            t0 = time.perf_counter()
            f = forecast_series(self.truth, now_s, max(self.horizon_s, until_s - now_s))
            self.times.append(time.perf_counter() - t0)
            self.cache[now_s] = f
        return f.window(f.start_s, until_s)


def simulate(truth: IntensitySeries, job: Job, z: float, forecasts: Forecasts) -> tuple[float, int]:
    """Run ``job`` through the executor on a simulated clock, re-planning on fresh forecasts.

    Re-plans hourly (every 6 h for the week-long window) and at every planned start.
    """
    clock = SimulatedClock(job.earliest_at.timestamp())

    def forecast(now_s: float, until_s: float) -> Signal:
        return Signal.single(forecasts(now_s, until_s), datetime.fromtimestamp(now_s, UTC))

    runner = SimulatedRunner(clock, float(job.duration_s or 0))
    window_h = (job.deadline_at - job.earliest_at).total_seconds() / H
    every = H if window_h <= 24 else 6 * H  # hourly; every 6 h over a week
    ex = execute(job, forecast, runner, clock=clock, replan_every_s=every, poll_s=truth.step_s, error_band_z=z)
    chunks = [(datetime.fromtimestamp(a, UTC), datetime.fromtimestamp(b, UTC)) for a, b in runner.intervals]
    return realised(truth, chunks), len(ex.plans)


def _speed() -> None:
    """One week at 5-minute resolution (2016 slots): contiguous, interruptible, SDK rule.

    Interruptible planning is checked against the target of <= 10 ms for a one-week horizon.
    """
    truth = load(zones()[0])
    v = np.repeat(truth.values_g_per_kwh[24 * 30 : 24 * 37], round(truth.step_s / 300))[:2016]
    series = IntensitySeries(start_s=0.0, step_s=300.0, values_g_per_kwh=v, provenance=truth.provenance)
    e = datetime.fromtimestamp(0, UTC)
    jobs = {
        "contiguous 2h plan()": Job(earliest_at=e, deadline_at=e + timedelta(days=7), duration_s=2 * H),
        "interruptible 6h, 30 min chunks, plan()": Job(
            earliest_at=e, deadline_at=e + timedelta(days=7), duration_s=6 * H,
            interruptible=Interruptible(min_chunk_s=1800, checkpoint_overhead_s=300)),
        "interruptible 6h, 30 min chunks, <= 3 pauses, plan()": Job(
            earliest_at=e, deadline_at=e + timedelta(days=7), duration_s=6 * H,
            interruptible=Interruptible(min_chunk_s=1800, max_pauses=3, checkpoint_overhead_s=300)),
    }
    sig = Signal.single(series, e)
    target_ms = 10.0

    def _report(label: str, ms: float) -> None:
        verdict = ""
        if "interruptible" in label:
            verdict = f"   target <= {target_ms:g} ms: {'OK' if ms <= target_ms else 'MISSED'}"
        print(f"  {label:52} {ms:8.3f} ms{verdict}")

    print("\none week at 5-minute resolution (2016 slots), median of repeated calls:")
    for label, job in jobs.items():
        reps = 200 if "contiguous" in label else 31
        ts = []
        for _ in range(reps):
            t0 = time.perf_counter()
            plan(job, sig)
            ts.append(time.perf_counter() - t0)
        _report(label, 1e3 * float(np.median(ts)))
    prof = np.full(24, 1000.0)
    for label, fn in (("contiguous solver alone (prefix sums)", lambda: plan_contiguous(v, prof)),
                      ("SDK rolling-mean minimum", lambda: plan_rolling_mean(v, 24)),
                      ("interruptible DP alone (6h, m=6, o=1)", lambda: plan_interruptible(
                          v, np.full(72, 1000.0), min_chunk=6, max_chunks=None, overhead=1,
                          overhead_power=1000.0))):
        reps = 31 if "DP" in label else 500
        ts = []
        for _ in range(reps):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
        _report(label, 1e3 * float(np.median(ts)))


if __name__ == "__main__":
    main()
