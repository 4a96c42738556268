"""Historical intensity series from files: CSV (optionally gzip) and Parquet.

Two layers:

* :func:`regularise` (pure) turns irregular timestamped values into an :class:`IntensitySeries` on a
  regular grid of ``step_s`` seconds. Each input value holds from its timestamp until the next one
  (capped at the file's typical spacing), and each output interval gets the time-weighted mean of
  the values covering it — so down-sampling averages and up-sampling repeats. An interval less than
  half covered by data (a gap, or a missing value) is linearly interpolated from its neighbours
  and flagged in ``IntensitySeries.filled``.
* :func:`load_series_csv` (adapter) reads a user's file with *declared* columns, unit, signal kind
  and basis, refusing anything ambiguous: a missing column, an unparseable row, an explicit NaN or
  infinity, a negative value, an unknown unit, implausible magnitudes (a likely unit mistake) and
  naive timestamps unless a time zone is declared.

Timestamps may be ISO 8601 strings (``2022-01-01T00:00:00+00:00``, ``...Z``) or POSIX seconds.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import math
from collections.abc import Iterable
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any

import numpy as np

from carbontrail.errors import GridError, UnitError
from carbontrail.grid.series import IntensitySeries
from carbontrail.provenance import IntensityProvenance
from carbontrail.units import parse_intensity_g_per_kwh

__all__ = ["BASES", "MAX_PLAUSIBLE_G_PER_KWH", "SIGNALS", "load_series_csv", "regularise"]

#: no electricity grid emits more than this per kWh (coal plants are ~1,000-1,200 g/kWh);
#: larger values almost always mean a wrongly declared unit
MAX_PLAUSIBLE_G_PER_KWH = 3000.0
SIGNALS = ("average", "marginal")
BASES = ("lifecycle", "direct")


def _check_kinds(signal: str, basis: str) -> None:
    if signal not in SIGNALS:
        raise GridError(f"signal must be one of {SIGNALS}, got {signal!r}")
    if basis not in BASES:
        raise GridError(f"basis must be one of {BASES}, got {basis!r}")


def regularise(
    times_s: Iterable[float],
    values_g_per_kwh: Iterable[float],
    provenance: IntensityProvenance,
    *,
    step_s: float | None = None,
    max_gap_s: float | None = None,
) -> IntensitySeries:
    """Resample irregular points to a regular :class:`IntensitySeries`. Pure.

    Args:
        times_s: POSIX seconds (UTC) of each point; any order; duplicates are an error.
        values_g_per_kwh: value per point, NaN marking a missing value (a gap to fill).
        provenance: provenance of the result (``resolution_s`` is set to the step).
        step_s: output interval width; default: the median spacing of the input.
        max_gap_s: refuse (``GridError``) gaps longer than this; default: interpolate any gap.

    Returns:
        A series starting at the first point's time floored to ``step_s``. Intervals less than half
        covered by data are linearly interpolated and flagged in ``filled``.
    """
    t = np.asarray(list(times_s) if not isinstance(times_s, np.ndarray) else times_s, dtype=float)
    v = np.asarray(
        list(values_g_per_kwh) if not isinstance(values_g_per_kwh, np.ndarray) else values_g_per_kwh,
        dtype=float,
    )
    if t.shape != v.shape or t.ndim != 1:
        raise GridError("times and values must be 1-D and of equal length")
    if t.size == 0:
        raise GridError(f"no data points for {provenance.zone}")
    if not np.all(np.isfinite(t)):
        raise GridError(f"non-finite timestamps in the {provenance.zone} data")
    order = np.argsort(t, kind="stable")
    t, v = t[order], v[order]
    diffs = np.diff(t)
    if diffs.size and np.any(diffs == 0):
        dup = t[1:][diffs == 0][0]
        when = datetime.fromtimestamp(dup, tz=UTC).isoformat()
        raise GridError(f"duplicate timestamp {when} in the {provenance.zone} data")
    if diffs.size:
        native_s = float(np.median(diffs))
    elif step_s is not None:
        native_s = float(step_s)
    else:
        raise GridError(f"a single data point for {provenance.zone}: declare step_s")
    step = float(step_s) if step_s is not None else native_s
    if not (math.isfinite(step) and step > 0):
        raise GridError(f"step_s must be positive, got {step_s}")
    # each point holds until the next timestamp, capped at the typical spacing
    hold = np.empty_like(t)
    if diffs.size:
        hold[:-1] = np.minimum(diffs, native_s)
        hold[-1] = min(float(diffs[-1]), native_s)
    else:
        hold[:] = native_s
    ok = np.isfinite(v)
    if not np.any(ok):
        raise GridError(f"every value for {provenance.zone} is missing")
    a, d, val = t[ok], hold[ok], v[ok]
    start = math.floor(t[0] / step) * step
    end = math.ceil((t[-1] + hold[-1]) / step) * step
    n = round((end - start) / step)
    edges = start + step * np.arange(n + 1)

    def integral(weights: np.ndarray) -> np.ndarray:
        # cumulative integral of the piecewise-constant function at each edge
        cum = np.concatenate([[0.0], np.cumsum(weights * d)])
        k = np.searchsorted(a, edges, side="right") - 1
        kc = np.clip(k, 0, a.size - 1)
        partial = np.where(k >= 0, weights[kc] * np.clip(edges - a[kc], 0.0, d[kc]), 0.0)
        return cum[np.clip(k, 0, None)] + partial

    sums = np.diff(integral(val))
    cover = np.diff(integral(np.ones_like(val)))
    frac = cover / step
    filled = frac < 0.5
    out = np.empty(n)
    good = ~filled
    out[good] = sums[good] / cover[good]
    if np.any(filled):
        centres = edges[:-1] + step / 2
        out[filled] = np.interp(centres[filled], centres[good], out[good])
        if max_gap_s is not None:
            runs = _longest_run(filled)
            if runs * step > max_gap_s:
                raise GridError(
                    f"the {provenance.zone} data has a gap of {runs * step:.0f} s, "
                    f"longer than max_gap_s={max_gap_s}"
                )
    prov = _replace(provenance, resolution_s=step)
    return IntensitySeries(
        start_s=float(start), step_s=step, values_g_per_kwh=out, provenance=prov, filled=filled
    )


def _longest_run(mask: np.ndarray) -> int:
    best = cur = 0
    for m in mask:
        cur = cur + 1 if m else 0
        best = max(best, cur)
    return best


def _replace(p: IntensityProvenance, **kw: Any) -> IntensityProvenance:
    from dataclasses import replace

    return replace(p, **kw)


def _zoneinfo(name: str | None) -> tzinfo | None:
    if name is None:
        return None
    if name.upper() in ("UTC", "Z", "GMT"):
        return UTC
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise GridError(
            f"unknown time zone {name!r} (use an IANA name such as 'UTC' or 'Europe/Berlin')"
        ) from exc


def _parse_time(raw: Any, tz: tzinfo | None, where: str) -> float:
    if isinstance(raw, datetime):
        dt = raw
    elif isinstance(raw, int | float) and not isinstance(raw, bool):
        if not math.isfinite(raw):
            raise GridError(f"{where}: timestamp {raw!r} is not finite")
        return float(raw)
    else:
        s = str(raw).strip()
        if not s:
            raise GridError(f"{where}: empty timestamp")
        try:
            return float(s)  # POSIX seconds
        except ValueError:
            pass
        try:
            dt = datetime.fromisoformat(s)
        except ValueError as exc:
            raise GridError(
                f"{where}: cannot parse timestamp {s!r} (ISO 8601 or POSIX seconds expected)"
            ) from exc
    if dt.tzinfo is None:
        if tz is None:
            raise GridError(
                f"{where}: timestamp {raw!s} has no time zone; declare one (timezone='UTC' or an IANA name) "
                "rather than letting carbontrail guess"
            )
        dt = dt.replace(tzinfo=tz)
    return dt.timestamp()


def _parse_value(raw: Any, unit_factor: float, where: str) -> float:
    if raw is None:
        return math.nan
    if isinstance(raw, float | int) and not isinstance(raw, bool):
        x = float(raw)
        if math.isnan(x):  # a null in a Parquet column: treat as missing
            return math.nan
    else:
        s = str(raw).strip()
        if s == "":
            return math.nan  # an empty cell marks a gap
        try:
            x = float(s)
        except ValueError as exc:
            raise GridError(f"{where}: cannot parse intensity value {s!r}") from exc
        if math.isnan(x):
            raise UnitError(f"{where}: value {s!r} is NaN; leave the cell empty to mark a gap")
    if not math.isfinite(x):
        raise UnitError(f"{where}: value {raw!r} is not finite")
    if x < 0:
        raise UnitError(f"{where}: negative intensity {raw!r}")
    return x * unit_factor


def _read_csv_rows(path: Path, time_column: str, value_column: str) -> tuple[list[str], list[str], bytes]:
    raw = path.read_bytes()
    data = gzip.decompress(raw) if path.suffix == ".gz" else raw
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise GridError(f"{path}: not a UTF-8 text file") from exc
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        raise GridError(f"{path}: empty file") from None
    header = [h.strip() for h in header]
    missing = [c for c in (time_column, value_column) if c not in header]
    if missing:
        raise GridError(f"{path}: no column {missing[0]!r} (columns: {', '.join(repr(h) for h in header)})")
    ti, vi = header.index(time_column), header.index(value_column)
    times: list[str] = []
    values: list[str] = []
    for lineno, row in enumerate(reader, start=2):
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != len(header):
            raise GridError(f"{path}:{lineno}: {len(row)} fields, header has {len(header)}")
        times.append(row[ti])
        values.append(row[vi])
    if not times:
        raise GridError(f"{path}: no data rows")
    return times, values, data


def _read_parquet_rows(path: Path, time_column: str, value_column: str) -> tuple[list[Any], list[Any], bytes]:
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise GridError("reading Parquet needs pyarrow: pip install 'carbontrail[parquet]'") from exc
    import pyarrow as pa

    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise GridError(f"{path}: not a readable Parquet file: {exc}") from exc
    names = table.column_names
    missing = [c for c in (time_column, value_column) if c not in names]
    if missing:
        raise GridError(f"{path}: no column {missing[0]!r} (columns: {', '.join(repr(h) for h in names)})")
    tcol = table.column(time_column)
    if pa.types.is_timestamp(tcol.type) and tcol.type.tz is None:
        times: list[Any] = [None if x is None else x.replace(tzinfo=None) for x in tcol.to_pylist()]
    else:
        times = tcol.to_pylist()
    if any(x is None for x in times):
        raise GridError(f"{path}: null timestamps in column {time_column!r}")
    return times, table.column(value_column).to_pylist(), path.read_bytes()


def load_series_csv(
    path: str | Path,
    *,
    time_column: str,
    value_column: str,
    unit: str,
    zone: str,
    signal: str = "average",
    basis: str = "lifecycle",
    timezone: str | None = None,
    step_s: float | None = None,
    max_gap_s: float | None = None,
    source: str = "series",
    dataset: str | None = None,
    vintage: str | None = None,
    uncertainty_rel: float = 0.0,
) -> IntensitySeries:
    """Load an intensity series from a CSV (``.csv``, ``.csv.gz``) or Parquet (``.parquet``) file.

    Args:
        path: the file.
        time_column: column of timestamps (ISO 8601 or POSIX seconds).
        value_column: column of intensity values; an empty cell (or a Parquet null) is a gap.
        unit: the values' unit, e.g. ``"g/kWh"``, ``"lbs/MWh"``, ``"kg/MWh"`` (see
            :data:`carbontrail.units.INTENSITY_UNITS`); required — carbontrail never guesses it.
        zone: the grid zone the series describes.
        signal: ``"average"`` or ``"marginal"``.
        basis: ``"lifecycle"`` or ``"direct"``.
        timezone: how to read naive timestamps (``"UTC"``, ``"Europe/Berlin"``); naive timestamps
            without it are refused.
        step_s: resample to this interval width (default: the file's median spacing).
        max_gap_s: refuse gaps longer than this (default: interpolate and flag any gap).
        source, dataset, vintage: provenance labels (defaults: ``"series"``, the file name, the
            years covered).
        uncertainty_rel: relative uncertainty to record in the provenance.

    Raises:
        GridError: missing file or column, malformed rows, naive timestamps, duplicates.
        UnitError: unknown unit, NaN, infinite, negative or implausible values.
    """
    p = Path(path)
    _check_kinds(signal, basis)
    factor = parse_intensity_g_per_kwh(1.0, unit)
    if not p.is_file():
        raise GridError(f"no such series file: {p}")
    tz = _zoneinfo(timezone)
    name = p.name.lower()
    if name.endswith((".parquet", ".pq")):
        raw_times, raw_values, data = _read_parquet_rows(p, time_column, value_column)
    else:
        raw_times, raw_values, data = _read_csv_rows(p, time_column, value_column)
    times = np.empty(len(raw_times))
    values = np.empty(len(raw_values))
    for i, (rt, rv) in enumerate(zip(raw_times, raw_values, strict=True)):
        where = f"{p.name} row {i + 2}"
        times[i] = _parse_time(rt, tz, where)
        values[i] = _parse_value(rv, factor, where)
    finite = values[np.isfinite(values)]
    if finite.size and float(finite.max()) > MAX_PLAUSIBLE_G_PER_KWH:
        raise UnitError(
            f"{p.name}: values up to {finite.max():.0f} g/kWh after converting from {unit!r} — "
            f"no grid is that intense (max plausible {MAX_PLAUSIBLE_G_PER_KWH:.0f}); "
            "is the declared unit right?"
        )
    first = datetime.fromtimestamp(float(np.nanmin(times)), tz=UTC).year
    last = datetime.fromtimestamp(float(np.nanmax(times)), tz=UTC).year
    prov = IntensityProvenance(
        zone=zone,
        source=source,
        dataset=dataset or f"file {p.name}",
        vintage=vintage or (str(first) if first == last else f"{first}-{last}"),
        signal=signal,
        basis=basis,
        data_digest=hashlib.sha256(data).hexdigest(),
        uncertainty_rel=uncertainty_rel,
    )
    return regularise(times, values, prov, step_s=step_s, max_gap_s=max_gap_s)
