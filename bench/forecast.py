"""Back-test of the blend forecaster against seasonal-naive (same time yesterday) on every bundled series.

For each series, forecast origins are taken every ``--stride-h`` hours from day 10 to the end;
at each origin the forecaster sees only the data before it. Errors at leads of 1, 6 and 24 hours
are compared with the seasonal-naive forecast (the value 24 h before the target). Figures are
medians over origins of the absolute error (g/kWh) and of the absolute percentage error, with the
ratio forecaster / naive (< 1 means the forecaster is better).

    PYTHONPATH=src python bench/forecast.py [--stride-h 13]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _series import load, zones
from carbontrail.grid.forecast import forecast_series

LEADS_H = (1, 6, 24)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--stride-h", type=float, default=13.0, help="hours between forecast origins")
    args = ap.parse_args()
    print(f"{'zone':6} {'lead':>5} {'MAE fc':>8} {'MAE naive':>9} {'ratio':>6} {'MAPE fc':>8} "
          f"{'MAPE nv':>8} {'ratio':>6} {'origins':>7}")
    ratios: dict[int, list[float]] = {h: [] for h in LEADS_H}
    t_calls: list[float] = []
    for z in zones():
        s = load(z)
        v = s.values_g_per_kwh
        step = s.step_s
        per_day = round(86400 / step)
        origins = np.arange(17 * per_day, len(s) - 24 * 3600 / step, args.stride_h * 3600 / step).astype(int)
        errs = {h: ([], [], [], []) for h in LEADS_H}
        for k in origins:
            now = s.start_s + k * step
            t0 = time.perf_counter()
            f = forecast_series(s, now, 24 * 3600)
            t_calls.append(time.perf_counter() - t0)
            for h in LEADS_H:
                i = round(h * 3600 / step) - 1  # the interval that starts h hours - 1 step after now
                truth = v[k + i]
                fc = f.values_g_per_kwh[i]
                nv = v[k + i - per_day]
                e = errs[h]
                e[0].append(abs(fc - truth))
                e[1].append(abs(nv - truth))
                e[2].append(abs(fc - truth) / truth)
                e[3].append(abs(nv - truth) / truth)
        for h in LEADS_H:
            a, b, c, d = (float(np.median(x)) for x in errs[h])
            ratios[h].append(a / b)
            print(f"{z:6} {h:>4}h {a:8.2f} {b:9.2f} {a / b:6.2f} {100 * c:7.2f}% {100 * d:7.2f}% "
                  f"{c / d:6.2f} {len(origins):7d}")
    print()
    for h in LEADS_H:
        r = np.asarray(ratios[h])
        print(f"lead {h:>2} h: median MAE ratio forecaster/naive over series {np.median(r):.2f} "
              f"(min {r.min():.2f}, max {r.max():.2f}; better on {int((r < 1).sum())}/{r.size} series)")
    print(f"forecast call: median {1e3 * np.median(t_calls):.1f} ms (24 h horizon, {len(t_calls)} calls)")


if __name__ == "__main__":
    main()
