"""Intensity series bundled with carbontrail (offline, no key needed).

* EIA-930 2022, hourly, eight US balancing authorities: ``CISO`` (California ISO), ``ERCO`` (ERCOT),
  ``MISO``, ``PJM``, ``SOCO`` (Southern Co.), ``BPAT`` (Bonneville), ``AZPS`` (Arizona Public Service),
  ``NYIS`` (New York ISO). Average, lifecycle, production-based; public domain (US EIA) via SustainDC (MIT).
* Let's Wait Awhile 2020 (ENTSO-E derived; Wiesner et al., Middleware 2021 — cite the paper): ``DE``
  (15 min), ``GB`` (30 min), ``FR`` (30 min). Average, lifecycle. The files' timestamps are naive; they
  follow a uniform clock (no DST jumps) and are **read as UTC** — the dataset label says so.

Zones accept aliases: Electricity Maps ids (``US-CAL-CISO``...) and common names (``CAISO``, ``ERCOT``...).
Gaps in the files are interpolated and flagged in ``IntensitySeries.filled``. Loaded series are cached per
process and read-only.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from carbontrail.errors import UnknownZoneError
from carbontrail.grid.loaders import load_series_csv
from carbontrail.grid.series import IntensitySeries

__all__ = [
    "BundledSeries",
    "ShareSeries",
    "bundled_info",
    "canonical_series_zone",
    "load_renewable_share",
    "load_series",
    "series_zones",
]


@dataclass(frozen=True)
class BundledSeries:
    """One bundled series file and how to read it."""

    zone: str
    name: str
    file: str
    time_column: str
    value_column: str
    step_s: float
    dataset: str
    vintage: str
    licence: str
    aliases: tuple[str, ...] = ()
    timezone: str | None = None
    country: str = "US"


_EIA = "US EIA Form EIA-930 hourly (2022) via SustainDC/HPE dc-rl"
_EIA_LIC = "public domain (US EIA); packaging MIT (HPE)"
_LWA = "Let's Wait Awhile 2020 (ENTSO-E; Wiesner et al., Middleware 2021); naive timestamps read as UTC"
_LWA_LIC = "ENTSO-E data, cite Wiesner et al. 2021 doi:10.1145/3464298.3493399"


def _eia(zone: str, name: str, aliases: tuple[str, ...]) -> BundledSeries:
    return BundledSeries(
        zone=zone,
        name=name,
        file=f"eia930-2022/{zone}.csv.gz",
        time_column="timestamp",
        value_column="avg_CI",
        step_s=3600.0,
        dataset=_EIA,
        vintage="2022",
        licence=_EIA_LIC,
        aliases=aliases,
    )


def _lwa(zone: str, name: str, file: str, step_s: float) -> BundledSeries:
    return BundledSeries(
        zone=zone,
        name=name,
        file=f"lets-wait-awhile-2020/{file}",
        time_column="Time",
        value_column="Carbon Intensity",
        step_s=step_s,
        dataset=_LWA,
        vintage="2020",
        licence=_LWA_LIC,
        timezone="UTC",
        country=zone,
    )


BUNDLED: dict[str, BundledSeries] = {
    b.zone: b
    for b in (
        _eia("CISO", "California ISO", ("US-CAL-CISO", "CAISO")),
        _eia("ERCO", "ERCOT (Texas)", ("US-TEX-ERCO", "ERCOT")),
        _eia("MISO", "Midcontinent ISO", ("US-MIDW-MISO",)),
        _eia("PJM", "PJM Interconnection", ("US-MIDA-PJM",)),
        _eia("SOCO", "Southern Company (GA/AL)", ("US-SE-SOCO",)),
        _eia("BPAT", "Bonneville Power Administration (WA/OR)", ("US-NW-BPAT", "BPA")),
        _eia("AZPS", "Arizona Public Service", ("US-SW-AZPS",)),
        _eia("NYIS", "New York ISO", ("US-NY-NYIS", "NYISO")),
        _lwa("DE", "Germany", "ger_ci.csv.gz", 900.0),
        _lwa("GB", "Great Britain", "gb_ci.csv.gz", 1800.0),
        _lwa("FR", "France", "fr_ci.csv.gz", 1800.0),
    )
}
_ALIASES: dict[str, str] = {a.upper(): b.zone for b in BUNDLED.values() for a in (b.zone, *b.aliases)}


def series_zones() -> list[str]:
    """Canonical zones that have a bundled series, sorted."""
    return sorted(BUNDLED)


def canonical_series_zone(zone: str) -> str | None:
    """The canonical bundled-series zone for ``zone`` or an alias of it (case-insensitive), else ``None``."""
    return _ALIASES.get(zone.strip().upper())


def bundled_info(zone: str) -> BundledSeries:
    """Description of the bundled series for ``zone`` (or an alias); :class:`UnknownZoneError` if none."""
    canon = canonical_series_zone(zone)
    if canon is None:
        import difflib

        close = difflib.get_close_matches(zone.upper(), list(_ALIASES), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise UnknownZoneError(
            f"no bundled series for zone {zone!r} (bundled: {', '.join(series_zones())}){hint}"
        )
    return BUNDLED[canon]


def data_path(relative: str) -> Path:
    """Filesystem path of a bundled grid data file (``relative`` to ``carbontrail/data/grid``)."""
    return Path(str(resources.files("carbontrail") / "data" / "grid" / relative))


def load_series(zone: str) -> IntensitySeries:
    """The bundled series of ``zone`` (canonical id or alias), gaps interpolated and flagged.

    The returned arrays are read-only (the series is cached per process).

    Raises:
        UnknownZoneError: no bundled series for ``zone`` (with close matches).
    """
    return _load(bundled_info(zone).zone)


@functools.cache
def _load(canon: str) -> IntensitySeries:
    b = BUNDLED[canon]
    s = load_series_csv(
        data_path(b.file),
        time_column=b.time_column,
        value_column=b.value_column,
        unit="g/kWh",
        zone=b.zone,
        signal="average",
        basis="lifecycle",
        timezone=b.timezone,
        step_s=b.step_s,
        source="series",
        dataset=b.dataset,
        vintage=b.vintage,
        uncertainty_rel=0.10,  # judgement: grid-data revisions and the choice of per-fuel factors
    )
    for arr in (s.values_g_per_kwh, s.filled, s.uncertainty_rel):
        arr.setflags(write=False)
    return s


@dataclass(frozen=True)
class ShareSeries:
    """Hourly share of renewable generation (0..1) — a policy signal, not an emissions factor.

    Renewable share is a poor objective on low-carbon nuclear grids; optimise carbon intensity and use this
    only where a policy asks for it.

    Attributes:
        zone: balancing authority.
        start_s: POSIX start of the first hour (UTC).
        step_s: 3600.
        share: (wind + solar + hydro) / net generation of all fuels, per hour.
        dataset: source label; ``vintage`` the data year.
    """

    zone: str
    start_s: float
    step_s: float
    share: np.ndarray
    dataset: str
    vintage: str


RENEWABLE_FUELS = ("WND", "SUN", "WAT")
_ALL_FUELS = ("WND", "SUN", "WAT", "OIL", "NG", "COL", "NUC", "OTH")


def load_renewable_share(zone: str) -> ShareSeries:
    """Hourly renewable share of a bundled EIA-930 balancing authority, from the fuel columns of its file.

    Raises:
        UnknownZoneError: not a bundled balancing authority (the 2020 DE/GB/FR files carry no fuel mix).
    """
    b = bundled_info(zone)
    if not b.file.startswith("eia930"):
        raise UnknownZoneError(f"no bundled generation mix for {b.zone} (only the EIA-930 balancing authorities)")
    return _share(b.zone)


@functools.cache
def _share(canon: str) -> ShareSeries:
    import csv
    import gzip
    import io
    from datetime import datetime

    b = BUNDLED[canon]
    rows = list(csv.DictReader(io.StringIO(gzip.decompress(data_path(b.file).read_bytes()).decode())))
    start = datetime.fromisoformat(rows[0]["timestamp"]).timestamp()
    share = np.empty(len(rows))
    for i, r in enumerate(rows):
        gen = [max(0.0, float(r[f] or 0.0)) for f in _ALL_FUELS]
        total = sum(gen)
        share[i] = sum(gen[:3]) / total if total > 0 else np.nan
    if np.isnan(share).any():  # hours without any generation reported: interpolate
        idx = np.arange(share.size)
        ok = ~np.isnan(share)
        share[~ok] = np.interp(idx[~ok], idx[ok], share[ok])
    share.setflags(write=False)
    return ShareSeries(canon, start, 3600.0, share, f"{b.dataset}, fuel columns {'+'.join(RENEWABLE_FUELS)}", b.vintage)
