"""Bundled series for the benchmarks: the grid loader when present, else the shared CSVs (stop-gap)."""

from __future__ import annotations

import csv
from datetime import datetime
from pathlib import Path

import numpy as np

from carbontrail.grid.series import IntensitySeries
from carbontrail.provenance import IntensityProvenance

DATA = Path("/work/shared/data/grid")
_FILES = {
    **{
        ba: ("eia930-2022", f"{ba}.csv", "avg_CI", 3600.0)
        for ba in ("AZPS", "BPAT", "CISO", "ERCO", "MISO", "NYIS", "PJM", "SOCO")
    },
    "DE": ("lets-wait-awhile-2020", "ger_ci.csv", "Carbon Intensity", 900.0),
    "GB": ("lets-wait-awhile-2020", "gb_ci.csv", "Carbon Intensity", 1800.0),
    "FR": ("lets-wait-awhile-2020", "fr_ci.csv", "Carbon Intensity", 1800.0),
}


def zones() -> list[str]:
    try:
        from carbontrail.grid.bundled import series_zones  # type: ignore[import-not-found]

        return list(series_zones())
    except ImportError:
        return list(_FILES)


def load(zone: str) -> IntensitySeries:
    try:
        from carbontrail.grid.bundled import load_series  # type: ignore[import-not-found]

        return load_series(zone)
    except ImportError:
        pass
    folder, name, col, step = _FILES[zone]
    ts, vals = [], []
    with open(DATA / folder / name, newline="") as fh:
        for row in csv.DictReader(fh):
            t = row.get("timestamp") or row.get("Time") or ""
            dt = datetime.fromisoformat(t)
            if dt.tzinfo is None:
                dt = dt.replace(tzinfo=__import__("datetime").UTC)  # LWA files are UTC (SOURCE.md)
            ts.append(dt.timestamp())
            vals.append(float(row[col]) if row[col] not in ("", None) else np.nan)
    t = np.asarray(ts)
    v = np.asarray(vals)
    start = t[0] - t[0] % step
    idx = ((t - start) // step).astype(int)
    n = idx.max() + 1
    s = np.bincount(idx, weights=np.nan_to_num(v), minlength=n)
    c = np.bincount(idx, weights=np.isfinite(v).astype(float), minlength=n)
    out = np.where(c > 0, s / np.maximum(c, 1), np.nan)
    good = np.isfinite(out)
    filled = ~good
    out = np.interp(np.arange(n), np.flatnonzero(good), out[good])
    prov = IntensityProvenance(zone=zone, source="series", dataset=folder, vintage=folder[-4:], resolution_s=step)
    return IntensitySeries(start_s=float(start), step_s=step, values_g_per_kwh=out, provenance=prov, filled=filled)
