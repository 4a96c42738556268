"""Bundled series and user series files: resampling, gaps, and refusal of bad input."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
import pytest

from carbontrail.errors import GridError, UnitError, UnknownZoneError
from carbontrail.grid import bundled
from carbontrail.grid.loaders import load_series_csv, regularise
from carbontrail.provenance import IntensityProvenance

T0 = datetime(2024, 3, 1, tzinfo=UTC).timestamp()


def _write(tmp_path, text, name="s.csv"):
    p = tmp_path / name
    p.write_text(text)
    return p


def _iso(t):
    return datetime.fromtimestamp(t, tz=UTC).isoformat()


def test_bundled_zones_and_aliases():
    zones = bundled.series_zones()
    assert zones == sorted(["CISO", "ERCO", "MISO", "PJM", "SOCO", "BPAT", "AZPS", "NYIS", "DE", "GB", "FR"])
    ciso = bundled.load_series("CISO")
    assert bundled.load_series("us-cal-ciso") is ciso  # alias, case-insensitive, cached
    assert len(ciso) == 8760 and ciso.step_s == 3600
    assert ciso.start_s == datetime(2022, 1, 1, tzinfo=UTC).timestamp()
    assert ciso.provenance.signal == "average" and ciso.provenance.basis == "lifecycle"
    assert ciso.provenance.vintage == "2022" and "EIA-930" in ciso.provenance.dataset
    with pytest.raises(ValueError):
        ciso.values_g_per_kwh[0] = 1.0  # the cached copy is read-only


def test_bundled_gaps_are_interpolated_and_flagged():
    pjm = bundled.load_series("PJM")
    assert int(pjm.filled.sum()) == 23  # the 23 empty avg_CI cells in the file
    assert np.all(np.isfinite(pjm.values_g_per_kwh))
    i = int(np.flatnonzero(pjm.filled)[0])
    lo, hi = pjm.values_g_per_kwh[i - 1], pjm.values_g_per_kwh[i + 1 :][~pjm.filled[i + 1 :]][0]
    assert min(lo, hi) <= pjm.values_g_per_kwh[i] <= max(lo, hi)
    assert int(bundled.load_series("BPAT").filled.sum()) == 0


def test_bundled_2020_series_are_read_as_utc_and_resampled():
    gb = bundled.load_series("GB")
    assert gb.step_s == 1800  # the 15-min tail is averaged into 30-min intervals
    assert gb.start_s == datetime(2019, 12, 20, tzinfo=UTC).timestamp()
    assert "UTC" in gb.provenance.dataset
    de = bundled.load_series("DE")
    assert de.step_s == 900


def test_unknown_bundled_zone_suggests():
    with pytest.raises(UnknownZoneError, match="did you mean CISO"):
        bundled.load_series("CISOO")


def test_csv_resamples_quarter_hours_to_hours(tmp_path):
    rows = ["time,ci"] + [f"{_iso(T0 + 900 * i)},{100 + i}" for i in range(8)]
    s = load_series_csv(
        _write(tmp_path, "\n".join(rows)),
        time_column="time",
        value_column="ci",
        unit="g/kWh",
        zone="X",
        step_s=3600,
    )
    assert len(s) == 2 and s.start_s == T0
    assert s.values_g_per_kwh.tolist() == [101.5, 105.5]
    assert s.provenance.resolution_s == 3600 and s.provenance.vintage == "2024"
    assert len(s.provenance.data_digest) == 64


def test_csv_upsamples_by_holding_values(tmp_path):
    rows = ["time,ci", f"{_iso(T0)},100", f"{_iso(T0 + 3600)},200", f"{_iso(T0 + 7200)},300"]
    s = load_series_csv(
        _write(tmp_path, "\n".join(rows)),
        time_column="time",
        value_column="ci",
        unit="g/kWh",
        zone="X",
        step_s=1800,
    )
    assert s.values_g_per_kwh.tolist() == [100, 100, 200, 200, 300, 300]


def test_csv_gaps_interpolated_and_flagged(tmp_path):
    rows = ["time,ci", f"{_iso(T0)},100", f"{_iso(T0 + 3600)},", f"{_iso(T0 + 7200)},300"]
    rows.append(f"{T0 + 4 * 3600},500")  # POSIX seconds work too
    s = load_series_csv(
        _write(tmp_path, "\n".join(rows)), time_column="time", value_column="ci", unit="g/kWh", zone="X"
    )
    assert s.values_g_per_kwh.tolist() == [100, 200, 300, 400, 500]
    assert s.filled.tolist() == [False, True, False, True, False]
    with pytest.raises(GridError, match="gap"):
        load_series_csv(
            _write(tmp_path, "\n".join(rows)),
            time_column="time",
            value_column="ci",
            unit="g/kWh",
            zone="X",
            max_gap_s=1800,
        )


def test_csv_units_are_converted(tmp_path):
    rows = ["time,moer", f"{_iso(T0)},1000", f"{_iso(T0 + 300)},1000"]
    s = load_series_csv(
        _write(tmp_path, "\n".join(rows)),
        time_column="time",
        value_column="moer",
        unit="lbs/MWh",
        zone="X",
        signal="marginal",
    )
    assert s.values_g_per_kwh[0] == pytest.approx(453.59237)
    assert s.provenance.signal == "marginal" and s.step_s == 300


@pytest.mark.parametrize(
    ("body", "kwargs", "error", "match"),
    [
        ("time,ci\n2024-03-01T00:00:00,1\n2024-03-01T01:00:00,2", {}, GridError, "no time zone"),
        ("time,ci\n2024-03-01T00:00Z,nan\n2024-03-01T01:00Z,2", {}, UnitError, "NaN"),
        ("time,ci\n2024-03-01T00:00Z,inf\n2024-03-01T01:00Z,2", {}, UnitError, "not finite"),
        ("time,ci\n2024-03-01T00:00Z,-5\n2024-03-01T01:00Z,2", {}, UnitError, "negative"),
        ("time,ci\n2024-03-01T00:00Z,abc\n2024-03-01T01:00Z,2", {}, GridError, "cannot parse intensity"),
        ("time,ci\nyesterday,1\n2024-03-01T01:00Z,2", {}, GridError, "cannot parse timestamp"),
        ("time,ci\n2024-03-01T00:00Z,1\n2024-03-01T00:00Z,2", {}, GridError, "duplicate"),
        ("time,ci\n2024-03-01T00:00Z,1,7\n", {}, GridError, "fields"),
        ("when,ci\n2024-03-01T00:00Z,1\n", {}, GridError, "no column 'time'"),
        ("time,ci\n", {}, GridError, "no data rows"),
        ("", {}, GridError, "empty file"),
        ("time,ci\n2024-03-01T00:00Z,1\n2024-03-01T01:00Z,2", {"unit": "kWh"}, UnitError, "unknown unit"),
        ("time,ci\n2024-03-01T00:00Z,5000\n2024-03-01T01:00Z,2", {}, UnitError, "declared unit"),
        ("time,ci\n2024-03-01T00:00Z,900\n2024-03-01T01:00Z,2", {"unit": "g/Wh"}, UnitError, "unknown unit"),
        ("time,ci\n2024-03-01T00:00Z,1\n2024-03-01T01:00Z,2", {"signal": "avg"}, GridError, "signal"),
        ("time,ci\n2024-03-01T00:00Z,1\n2024-03-01T01:00Z,2", {"basis": "scope2"}, GridError, "basis"),
        ("time,ci\n2024-03-01T00:00,1\n", {"timezone": "Mars/Base"}, GridError, "unknown time zone"),
        ("time,ci\n2024-03-01T00:00Z,\n2024-03-01T01:00Z,", {}, GridError, "every value"),
    ],
)
def test_malformed_files_are_refused(tmp_path, body, kwargs, error, match):
    args = {"time_column": "time", "value_column": "ci", "unit": "g/kWh", "zone": "X", **kwargs}
    with pytest.raises(error, match=match):
        load_series_csv(_write(tmp_path, body), **args)


def test_naive_timestamps_with_declared_timezone(tmp_path):
    body = "time,ci\n2024-07-01T02:00:00,100\n2024-07-01T03:00:00,200\n"
    s = load_series_csv(
        _write(tmp_path, body),
        time_column="time",
        value_column="ci",
        unit="g/kWh",
        zone="DE",
        timezone="Europe/Berlin",
    )
    assert s.start_s == datetime(2024, 7, 1, 0, tzinfo=UTC).timestamp()  # CEST is UTC+2


def test_missing_file(tmp_path):
    with pytest.raises(GridError, match="no such series file"):
        load_series_csv(tmp_path / "nope.csv", time_column="t", value_column="v", unit="g/kWh", zone="X")


def test_parquet(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    times = [datetime.fromtimestamp(T0 + 3600 * i, tz=UTC) for i in range(4)]
    table = pa.table({"ts": pa.array(times, pa.timestamp("s", tz="UTC")), "ci": [10.0, None, 30.0, 40.0]})
    path = tmp_path / "s.parquet"
    pq.write_table(table, path)
    s = load_series_csv(path, time_column="ts", value_column="ci", unit="g/kWh", zone="X")
    assert s.values_g_per_kwh.tolist() == [10, 20, 30, 40]
    assert s.filled.tolist() == [False, True, False, False]
    naive_ts = pa.array([t.replace(tzinfo=None) for t in times], pa.timestamp("s"))
    naive = pa.table({"ts": naive_ts, "ci": [1.0] * 4})
    pq.write_table(naive, tmp_path / "n.parquet")
    with pytest.raises(GridError, match="no time zone"):
        load_series_csv(tmp_path / "n.parquet", time_column="ts", value_column="ci", unit="g/kWh", zone="X")
    (tmp_path / "bad.parquet").write_bytes(b"not parquet")
    with pytest.raises(GridError, match="Parquet"):
        load_series_csv(tmp_path / "bad.parquet", time_column="ts", value_column="ci", unit="g/kWh", zone="X")


def test_regularise_rejects_single_point_without_step():
    prov = IntensityProvenance(zone="X", source="series", dataset="d", vintage="v")
    with pytest.raises(GridError, match="single data point"):
        regularise([T0], [1.0], prov)
    s = regularise([T0], [7.0], prov, step_s=60)
    assert s.values_g_per_kwh.tolist() == [7.0] and not math.isnan(s.start_s)


def test_bundled_files_match_the_checksums_in_their_source_notes():
    import gzip
    import hashlib
    import re

    for folder in ("eia930-2022", "lets-wait-awhile-2020"):
        notes = bundled.data_path(f"{folder}/SOURCE.md").read_text()
        sums = dict(re.findall(r"\| (\w+\.csv) \|.*?\| ([0-9a-f]{64}) \|", notes))
        files = sorted(bundled.data_path(folder).glob("*.csv.gz"))
        assert files and len(sums) == len(files)
        for f in files:
            digest = hashlib.sha256(gzip.decompress(f.read_bytes())).hexdigest()
            assert sums[f.name[:-3]] == digest, f.name


def test_renewable_share_of_a_balancing_authority():
    ciso = bundled.load_renewable_share("CAISO")
    assert len(ciso.share) == 8760 and ciso.step_s == 3600 and ciso.vintage == "2022"
    assert np.all((ciso.share >= 0) & (ciso.share <= 1))
    # first hour of the file: WND 3130, SUN 1367, WAT 2304 of 16082 MWh
    assert ciso.share[0] == pytest.approx((3130 + 1367 + 2304) / 16082)
    assert bundled.load_renewable_share("BPAT").share.mean() > bundled.load_renewable_share("SOCO").share.mean()
    with pytest.raises(UnknownZoneError, match="no bundled generation mix"):
        bundled.load_renewable_share("FR")
