"""Intensity sources behind one port, and the fallback chain that ties them together.

:class:`BaseIntensitySource` is the port. Implementations here are offline:

* :class:`StaticFactors` — annual factors: Our World in Data / Ember for countries (lifecycle),
  EPA eGRID2023 for US states (direct, converted from lbs/MWh), and the annual mean of the bundled
  EIA-930 2022 series for balancing authorities; a constant series over any window.
* :class:`SeriesSource` — historical series: the bundled ones and any user file.

Live clients (Electricity Maps, WattTime, UK Carbon Intensity) live in
:mod:`carbontrail.grid.providers`; the ledger-backed cache in :mod:`carbontrail.grid.cache`.

:class:`FallbackChain` tries its sources in order (typically live, cache, series, annual factor) and
records every fallback it takes in ``provenance.fallbacks``; it raises only when every source failed.
"""

from __future__ import annotations

import abc
import json
import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from carbontrail.errors import GridError, UnknownZoneError
from carbontrail.grid import bundled
from carbontrail.grid.series import IntensitySeries
from carbontrail.grid.zones import lookup
from carbontrail.provenance import IntensityProvenance
from carbontrail.units import lbs_per_mwh_to_g_per_kwh

__all__ = [
    "ANNUAL_FACTOR_UNCERTAINTY_REL",
    "SECONDS_PER_YEAR",
    "BaseIntensitySource",
    "Factor",
    "FallbackChain",
    "IntensityValue",
    "SeriesSource",
    "StaticFactors",
    "canonical_zone",
]

log = logging.getLogger(__name__)

SECONDS_PER_YEAR = 365 * 86400.0
#: relative uncertainty recorded for an annual average applied to a particular hour. A judgement, not a
#: measurement: the bundled hourly series vary around their annual mean with a coefficient of variation
#: between about 0.1 (PJM, SOCO) and 0.4 (CISO, FR), so ±25 % is a fair single figure.
ANNUAL_FACTOR_UNCERTAINTY_REL = 0.25
#: relative uncertainty recorded for a measured hourly average series (grid data revisions, factor choice)
SERIES_UNCERTAINTY_REL = 0.10
_MAX_WINDOW_S = 50 * SECONDS_PER_YEAR


def canonical_zone(zone: str) -> str:
    """The canonical id of a known zone (aliases and cloud regions resolved); unknown names upper-cased.

    Unknown names are allowed here because a user's own series may describe a zone carbontrail does not
    know; sources that need a known zone raise :class:`UnknownZoneError` themselves.
    """
    try:
        return lookup(zone).zone_id
    except UnknownZoneError:
        if ":" in zone:
            raise
        return zone.strip().upper()


@dataclass(frozen=True)
class IntensityValue:
    """One intensity value and where it came from.

    Attributes:
        intensity_g_per_kwh: gCO2e/kWh.
        at_s: POSIX time (UTC) of the interval the value holds for.
        provenance: its provenance (``intensity_g_per_kwh`` there equals this value).
    """

    intensity_g_per_kwh: float
    at_s: float
    provenance: IntensityProvenance


class BaseIntensitySource(abc.ABC):
    """The intensity-source port.

    Contract (checked by :class:`carbontrail.testing.grid.IntensitySourceContract`):

    * :meth:`history` returns an :class:`IntensitySeries` that covers ``[start_s, end_s)`` entirely
      (``series.start_s <= start_s`` and ``series.end_s >= end_s``), whose ``provenance.zone`` is the
      canonical zone, with finite non-negative values; otherwise it raises a
      :class:`~carbontrail.errors.GridError` (``UnknownZoneError`` for zones it does not serve,
      ``ProviderError`` for a failed live call). It never returns partial data silently.
    * :meth:`latest` returns the value in force at ``at_s`` (for live sources: the provider's latest).
    * :meth:`forecast` is available when :attr:`supports_forecast` is true; otherwise it raises
      ``NotImplementedError``. Forecast series have ``provenance.estimated = True``.
    * Values are g/kWh; ``provenance.signal`` and ``provenance.basis`` label what they are.

    Attributes:
        name: short name recorded in fallbacks (``static-factors``, ``series``, ``electricitymaps``...).
        live: True for network clients (their results are written to the cache by the chain).
        supports_forecast: whether :meth:`forecast` works.
    """

    name: str = "source"
    live: bool = False
    supports_forecast: bool = False

    @abc.abstractmethod
    def history(self, zone: str, start_s: float, end_s: float) -> IntensitySeries:
        """Intensity over ``[start_s, end_s)`` (POSIX seconds, UTC)."""

    def latest(self, zone: str, at_s: float) -> IntensityValue:
        """The value in force at ``at_s``."""
        s = self.history(zone, at_s, at_s + 1.0)
        v = s.value_at(at_s)
        return IntensityValue(
            v, s.start_s + s.index_at(at_s) * s.step_s, replace(s.provenance, intensity_g_per_kwh=v)
        )

    def forecast(self, zone: str, now_s: float, horizon_s: float) -> IntensitySeries:
        """Forecast over ``[now_s, now_s + horizon_s)``; ``NotImplementedError`` if unsupported."""
        raise NotImplementedError(f"{self.name} has no forecast")

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources (HTTP clients)."""


def check_window(start_s: float, end_s: float) -> None:
    """Refuse non-finite, empty or absurdly long (over 50 years) windows with :class:`GridError`."""
    if not (math.isfinite(start_s) and math.isfinite(end_s)):
        raise GridError("window bounds must be finite")
    if end_s <= start_s:
        raise GridError(f"empty window: end {end_s} <= start {start_s}")
    if end_s - start_s > _MAX_WINDOW_S:
        raise GridError("window longer than 50 years")


@dataclass(frozen=True)
class Factor:
    """An annual emission factor with its source.

    Attributes:
        zone: zone it applies to.
        intensity_g_per_kwh: the factor, gCO2e/kWh.
        year: data year.
        dataset: dataset and publisher.
        basis: ``lifecycle`` or ``direct``.
        signal: always ``average`` for annual factors.
        licence: terms of the data.
        detail: e.g. the original value and unit.
    """

    zone: str
    intensity_g_per_kwh: float
    year: int
    dataset: str
    basis: str
    signal: str = "average"
    licence: str = ""
    detail: str = ""


_OWID = "Our World in Data carbon-intensity-electricity (Ember; Energy Institute)"
_EGRID = "US EPA eGRID2023 state CO2e output emission rate (STC2ERTA)"


def _load_factors() -> dict[str, Factor]:
    out: dict[str, Factor] = {}
    from carbontrail.grid.zones import all_zones

    alpha3 = {z.aliases[0]: z.zone_id for z in all_zones() if z.kind == "country" and z.aliases}
    owid = json.loads(bundled.data_path("owid-ember/global_energy_mix.json").read_text())
    for a3, row in owid.items():
        zid = alpha3.get(a3)
        ci = row.get("carbon_intensity")
        if zid is None or not isinstance(ci, int | float) or not math.isfinite(ci):
            continue
        out[zid] = Factor(
            zid,
            float(ci),
            int(row["year"]),
            _OWID,
            "lifecycle",
            licence="CC BY 4.0",
            detail=f"{row.get('country_name', a3)}, generation intensity",
        )
    egrid = json.loads(bundled.data_path("egrid-2023/usa_egrid2023_state_emissions.json").read_text())
    year = int(egrid.get("_source", {}).get("year", 2023))
    for key, row in egrid.items():
        if key.startswith("_") or len(str(row.get("regionCode", ""))) != 2:
            continue
        lbs = float(row["emissions"])
        zid = "US-" + row["regionCode"].upper()
        out[zid] = Factor(
            zid,
            lbs_per_mwh_to_g_per_kwh(lbs),
            year,
            _EGRID,
            "direct",
            licence="public domain (US EPA)",
            detail=f"{lbs} lbs/MWh",
        )
    return out


def _series_mean_factor(zone: str) -> Factor | None:
    """Annual factor of a bundled balancing authority: the mean of its bundled series (loaded on demand)."""
    b = bundled.BUNDLED.get(zone)
    if b is None:
        return None
    s = bundled.load_series(b.zone)
    return Factor(
        b.zone,
        float(np.mean(s.values_g_per_kwh)),
        int(b.vintage),
        f"annual mean of the bundled {b.dataset}",
        "lifecycle",
        licence=b.licence,
        detail=f"mean of {len(s)} intervals ({int(s.filled.sum())} interpolated)",
    )


class StaticFactors(BaseIntensitySource):
    """Annual average factors, offline: the default source of last resort.

    Countries (ISO alpha-2/alpha-3): Our World in Data / Ember, lifecycle, year per row (mostly 2022/2023).
    US states (``US-XX``): EPA eGRID2023, direct (stack) emissions, lbs/MWh converted to g/kWh.
    Bundled balancing authorities: the annual mean of their EIA-930 2022 series, lifecycle (computed
    on first use).
    A zone without its own factor but with a parent (a UK region -> ``GB``) gets the parent's factor,
    and the provenance records that in ``fallbacks``.

    Args:
        factors: extra or overriding :class:`Factor` rows keyed by zone id.
        uncertainty_rel: recorded uncertainty of an annual factor applied to one hour.
    """

    name = "static-factors"

    def __init__(
        self,
        factors: Mapping[str, Factor] | None = None,
        *,
        uncertainty_rel: float = ANNUAL_FACTOR_UNCERTAINTY_REL,
    ) -> None:
        self._extra = dict(factors or {})
        self._table: dict[str, Factor] | None = None
        self.uncertainty_rel = uncertainty_rel

    @property
    def table(self) -> dict[str, Factor]:
        """Every factor by zone id (loaded on first use)."""
        if self._table is None:
            self._table = {**_load_factors(), **self._extra}
        return self._table

    def factor(self, zone: str) -> tuple[Factor, tuple[str, ...]]:
        """The factor for ``zone`` and the fallbacks taken to find it (a parent zone's factor)."""
        z = lookup(zone)
        f = self.table.get(z.zone_id)
        if f is None:
            f = _series_mean_factor(z.zone_id)
            if f is not None:
                self.table[z.zone_id] = f
        if f is not None:
            return f, ()
        if z.parent and z.parent in self.table:
            return self.table[z.parent], (
                f"{self.name}: no annual factor for {z.zone_id}; used {z.parent}'s",
            )
        raise GridError(f"no annual factor for zone {z.zone_id}")

    def provenance(self, zone: str) -> IntensityProvenance:
        """Provenance of the annual factor of ``zone``."""
        f, fallbacks = self.factor(zone)
        return IntensityProvenance(
            zone=lookup(zone).zone_id,
            source=self.name,
            dataset=f"{f.dataset} [{f.zone}: {f.detail}]" if f.detail else f.dataset,
            vintage=str(f.year),
            signal=f.signal,
            basis=f.basis,
            resolution_s=SECONDS_PER_YEAR,
            intensity_g_per_kwh=f.intensity_g_per_kwh,
            fallbacks=fallbacks,
            uncertainty_rel=self.uncertainty_rel,
        )

    def history(self, zone: str, start_s: float, end_s: float) -> IntensitySeries:
        """A constant hourly series covering ``[start_s, end_s)``."""
        check_window(start_s, end_s)
        prov = self.provenance(zone)
        step = 3600.0
        s0 = math.floor(start_s / step) * step
        n = max(1, math.ceil((end_s - s0) / step))
        return IntensitySeries(s0, step, np.full(n, prov.intensity_g_per_kwh), prov)

    def latest(self, zone: str, at_s: float) -> IntensityValue:
        prov = self.provenance(zone)
        return IntensityValue(prov.intensity_g_per_kwh, at_s, prov)


class SeriesSource(BaseIntensitySource):
    """Historical series: the bundled ones plus any the user adds.

    A window outside a series' period is refused (``GridError``) so the chain falls back — unless
    ``replay=True``, which maps the window onto the series by whole 52-week shifts (keeping weekday and
    time of day) and marks the result ``estimated`` with the shift in its dataset label.

    Args:
        series: user series keyed by zone (they take precedence over bundled ones).
        bundled: include the bundled series.
        replay: allow the 52-week replay described above.
    """

    name = "series"

    def __init__(
        self,
        series: Mapping[str, IntensitySeries] | None = None,
        *,
        bundled: bool = True,
        replay: bool = False,
    ) -> None:
        self._series: dict[str, IntensitySeries] = {}
        self.use_bundled = bundled
        self.replay = replay
        for zone, s in (series or {}).items():
            self.add(s, zone)

    def add(self, series: IntensitySeries, zone: str | None = None) -> None:
        """Serve ``series`` for ``zone`` (default: its provenance zone)."""
        self._series[canonical_zone(zone or series.provenance.zone)] = series

    def add_file(self, path: str | Path, **kwargs: Any) -> IntensitySeries:
        """Load a CSV/Parquet file and serve it (arguments as for ``load_series_csv``)."""
        from carbontrail.grid.loaders import load_series_csv

        kwargs["zone"] = canonical_zone(kwargs["zone"])
        s = load_series_csv(path, **kwargs)
        self.add(s)
        return s

    def zones(self) -> list[str]:
        """Zones this source has a series for."""
        out = set(self._series)
        if self.use_bundled:
            out |= set(bundled.series_zones())
        return sorted(out)

    def series_for(self, zone: str) -> IntensitySeries:
        """The whole series of ``zone``; :class:`GridError` if there is none."""
        key = canonical_zone(zone)
        if key in self._series:
            return self._series[key]
        if self.use_bundled and bundled.canonical_series_zone(key):
            return bundled.load_series(key)
        raise GridError(f"no intensity series for zone {key}")

    def history(self, zone: str, start_s: float, end_s: float) -> IntensitySeries:
        check_window(start_s, end_s)
        s = self.series_for(zone)
        if s.start_s <= start_s and end_s <= s.end_s:
            return s.window(start_s, end_s)
        if not self.replay:
            raise GridError(
                f"the {s.provenance.zone} series ({s.provenance.dataset}) covers "
                f"{_iso(s.start_s)} to {_iso(s.end_s)}, not {_iso(start_s)} to {_iso(end_s)}"
            )
        week52 = 364 * 86400.0
        mid = (start_s + end_s) / 2
        k = round(((s.start_s + s.end_s) / 2 - mid) / week52)
        for kk in (k, k - 1, k + 1):
            shift = kk * week52
            if s.start_s <= start_s + shift and end_s + shift <= s.end_s:
                w = s.window(start_s + shift, end_s + shift)
                prov = replace(
                    w.provenance,
                    dataset=f"{w.provenance.dataset} "
                    f"(replayed {kk * 52:+d} weeks: same weekday and time of day)",
                    estimated=True,
                )
                return replace(w, start_s=w.start_s - shift, provenance=prov)
        raise GridError(f"window longer than the {s.provenance.zone} series; cannot replay")


def _iso(t_s: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(t_s, tz=UTC).isoformat(timespec="minutes")


def _reason(source: BaseIntensitySource, exc: BaseException) -> str:
    msg = str(exc) or type(exc).__name__
    if len(msg) > 300:
        msg = msg[:297] + "..."
    return f"{source.name}: {type(exc).__name__}: {msg}"


class FallbackChain(BaseIntensitySource):
    """Try sources in order; the first that answers wins, every failure before it is recorded.

    Typical order: live providers, then the ledger cache, then series, then annual factors — see
    :func:`carbontrail.grid.attribute.default_chain`. Any exception of a source (a provider's bug
    included) counts as a failure and is recorded in ``provenance.fallbacks`` as
    ``"<source>: <error type>: <message>"``; only when every source fails does the chain raise
    :class:`GridError` listing all reasons. Results from live sources are written to ``cache``.

    A live source that failed is skipped for ``cooldown_s`` seconds afterwards (recorded as
    ``"<source>: skipped: failed <n> s ago: <reason>"``), so a provider outage costs one timeout, not one
    per span.

    Args:
        sources: the sources, in order of preference.
        cache: an :class:`~carbontrail.grid.cache.IntensityCache` to store live results in.
        cooldown_s: how long to skip a live source after it failed (0 disables).
        clock: POSIX time source for the cooldown.
    """

    name = "fallback-chain"

    def __init__(
        self,
        sources: Sequence[BaseIntensitySource],
        *,
        cache: Any | None = None,
        cooldown_s: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not sources:
            raise GridError("a fallback chain needs at least one source")
        self.sources = list(sources)
        self.cache = cache
        self.cooldown_s = cooldown_s
        self.clock = clock
        self._failed: dict[int, tuple[float, str]] = {}

    @property
    def supports_forecast(self) -> bool:  # type: ignore[override]
        return any(s.supports_forecast for s in self.sources)

    def _run(self, what: str, zone: str, call: Any, sources: Iterable[BaseIntensitySource]) -> Any:
        failures: list[str] = []
        for src in sources:
            if src.live and id(src) in self._failed:
                at, why = self._failed[id(src)]
                ago = self.clock() - at
                if ago < self.cooldown_s:
                    failures.append(f"{src.name}: skipped: failed {ago:.0f} s ago: {why}")
                    continue
                del self._failed[id(src)]
            try:
                result = call(src)
            except NotImplementedError as exc:
                failures.append(_reason(src, exc))
                continue
            except Exception as exc:  # a provider must never fail the job: record and fall back
                level = logging.WARNING if src.live else logging.DEBUG  # offline misses are routine
                log.log(level, "%s %s for %s failed, falling back: %s", src.name, what, zone, exc)
                failures.append(_reason(src, exc))
                if src.live and self.cooldown_s > 0:
                    self._failed[id(src)] = (self.clock(), _reason(src, exc).split(": ", 1)[1])
                continue
            if src.live and self.cache is not None and isinstance(result, IntensitySeries):
                try:
                    self.cache.put(result, kind="forecast" if what == "forecast" else "actual")
                except Exception as exc:
                    log.warning("could not cache %s data for %s: %s", src.name, zone, exc)
            return result, tuple(failures)
        raise GridError(f"no source could give {what} for {zone}: " + "; ".join(failures))

    @staticmethod
    def _with_fallbacks(prov: IntensityProvenance, failures: tuple[str, ...]) -> IntensityProvenance:
        return replace(prov, fallbacks=failures + tuple(prov.fallbacks)) if failures else prov

    def history(self, zone: str, start_s: float, end_s: float) -> IntensitySeries:
        s, failures = self._run("history", zone, lambda src: src.history(zone, start_s, end_s), self.sources)
        return replace(s, provenance=self._with_fallbacks(s.provenance, failures))

    def latest(self, zone: str, at_s: float) -> IntensityValue:
        v, failures = self._run("latest", zone, lambda src: src.latest(zone, at_s), self.sources)
        return replace(v, provenance=self._with_fallbacks(v.provenance, failures))

    def forecast(self, zone: str, now_s: float, horizon_s: float) -> IntensitySeries:
        s, failures = self._run(
            "forecast", zone, lambda src: src.forecast(zone, now_s, horizon_s), self.sources
        )
        return replace(s, provenance=self._with_fallbacks(s.provenance, failures))

    def close(self) -> None:
        for s in self.sources:
            s.close()
