"""Time-resolved emissions of spans, with provenance and stored factor snapshots.

The emissions of a span are the sum over its energy buckets of the bucket's energy times the intensity
in force during that bucket in the span's zone, times the site's PUE::

    emissions_g = pue * sum_b  energy_j[b] / 3.6e6 * intensity_g_per_kwh[b]

``intensity_g_per_kwh[b]`` is the time-weighted mean of the zone's series over the part of bucket ``b``
inside the span. The span's reported ``intensity_g_per_kwh`` is the energy-weighted mean grid intensity
(without PUE); its ``provenance`` is an :class:`~carbontrail.provenance.IntensityProvenance` dict with the
PUE and its source, the fallbacks taken, the digest of the data used and the id of the
``factor_snapshots`` row holding that data, so every number can be recomputed later.

Average and marginal, lifecycle and direct figures stay labelled; :class:`Emissions` and
:func:`total_emissions` refuse to add figures of different kinds.

Pure core: :func:`split_energy`, :func:`bucket_intensities`, :func:`attribute_span`. Adapter:
:func:`make_attributor` / :class:`Attributor` (sources, ledger, clock).
"""

from __future__ import annotations

import itertools
import logging
import math
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import numpy as np

from carbontrail.config import Settings
from carbontrail.errors import CarbontrailError, ConfigError, GridError, UnknownZoneError
from carbontrail.grid.series import IntensitySeries
from carbontrail.grid.sources import (
    BaseIntensitySource,
    FallbackChain,
    SeriesSource,
    StaticFactors,
    canonical_zone,
)
from carbontrail.grid.zones import lookup
from carbontrail.provenance import IntensityProvenance, digest
from carbontrail.span import SpanRecord
from carbontrail.units import check_finite, emissions_g

__all__ = [
    "LIVE_PROVIDERS",
    "Attributor",
    "Emissions",
    "attribute_span",
    "bucket_intensities",
    "default_chain",
    "make_attributor",
    "parse_series_spec",
    "serves_zone",
    "shift_span",
    "snapshot_record",
    "split_energy",
    "store_snapshot",
    "total_emissions",
]

log = logging.getLogger(__name__)

LIVE_PROVIDERS = ("electricitymaps", "watttime", "uk-carbon-intensity")
_PROVIDER_ALIASES = {
    "uk": "uk-carbon-intensity",
    "em": "electricitymaps",
    "electricitymap": "electricitymaps",
}


# -- pure core ----------------------------------------------------------------------------------
def split_energy(started_s: float, ended_s: float, energy_j: float, bucket_s: float) -> list[tuple[float, float]]:
    """Split ``energy_j`` over aligned buckets of ``bucket_s`` seconds in proportion to time (constant power).

    Returns ``[(bucket_start_s, energy_j), ...]`` summing to ``energy_j`` (the last bucket takes the
    rounding remainder). A zero-length window gives one bucket holding everything.
    """
    energy_j = check_finite(energy_j, "energy_j")
    if not (bucket_s > 0 and math.isfinite(bucket_s)):
        raise GridError(f"bucket_s must be positive, got {bucket_s}")
    if ended_s < started_s:
        raise GridError("a span cannot end before it starts")
    b0 = math.floor(started_s / bucket_s) * bucket_s
    if ended_s == started_s:
        return [(b0, energy_j)]
    out: list[tuple[float, float]] = []
    duration = ended_s - started_s
    b = b0
    acc = 0.0
    while b < ended_s:
        lo, hi = max(b, started_s), min(b + bucket_s, ended_s)
        e = energy_j * (hi - lo) / duration
        out.append((b, e))
        acc += e
        b += bucket_s
    out[-1] = (out[-1][0], energy_j - math.fsum(e for _, e in out[:-1]))
    return out


def bucket_intensities(
    series: IntensitySeries,
    buckets: Sequence[tuple[float, float]],
    bucket_s: float,
    started_s: float,
    ended_s: float,
) -> np.ndarray:
    """Intensity (g/kWh) applying to each bucket: the time-weighted series mean over the bucket's part
    inside ``[started_s, ended_s]`` (the value at that instant for a zero-length part). Pure."""
    out = np.empty(len(buckets))
    s0, step, v = series.start_s, series.step_s, series.values_g_per_kwh
    n = len(v)
    for i, (b, _) in enumerate(buckets):
        lo = max(b, started_s)
        hi = min(b + bucket_s, ended_s)
        if hi <= lo:
            t = min(max(lo, series.start_s), series.end_s - 1e-9)
            out[i] = series.value_at(t)
            continue
        i0 = int((lo - s0) // step)
        i1 = math.ceil((hi - s0) / step)
        if i0 < 0 or i1 > n:
            raise GridError(f"the {series.provenance.zone} series does not cover bucket {b}")
        if i1 - i0 == 1:  # the bucket lies within one interval
            out[i] = v[i0]
            continue
        vals = v[i0:i1]
        if np.all(vals == vals[0]):  # one value: no averaging (and no rounding)
            out[i] = float(vals[0])
            continue
        starts = s0 + step * np.arange(i0, i1)
        overlap = np.minimum(starts + step, hi) - np.maximum(starts, lo)
        out[i] = float(np.dot(overlap, vals) / overlap.sum())
    return out


def shift_span(span: SpanRecord, to_s: float, bucket_s: float) -> SpanRecord:
    """The same work moved in time: a what-if copy of ``span`` starting near ``to_s``. Pure.

    The shift is rounded to whole buckets so the energy profile (``buckets``) moves unchanged; the copy
    gets a new id derived from the original and the shift, a ``what_if_shift_s`` tag, and no emissions.
    Use it to show the same job's emissions at different hours, or what a deferral would have saved.
    """
    from dataclasses import replace as dc_replace
    from datetime import timedelta

    offset = round((to_s - span.started_at.timestamp()) / bucket_s) * bucket_s
    return dc_replace(
        span,
        span_id=digest([span.span_id, offset])[:32],
        started_at=span.started_at + timedelta(seconds=offset),
        ended_at=span.ended_at + timedelta(seconds=offset),
        buckets=[(float(b) + offset, e) for b, e in span.buckets],
        tags={**span.tags, "what_if_shift_s": f"{offset:g}"},
        emissions_g=None,
        intensity_g_per_kwh=None,
        provenance=None,
    )


def span_bucket_s(span: SpanRecord, default_s: float) -> float:
    """Bucket width of ``span``: the spacing of its bucket starts when it has two or more, else ``default_s``
    (a span recorded under another ``bucket_s`` setting is still attributed correctly)."""
    starts = sorted({float(b) for b, _ in span.buckets})
    if len(starts) < 2:
        return default_s
    return min(b - a for a, b in itertools.pairwise(starts))


def _buckets_of(span: SpanRecord, bucket_s: float) -> tuple[list[tuple[float, float]], float | None]:
    """The span's buckets, made to sum to its energy (returns the rescale factor applied, if any)."""
    t0, t1 = span.started_at.timestamp(), span.ended_at.timestamp()
    bks = [(float(a), float(e)) for a, e in span.buckets]
    total = math.fsum(e for _, e in bks)
    if not bks or total <= 0:
        return split_energy(t0, t1, span.energy_j, bucket_s), None
    if math.isclose(total, span.energy_j, rel_tol=1e-9, abs_tol=1e-12):
        return bks, None
    factor = span.energy_j / total
    return [(a, e * factor) for a, e in bks], factor


def attribute_span(
    span: SpanRecord,
    series: IntensitySeries,
    *,
    bucket_s: float,
    pue: float = 1.0,
    pue_source: str = "default 1.0 (no PUE stated)",
    snapshot_id: str | None = None,
    data_digest: str | None = None,
    base_provenance: dict[str, Any] | None = None,
) -> SpanRecord:
    """A copy of ``span`` with ``emissions_g``, ``intensity_g_per_kwh`` and ``provenance`` filled. Pure.

    ``base_provenance`` may pass ``series.provenance.to_dict()`` computed once for a batch (speed only).

    ``series`` must cover the span's buckets. Energy per distinct intensity is summed first and the
    remainder assigned to the last group, so a constant series gives exactly
    ``units.emissions_g(span.energy_j, value) * pue``.
    """
    pue = check_finite(pue, "pue")
    if pue < 1.0:
        raise GridError(f"PUE must be >= 1.0, got {pue}")
    t0, t1 = span.started_at.timestamp(), span.ended_at.timestamp()
    bks, rescaled = _buckets_of(span, bucket_s)
    intens = bucket_intensities(series, bks, bucket_s, t0, t1)
    groups: dict[float, float] = defaultdict(float)
    order: list[float] = []
    for (_, e), v in zip(bks, intens, strict=True):
        if float(v) not in groups:
            order.append(float(v))
        groups[float(v)] += e
    # energies per intensity, the last group taking the remainder so they add up to energy_j exactly
    energies = [groups[v] for v in order]
    energies[-1] = span.energy_j - math.fsum(energies[:-1])
    grid_g = math.fsum(emissions_g(max(e, 0.0), v) for e, v in zip(energies, order, strict=True))
    total_g = grid_g * pue
    if len(order) == 1:
        mean_i = order[0]
    elif span.energy_j > 0:
        mean_i = math.fsum(max(e, 0.0) * v for e, v in zip(energies, order, strict=True)) / span.energy_j
    else:
        mean_i = float(np.mean(intens))
    d = dict(base_provenance if base_provenance is not None else series.provenance.to_dict())
    d.update(
        intensity_g_per_kwh=mean_i,
        pue=pue,
        pue_source=pue_source,
        snapshot_id=snapshot_id,
        data_digest=data_digest or series.provenance.data_digest,
        fallbacks=list(d.get("fallbacks") or ()),
    )
    d["bucket_s"] = bucket_s
    d["buckets_intensity_g_per_kwh"] = [[a, e, float(v)] for (a, e), v in zip(bks, intens, strict=True)]
    if rescaled is not None:
        d["buckets_rescaled_by"] = rescaled
    return span.with_emissions(total_g, mean_i, d)


@dataclass(frozen=True)
class Emissions:
    """An emissions figure with its kind; adding figures of different kinds raises :class:`GridError`.

    Attributes:
        emissions_g: grams CO2e.
        signal: ``average`` or ``marginal``.
        basis: ``lifecycle`` or ``direct``.
    """

    emissions_g: float
    signal: str
    basis: str

    def __add__(self, other: Emissions) -> Emissions:
        if not isinstance(other, Emissions):
            return NotImplemented
        if (self.signal, self.basis) != (other.signal, other.basis):
            raise GridError(
                f"refusing to add {self.signal}/{self.basis} and {other.signal}/{other.basis} emissions; "
                "report them separately (see total_emissions(..., by_kind=True))"
            )
        return Emissions(self.emissions_g + other.emissions_g, self.signal, self.basis)

    @classmethod
    def of(cls, span: SpanRecord) -> Emissions:
        """The attributed emissions of a span; :class:`GridError` if it has none."""
        if span.emissions_g is None or not span.provenance:
            raise GridError(f"span {span.span_id} has no attributed emissions")
        return cls(
            span.emissions_g,
            span.provenance.get("signal", "average"),
            span.provenance.get("basis", "lifecycle"),
        )


def total_emissions(spans: Iterable[SpanRecord], *, by_kind: bool = False) -> Emissions | dict[tuple[str, str], float]:
    """Total attributed emissions of ``spans`` (spans without emissions are skipped).

    With ``by_kind=False`` (default) all spans must share one signal and basis, else :class:`GridError`;
    with ``by_kind=True`` returns ``{(signal, basis): grams}``.
    """
    sums: dict[tuple[str, str], list[float]] = defaultdict(list)
    for s in spans:
        if s.emissions_g is None or not s.provenance:
            continue
        e = Emissions.of(s)
        sums[(e.signal, e.basis)].append(e.emissions_g)
    grouped = {k: math.fsum(v) for k, v in sums.items()}
    if by_kind:
        return grouped
    if len(grouped) > 1:
        kinds = ", ".join(f"{a}/{b}" for a, b in sorted(grouped))
        raise GridError(f"spans mix emission kinds ({kinds}); use by_kind=True to report them separately")
    if not grouped:
        return Emissions(0.0, "average", "lifecycle")
    (sig, basis), g = next(iter(grouped.items()))
    return Emissions(g, sig, basis)


def snapshot_record(series: IntensitySeries, retrieved_at: datetime) -> dict[str, Any]:
    """The ``factor_snapshots`` row for the data of ``series``; ``snapshot_id`` is a digest of it. Pure."""
    p = series.provenance
    if p.source in ("static-factors", "stated") and np.all(series.values_g_per_kwh == series.values_g_per_kwh[0]):
        data: Any = {"value": float(series.values_g_per_kwh[0])}
    else:
        data = [[float(t), float(v)] for t, v in zip(series.times_s, series.values_g_per_kwh, strict=True)]
    meta = {
        "zone": p.zone,
        "source": p.source,
        "dataset": p.dataset[:300],
        "vintage": p.vintage[:64],
        "signal": p.signal,
        "basis": p.basis,
        "resolution_s": float(p.resolution_s),
    }
    return {**meta, "snapshot_id": digest({**meta, "data": data}), "retrieved_at": retrieved_at, "data": data}


def store_snapshot(ledger: Any, row: dict[str, Any]) -> str:
    """Insert a snapshot row into ``factor_snapshots`` unless it is already there; return its id."""
    from carbontrail.ledger.schema import factor_snapshots

    with ledger.write() as conn:
        conn.execute(ledger.insert_ignore(factor_snapshots), [row])
    return str(row["snapshot_id"])


# -- adapters ------------------------------------------------------------------------------------
def parse_series_spec(spec: str) -> tuple[Path, dict[str, Any]]:
    """Parse a series-file spec ``PATH?unit=..&time=COL&value=COL&signal=..&basis=..&tz=..&zone=..&step=..``.

    ``unit`` is required; ``time`` defaults to ``timestamp``, ``value`` to ``intensity``. Returns the path
    and keyword arguments for :func:`~carbontrail.grid.loaders.load_series_csv` (without ``zone`` unless
    given).
    """
    path, _, query = spec.partition("?")
    q = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
    known = {"unit", "time", "value", "signal", "basis", "tz", "zone", "step"}
    bad = set(q) - known
    if bad:
        raise ConfigError(f"series spec {spec!r}: unknown keys {sorted(bad)} (known: {sorted(known)})")
    if "unit" not in q:
        raise ConfigError(f"series spec {spec!r}: declare the unit, e.g. '{path}?unit=g/kWh'")
    kw: dict[str, Any] = {
        "time_column": q.get("time", "timestamp"),
        "value_column": q.get("value", "intensity"),
        "unit": q["unit"],
        "signal": q.get("signal", "average"),
        "basis": q.get("basis", "lifecycle"),
    }
    if "tz" in q:
        kw["timezone"] = q["tz"]
    if "zone" in q:
        kw["zone"] = q["zone"]
    if "step" in q:
        from carbontrail.units import parse_duration_s

        kw["step_s"] = parse_duration_s(q["step"])
    return Path(path).expanduser(), kw


class _Unavailable(BaseIntensitySource):
    """A configured source that cannot be built; every call fails with the reason (recorded as a fallback)."""

    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        self.reason = reason

    def history(self, zone: str, start_s: float, end_s: float) -> IntensitySeries:
        raise GridError(self.reason)


def serves_zone(src: BaseIntensitySource, zone: str) -> bool:
    """Whether the live source ``src`` covers ``zone`` (the UK API: Great Britain only)."""
    from carbontrail.grid.providers import ElectricityMaps, UKCarbonIntensity

    if isinstance(src, UKCarbonIntensity):
        return zone == "GB" or zone.startswith("GB-R")
    if isinstance(src, ElectricityMaps):
        try:
            src.em_zone(zone)
        except CarbontrailError:
            return False
    return True


def live_sources(settings: Settings, **http: Any) -> list[BaseIntensitySource]:
    """The live providers named in ``settings.grid_providers`` (empty: offline).

    ``http`` goes to each client (:class:`~carbontrail.grid.providers.HttpSource`); defaults: the settings'
    timeout and one retry, so that an outage costs at most two timeouts before the chain falls back.
    """
    from carbontrail.grid import providers as P

    out: list[BaseIntensitySource] = []
    raw_names = settings.grid_providers
    if isinstance(raw_names, str):
        raw_names = tuple(raw_names.split(","))
    names = [n.strip().lower() for n in raw_names if n.strip()]
    http.setdefault("timeout_s", settings.provider_timeout_s)
    http.setdefault("retries", 1)  # attribution must not stall ingestion: one retry, then fall back
    for raw in names:
        name = _PROVIDER_ALIASES.get(raw, raw)
        try:
            if name == "electricitymaps":
                out.append(
                    P.ElectricityMaps(
                        settings.electricitymaps_token or "", base_url=settings.electricitymaps_url, **http
                    )
                )
            elif name == "watttime":
                out.append(
                    P.WattTime(
                        settings.watttime_username or "",
                        settings.watttime_password or "",
                        base_url=settings.watttime_url,
                        **http,
                    )
                )
            elif name == "uk-carbon-intensity":
                out.append(P.UKCarbonIntensity(base_url=settings.uk_carbon_intensity_url, **http))
            else:
                raise ConfigError(f"unknown grid provider {raw!r} (known: {', '.join(LIVE_PROVIDERS)})")
        except CarbontrailError as exc:
            log.warning("grid provider %s not used: %s", raw, exc)
            out.append(_Unavailable(name, str(exc)))
    return out


def default_chain(
    settings: Settings,
    ledger: Any | None = None,
    *,
    zone: str | None = None,
    live: Sequence[BaseIntensitySource] | None = None,
    series: SeriesSource | None = None,
) -> FallbackChain:
    """The standard chain: live providers (``settings.grid_providers``) serving ``zone``, the ledger cache
    (with a ledger), series (bundled + ``settings.grid_series``), then annual factors."""
    from carbontrail.grid.cache import CachedSource, IntensityCache

    srcs: list[BaseIntensitySource] = []
    live_list = list(live) if live is not None else live_sources(settings)
    srcs += [s for s in live_list if zone is None or serves_zone(s, zone)]
    cache = IntensityCache(ledger) if ledger is not None else None
    if cache is not None and live_list:
        srcs.append(CachedSource(cache))
    srcs.append(series if series is not None else settings_series(settings))
    srcs.append(StaticFactors())
    return FallbackChain(srcs, cache=cache)


def settings_series(settings: Settings) -> SeriesSource:
    """A :class:`SeriesSource`: the bundled series plus ``settings.grid_series`` (for ``settings.zone``)."""
    src = SeriesSource()
    spec = settings.grid_series
    if spec:
        path, kw = parse_series_spec(spec)
        kw.setdefault("zone", settings.zone)
        if not kw.get("zone"):
            raise ConfigError("grid_series needs a zone: set zone (CARBONTRAIL_ZONE) or add '&zone=..' to the spec")
        src.add_file(path, **kw)
    return src


def _stated_series(value: float, t0: float, t1: float) -> IntensitySeries:
    prov = IntensityProvenance(
        zone="(stated)",
        source="stated",
        dataset="factor stated in settings (intensity_g_per_kwh); signal and basis assumed average/lifecycle",
        vintage="stated",
        signal="average",
        basis="lifecycle",
        resolution_s=0.0,
        intensity_g_per_kwh=value,
    )
    s0 = math.floor(t0 / 3600) * 3600
    return IntensitySeries(s0, 3600.0, np.full(max(1, math.ceil((t1 - s0) / 3600) + 1), value), prov)


class Attributor:
    """Fills emissions, intensity and provenance of spans from grid data (see :func:`make_attributor`).

    Args:
        settings: zone, PUE and its source, bucket width, stated factor, providers, series file.
        ledger: where factor snapshots (and the live-data cache) go; ``None``: snapshots are not stored.
        chain_for: ``zone -> source`` (default :func:`default_chain` per zone, built once).
        clock: POSIX time source for ``retrieved_at`` of offline data.
    """

    def __init__(
        self,
        settings: Settings,
        ledger: Any | None = None,
        *,
        chain_for: Callable[[str], BaseIntensitySource] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.ledger = ledger
        self.clock = clock
        self._chains: dict[str, BaseIntensitySource] = {}
        self._chain_for = chain_for
        self._series: SeriesSource | None = None
        self._live: list[BaseIntensitySource] | None = None
        self._lock = threading.Lock()  # one batch at a time (chains, cooldowns, caches are shared)

    def chain(self, zone: str) -> BaseIntensitySource:
        """The source used for ``zone`` (built on first use)."""
        if zone not in self._chains:
            if self._chain_for is not None:
                self._chains[zone] = self._chain_for(zone)
            else:
                if self._series is None:
                    self._series = settings_series(self.settings)
                    self._live = live_sources(self.settings)
                self._chains[zone] = default_chain(
                    self.settings, self.ledger, zone=zone, live=self._live, series=self._series
                )
        return self._chains[zone]

    def _zone_of(self, span: SpanRecord) -> str | None:
        name = span.zone or self.settings.zone
        if not name:
            return None
        try:
            return lookup(name).zone_id
        except UnknownZoneError:
            # a zone carbontrail does not know is fine when the user gave a series for it
            if self._chain_for is None and ":" not in name:
                if self._series is None:
                    self._series = settings_series(self.settings)
                    self._live = live_sources(self.settings)
                if canonical_zone(name) in self._series.zones():
                    return canonical_zone(name)
            raise

    def __call__(self, spans: Sequence[SpanRecord]) -> list[SpanRecord]:
        with self._lock:
            return self._call(spans)

    def _call(self, spans: Sequence[SpanRecord]) -> list[SpanRecord]:
        out: list[SpanRecord | None] = [None] * len(spans)
        by_zone: dict[str, list[int]] = defaultdict(list)
        stated: list[int] = []
        for i, sp in enumerate(spans):
            try:
                zone = self._zone_of(sp)
            except UnknownZoneError as exc:
                log.error("span %s not attributed: %s", sp.span_id, exc)
                out[i] = sp
                continue
            if zone is not None:
                by_zone[zone].append(i)
            elif self.settings.intensity_g_per_kwh is not None:
                stated.append(i)
            else:
                out[i] = sp  # no zone, no stated factor: left alone, never a silent default
        bucket_s = self.settings.bucket_s
        for zone, idx in ((z, c) for z, ix in by_zone.items() for c in self._clusters(spans, ix)):
            group = [spans[i] for i in idx]
            t0, t1 = self._extent(group, bucket_s)
            try:
                series = self.chain(zone).history(zone, t0, t1)
            except CarbontrailError as exc:
                log.error("no intensity for %s: %s; %d spans left without emissions", zone, exc, len(idx))
                for i in idx:
                    out[i] = spans[i]
                continue
            self._attribute(group, idx, series, out, bucket_s)
        if stated:
            group = [spans[i] for i in stated]
            t0, t1 = self._extent(group, bucket_s)
            value = float(self.settings.intensity_g_per_kwh or 0.0)
            self._attribute(group, stated, _stated_series(value, t0, t1), out, bucket_s)
        return [o if o is not None else spans[i] for i, o in enumerate(out)]

    @staticmethod
    def _clusters(spans: Sequence[SpanRecord], idx: list[int], gap_s: float = 86400.0) -> list[list[int]]:
        """Split spans of one zone into groups whose time extents lie within ``gap_s`` of each other,
        so one old span does not force a whole batch onto a coarser fallback."""
        order = sorted(idx, key=lambda i: spans[i].started_at)
        out: list[list[int]] = []
        end = -math.inf
        for i in order:
            if not out or spans[i].started_at.timestamp() > end + gap_s:
                out.append([])
            out[-1].append(i)
            end = max(end, spans[i].ended_at.timestamp())
        return out

    @staticmethod
    def _extent(group: Sequence[SpanRecord], bucket_s: float) -> tuple[float, float]:
        t0 = min(min([s.started_at.timestamp()] + [float(b[0]) for b in s.buckets]) for s in group)
        t1 = max(
            max([s.ended_at.timestamp()] + [float(b[0]) + span_bucket_s(s, bucket_s) for b in s.buckets])
            for s in group
        )
        return t0, max(t1, t0 + 1.0)

    def _attribute(
        self,
        group: Sequence[SpanRecord],
        idx: Sequence[int],
        series: IntensitySeries,
        out: list[SpanRecord | None],
        bucket_s: float,
    ) -> None:
        retrieved = series.provenance.retrieved_at or datetime.fromtimestamp(self.clock(), tz=UTC)
        series = replace(series, provenance=replace(series.provenance, retrieved_at=retrieved))
        row = snapshot_record(series, retrieved)
        data_digest = digest(row["data"])
        snapshot_id: str | None = None
        if self.ledger is not None:
            try:
                snapshot_id = store_snapshot(self.ledger, row)
            except CarbontrailError as exc:
                log.error("factor snapshot not stored: %s", exc)
        base = series.provenance.to_dict()
        for i, sp in zip(idx, group, strict=True):
            try:
                out[i] = attribute_span(
                    sp,
                    series,
                    bucket_s=span_bucket_s(sp, bucket_s),
                    pue=self.settings.pue,
                    pue_source=self.settings.pue_source,
                    snapshot_id=snapshot_id,
                    data_digest=data_digest,
                    base_provenance=base,
                )
                if sp.zone and canonical_zone(sp.zone) != sp.zone and out[i] is not None:
                    out[i].provenance["zone_requested"] = sp.zone  # type: ignore[union-attr,index]
            except CarbontrailError as exc:
                log.error("span %s not attributed: %s", sp.span_id, exc)
                out[i] = sp

    def close(self) -> None:
        for c in self._chains.values():
            c.close()


def make_attributor(
    settings: Settings, ledger: Any | None = None
) -> Callable[[Sequence[SpanRecord]], list[SpanRecord]]:
    """The attribution step the ledger ingester calls: spans in, spans with emissions out.

    Each span's zone is ``span.zone`` or else ``settings.zone`` (ids, aliases and cloud regions such as
    ``aws:eu-central-1`` accepted). Emissions = PUE x sum over buckets of bucket energy x that bucket's
    intensity, from the chain live providers (``settings.grid_providers``) -> ledger cache -> series
    (bundled, ``settings.grid_series``) -> annual factor, every fallback recorded in the provenance. Spans
    with neither a zone nor ``settings.intensity_g_per_kwh`` are returned unchanged; a span whose zone is
    unknown, or for which no source answers, is returned unchanged and logged. Never raises for a
    provider's failure. With a ledger, the data used is stored in ``factor_snapshots``.
    """
    return Attributor(settings, ledger)
