"""Report aggregation: a pure function of span records and the user's inputs.

:func:`build_report` turns spans (and optional instruments, residual mix, grid mix, SCI specs,
scheduling outcomes, quota accounts and an audit checkpoint) into a :class:`Report` of traceable
:class:`~carbontrail.report.model.Figure` values. No I/O, no clock: ``generated_at`` is passed in.

How spans are counted
    A parent span's energy covers its children (windows over the same counters). Each span is
    split into its *exclusive* part — its energy minus its direct children's — which keeps the
    span's own kind and inherits model, team, pipeline and zone from its ancestors when it has
    none. Totals are therefore the sum of root spans' energy, and every breakdown (by kind,
    model, team, pipeline, zone, period) sums back to the total. A span whose parent is not in
    the input is treated as a root. The exclusive part's time profile (buckets), emissions and
    component methods are pro-rated from the span's own.

Periods
    A span's energy is placed in time by its buckets (energy per aligned time bucket), so a run
    that crosses the period boundary is cut there. Spans without buckets count at ``started_at``.

Uncertainty
    Energy: the components' relative bands, added linearly (conservative). Emissions: energy
    band plus the factor's ``uncertainty_rel`` (from the span's provenance), added linearly.
    Sums add absolute bands linearly.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from carbontrail.provenance import MEASURED_METHODS, digest
from carbontrail.report.model import AuditAnchor, Figure, ReportOptions, ScheduleOutcome
from carbontrail.span import SpanRecord, utc_from_epoch
from carbontrail.units import J_PER_KWH, g_to_t, j_to_mwh

__all__ = ["BREAKDOWN_KEYS", "Piece", "Report", "Row", "build_report", "exclusive_pieces"]

BREAKDOWN_KEYS: tuple[str, ...] = ("kind", "model", "team", "pipeline", "zone")
TRAINING_KINDS: tuple[str, ...] = ("train", "hpo-trial")
UNLABELLED = "(none)"


@dataclass(slots=True)
class Piece:
    """The exclusive part of one span (its energy minus its direct children's), labelled."""

    span_id: str
    root_id: str
    kind: str
    model: str | None
    team: str | None
    pipeline: str | None
    zone: str | None
    started_at: datetime
    ended_at: datetime
    energy_j: float
    emissions_g: float | None
    energy_unc_j: float
    intensity_unc_rel: float
    methods_j: dict[str, float]
    buckets: list[tuple[float, float]]
    snapshot_id: str | None
    unavailable: tuple[str, ...] = ()
    #: emissions (g) per bucket, aligned with ``buckets``, when the span's provenance carries the
    #: intensity of each bucket (grid attribution records it); else ``None`` (pro-rated by energy)
    bucket_g: list[float] | None = None

    def bucket_emissions_g(self, i: int) -> float | None:
        """Emissions of bucket ``i`` (hourly intensity when recorded, else pro-rated)."""
        if self.emissions_g is None:
            return None
        if self.bucket_g is not None:
            return self.bucket_g[i]
        return self.emissions_g * self.buckets[i][1] / self.energy_j if self.energy_j > 0 else 0.0

    @property
    def intensity_g_per_kwh(self) -> float | None:
        """Effective location-based intensity of this piece (``None`` if not attributed)."""
        if self.emissions_g is None or self.energy_j <= 0:
            return None
        return self.emissions_g / self.energy_j * J_PER_KWH


def exclusive_pieces(spans: Iterable[SpanRecord]) -> tuple[list[Piece], list[str]]:
    """Split spans into exclusive pieces; also return notes (overlaps, orphans)."""
    by_id = {s.span_id: s for s in spans}
    children: dict[str, list[SpanRecord]] = defaultdict(list)
    for s in by_id.values():
        if s.parent_id is not None and s.parent_id in by_id:
            children[s.parent_id].append(s)
    notes: list[str] = []
    orphans = sum(1 for s in by_id.values() if s.parent_id is not None and s.parent_id not in by_id)
    if orphans:
        notes.append(f"{orphans} span(s) whose parent is outside the input counted as roots")

    def label(s: SpanRecord, attr: str) -> Any:
        cur: SpanRecord | None = s
        while cur is not None:
            v = getattr(cur, attr)
            if v is not None:
                return v
            cur = by_id.get(cur.parent_id) if cur.parent_id else None
        return None

    def root_of(s: SpanRecord) -> str:
        cur = s
        seen = {cur.span_id}
        while cur.parent_id is not None and cur.parent_id in by_id and cur.parent_id not in seen:
            cur = by_id[cur.parent_id]
            seen.add(cur.span_id)
        return cur.span_id

    pieces: list[Piece] = []
    over = 0
    for s in sorted(by_id.values(), key=lambda r: (r.started_at, r.span_id)):
        kids = children.get(s.span_id, [])
        kid_j = sum(k.energy_j for k in kids)
        excl = s.energy_j - kid_j
        if excl < 0:
            over += 1
            excl = 0.0
        f = excl / s.energy_j if s.energy_j > 0 else 0.0
        methods: dict[str, float] = defaultdict(float)
        for c in s.components:
            methods[c.method] += c.energy_j * f
        prov = s.provenance or {}
        unc_rel = float(prov.get("uncertainty_rel") or 0.0)
        emis = None if s.emissions_g is None else s.emissions_g * f
        if s.emissions_g is not None and kids:
            kid_g = sum(k.emissions_g or 0.0 for k in kids)
            if all(k.emissions_g is not None for k in kids) and s.emissions_g >= kid_g:
                emis = s.emissions_g - kid_g
        pieces.append(
            Piece(
                bucket_g=_bucket_emissions(s, emis),
                span_id=s.span_id,
                root_id=root_of(s),
                kind=s.kind,
                model=label(s, "model"),
                team=label(s, "team"),
                pipeline=label(s, "pipeline"),
                zone=label(s, "zone"),
                started_at=s.started_at,
                ended_at=s.ended_at,
                energy_j=excl,
                emissions_g=emis,
                energy_unc_j=s.uncertainty_j * f,
                intensity_unc_rel=unc_rel,
                methods_j=dict(methods),
                buckets=[(t, e * f) for t, e in s.buckets] or [(s.started_at.timestamp(), excl)],
                snapshot_id=prov.get("snapshot_id"),
                unavailable=tuple(c.component for c in s.components if c.method == "unavailable"),
            )
        )
    if over:
        notes.append(f"{over} span(s) whose children report more energy than they do: exclusive part set to 0")
    return pieces, notes


def _bucket_emissions(s: SpanRecord, emissions_g: float | None) -> list[float] | None:
    """Split ``emissions_g`` over the span's buckets by energy x the intensity recorded for each bucket."""
    if emissions_g is None or not s.buckets:
        return None
    rows = (s.provenance or {}).get("buckets_intensity_g_per_kwh")
    if not isinstance(rows, list) or not rows:
        return None
    by_t: dict[float, float] = {}
    for row in rows:
        try:
            by_t[float(row[0])] = float(row[2])
        except (TypeError, ValueError, IndexError):
            return None
    weights = [e * by_t.get(float(t), math.nan) for t, e in s.buckets]
    total = sum(weights)
    if not math.isfinite(total) or total <= 0:
        return None
    return [emissions_g * w / total for w in weights]


def _sub(p: Piece, keep: Sequence[int], kind: str | None = None) -> Piece:
    """The part of a piece in some of its buckets (energy, emissions, bands and methods follow)."""
    bs = [p.buckets[i] for i in keep]
    e_in = sum(e for _, e in bs)
    f = e_in / p.energy_j if p.energy_j > 0 else 1.0
    bg = None if p.bucket_g is None else [p.bucket_g[i] for i in keep]
    g = None if p.emissions_g is None else (sum(bg) if bg is not None else p.emissions_g * f)
    return Piece(
        span_id=p.span_id,
        root_id=p.root_id,
        kind=kind or p.kind,
        model=p.model,
        team=p.team,
        pipeline=p.pipeline,
        zone=p.zone,
        started_at=p.started_at,
        ended_at=p.ended_at,
        energy_j=e_in,
        emissions_g=g,
        energy_unc_j=p.energy_unc_j * f,
        intensity_unc_rel=p.intensity_unc_rel,
        methods_j={k: v * f for k, v in p.methods_j.items()},
        buckets=bs,
        snapshot_id=p.snapshot_id,
        unavailable=p.unavailable,
        bucket_g=bg,
    )


def _clip(pieces: list[Piece], start_s: float, end_s: float) -> list[Piece]:
    """Pieces restricted to buckets starting in ``[start_s, end_s)``."""
    out = []
    for p in pieces:
        keep = [i for i, (t, _) in enumerate(p.buckets) if start_s <= t < end_s]
        if keep:
            out.append(p if len(keep) == len(p.buckets) else _sub(p, keep))
    return out


def describe_method(methods_j: dict[str, float]) -> str:
    """Describe a method mix by energy share.

    Counters (RAPL, NVML) are *measured*, the CPU-time and RAM models *modelled*, a constant power
    the user gave *stated*: ``measured (rapl)`` or
    ``mixed: measured 29% (rapl), modelled 57% (cpu-time-model), stated 14% (constant)``.
    """
    groups: dict[str, dict[str, float]] = {"measured": {}, "modelled": {}, "stated": {}}
    for k, v in methods_j.items():
        if k == "unavailable" or v <= 0:
            continue
        cat = "measured" if k in MEASURED_METHODS else "stated" if k == "constant" else "modelled"
        groups[cat][k] = v
    total = sum(sum(g.values()) for g in groups.values())
    if total <= 0:
        return "unavailable"
    present = [(c, g) for c, g in groups.items() if g]
    if len(present) == 1:
        c, g = present[0]
        return f"{c} ({', '.join(sorted(g))})"
    return "mixed: " + ", ".join(f"{c} {sum(g.values()) / total:.0%} ({', '.join(sorted(g))})" for c, g in present)


def _energy_fig(ps: Sequence[Piece], note: str = "") -> Figure:
    methods: dict[str, float] = defaultdict(float)
    for p in ps:
        for k, v in p.methods_j.items():
            methods[k] += v
    unavailable = sorted({c for p in ps for c in p.unavailable})
    if unavailable:
        note = (note + "; " if note else "") + f"components unavailable (counted 0): {', '.join(unavailable)}"
    return Figure(
        value=sum(p.energy_j for p in ps),
        unit="J",
        method=describe_method(methods),
        uncertainty=sum(p.energy_unc_j for p in ps),
        span_ids=tuple(sorted({p.span_id for p in ps})),
        note=note,
    )


def _emissions_fig(ps: Sequence[Piece]) -> Figure:
    att = [p for p in ps if p.emissions_g is not None]
    missing_j = sum(p.energy_j for p in ps if p.emissions_g is None)
    note = ""
    if missing_j > 0:
        note = f"{missing_j / J_PER_KWH:.6g} kWh without a grid factor excluded (not attributed)"
    if not att:
        return Figure(None, "g", "unavailable", None, tuple(sorted({p.span_id for p in ps})), (), note or "no spans")
    unc = 0.0
    for p in att:
        e_rel = p.energy_unc_j / p.energy_j if p.energy_j > 0 else 0.0
        unc += (p.emissions_g or 0.0) * (e_rel + p.intensity_unc_rel)
    return Figure(
        value=sum(p.emissions_g or 0.0 for p in att),
        unit="g",
        method="calculated: energy x location-based grid factor",
        uncertainty=unc,
        span_ids=tuple(sorted({p.span_id for p in att})),
        snapshot_ids=tuple(sorted({p.snapshot_id for p in att if p.snapshot_id})),
        note=note,
    )


@dataclass(slots=True)
class Row:
    """One line of a breakdown: a group's energy and location-based emissions and its share of the total."""

    key: str
    energy: Figure
    emissions: Figure
    share: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "energy": self.energy.to_dict(),
            "emissions": self.emissions.to_dict(),
            "share": self.share,
        }


def _group(ps: Sequence[Piece], key: Any, total_j: float) -> list[Row]:
    groups: dict[str, list[Piece]] = defaultdict(list)
    for p in ps:
        k = key(p)
        groups[UNLABELLED if k is None else str(k)].append(p)
    rows = []
    for k, g in groups.items():
        e = _energy_fig(g)
        rows.append(Row(k, e, _emissions_fig(g), (e.value or 0.0) / total_j if total_j > 0 else 0.0))
    rows.sort(key=lambda r: (-(r.energy.value or 0.0), r.key))
    return rows


def period_key(t_s: float, granularity: str) -> str:
    """The period label of POSIX time ``t_s``.

    ``YYYY-MM-DD`` (day), ``YYYY-MM`` (month) or ``YYYY-MM-DDTHH`` (hour).
    """
    t = utc_from_epoch(t_s)
    if granularity == "month":
        return t.strftime("%Y-%m")
    if granularity == "hour":
        return t.strftime("%Y-%m-%dT%H")
    return t.strftime("%Y-%m-%d")


@dataclass(slots=True)
class Report:
    """A built report. Energies in J and emissions in g unless a section says otherwise (CSRD: MWh, tCO2e)."""

    report_id: str
    generated_at: datetime
    period_start: datetime
    period_end: datetime
    boundary: str
    organisation: str
    totals: dict[str, Figure]
    breakdowns: dict[str, list[Row]]
    trend: list[dict[str, Any]]
    scope2: dict[str, Any]
    sci: list[dict[str, Any]]
    ai_act: list[dict[str, Any]]
    csrd: dict[str, Any]
    scheduling: dict[str, Any]
    hpo: list[dict[str, Any]]
    audit: dict[str, Any]
    factors: list[dict[str, Any]]
    notes: list[str] = field(default_factory=list)
    inputs_digest: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (ISO 8601 timestamps)."""

        def conv(v: Any) -> Any:
            if isinstance(v, Figure | Row):
                return v.to_dict()
            if isinstance(v, dict):
                return {k: conv(x) for k, x in v.items()}
            if isinstance(v, list | tuple):
                return [conv(x) for x in v]
            if isinstance(v, datetime):
                return v.isoformat()
            return v

        return {
            "report_id": self.report_id,
            "generated_at": self.generated_at.isoformat(),
            "period_start": self.period_start.isoformat(),
            "period_end": self.period_end.isoformat(),
            "boundary": self.boundary,
            "organisation": self.organisation,
            "totals": conv(self.totals),
            "breakdowns": conv(self.breakdowns),
            "trend": conv(self.trend),
            "scope2": conv(self.scope2),
            "sci": conv(self.sci),
            "ai_act": conv(self.ai_act),
            "csrd": conv(self.csrd),
            "scheduling": conv(self.scheduling),
            "hpo": conv(self.hpo),
            "audit": conv(self.audit),
            "factors": conv(self.factors),
            "notes": list(self.notes),
            "inputs_digest": self.inputs_digest,
        }


def _market_based(ps: Sequence[Piece], opts: ReportOptions) -> dict[str, Any]:
    """GHG Protocol Scope 2 market-based: instruments first (hourly, zone-matched), then the residual mix."""
    remaining = {i.instrument_id: i.energy_j for i in opts.instruments}
    used: dict[str, float] = defaultdict(float)
    cells = sorted(
        ((t, p.zone or "", e, p, i) for p in ps for i, (t, e) in enumerate(p.buckets) if e > 0),
        key=lambda c: (c[0], c[1], c[3].span_id),
    )
    covered_j = 0.0
    instrument_g = 0.0
    residual_j = 0.0
    residual_g = 0.0
    fallback_j = 0.0
    fallback_g = 0.0
    unattributed_j = 0.0
    fallback_zones: set[str] = set()
    for t, zone, e, p, i in cells:
        left = e
        for inst in opts.instruments:
            if left <= 0:
                break
            if inst.zone != zone or not (inst.start_at.timestamp() <= t < inst.end_at.timestamp()):
                continue
            take = min(left, remaining[inst.instrument_id])
            if take <= 0:
                continue
            remaining[inst.instrument_id] -= take
            used[inst.instrument_id] += take
            covered_j += take
            instrument_g += take / J_PER_KWH * inst.intensity_g_per_kwh
            left -= take
        if left <= 0:
            continue
        if zone in opts.residual_mix_g_per_kwh:
            residual_j += left
            residual_g += left / J_PER_KWH * opts.residual_mix_g_per_kwh[zone]
        elif p.emissions_g is not None:
            g_b = p.bucket_emissions_g(i) or 0.0  # this hour's location-based intensity
            fallback_j += left
            fallback_g += g_b * left / e

            fallback_zones.add(zone or UNLABELLED)
        else:
            unattributed_j += left
    notes = []
    if fallback_zones:
        notes.append(
            "no residual mix entered for "
            + ", ".join(sorted(fallback_zones))
            + ": location-based factor used for uncovered energy"
            + " (disclose; GHG Protocol Scope 2 quality criteria)"
        )
    if unattributed_j > 0:
        notes.append(f"{unattributed_j / J_PER_KWH:.6g} kWh without any factor excluded")
    total_g = instrument_g + residual_g + fallback_g
    instruments = [
        {
            **i.to_dict(),
            "applied_j": used[i.instrument_id],
            "unused_j": remaining[i.instrument_id],
        }
        for i in opts.instruments
    ]
    span_ids = tuple(sorted({p.span_id for p in ps}))
    return {
        "emissions": Figure(
            total_g,
            "g",
            "calculated: instruments matched by zone and hour, uncovered energy x residual mix",
            None,
            span_ids,
            (),
            "; ".join(notes),
        ),
        "covered_j": covered_j,
        "instrument_g": instrument_g,
        "residual_j": residual_j,
        "residual_g": residual_g,
        "fallback_j": fallback_j,
        "fallback_g": fallback_g,
        "unattributed_j": unattributed_j,
        "instruments": instruments,
        "residual_mix_g_per_kwh": dict(opts.residual_mix_g_per_kwh),
        "residual_mix_source": opts.residual_mix_source,
    }


def _union_s(intervals: Iterable[tuple[datetime, datetime]]) -> float:
    total = 0.0
    cur_s: datetime | None = None
    cur_e: datetime | None = None
    for s, e in sorted(intervals):
        if cur_e is None or s > cur_e:
            if cur_s is not None and cur_e is not None:
                total += (cur_e - cur_s).total_seconds()
            cur_s, cur_e = s, e
        elif e > cur_e:
            cur_e = e
    if cur_s is not None and cur_e is not None:
        total += (cur_e - cur_s).total_seconds()
    return total


def _to_unit(fig: Figure, factor: float, unit: str) -> Figure:
    return Figure(
        None if fig.value is None else fig.value * factor,
        unit,
        fig.method,
        None if fig.uncertainty is None else fig.uncertainty * factor,
        fig.span_ids,
        fig.snapshot_ids,
        fig.note,
    )


def build_report(
    spans: Iterable[SpanRecord],
    *,
    period_start: datetime,
    period_end: datetime,
    generated_at: datetime,
    options: ReportOptions | None = None,
) -> Report:
    """Aggregate ``spans`` over ``[period_start, period_end)`` into a traceable :class:`Report`.

    ``spans`` should hold every span of the trees touching the period (roots and children);
    energy outside the period is cut away by bucket. All datetimes must be tz-aware.
    """
    opts = options or ReportOptions()
    for name, when in (
        ("period_start", period_start),
        ("period_end", period_end),
        ("generated_at", generated_at),
    ):
        if when.tzinfo is None:
            raise ValueError(f"{name} must be tz-aware UTC")
    if period_end <= period_start:
        raise ValueError("period_end must be after period_start")
    span_list = list(spans)
    all_pieces, notes = exclusive_pieces(span_list)
    ps = _clip(all_pieces, period_start.timestamp(), period_end.timestamp())

    energy = _energy_fig(ps)
    total_j = energy.value or 0.0
    location = _emissions_fig(ps)
    breakdowns = {k: _group(ps, lambda p, k=k: getattr(p, k), total_j) for k in BREAKDOWN_KEYS}
    breakdowns["period"] = _period_rows(ps, opts.period_granularity, total_j)

    trend: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0.0])
    for p in ps:
        for i, (b_s, b_j) in enumerate(p.buckets):
            cell = trend[(period_key(b_s, opts.period_granularity), p.kind)]
            cell[0] += b_j
            cell[1] += p.bucket_emissions_g(i) or 0.0
    trend_rows = [
        {"period": per, "kind": kind, "energy_j": v[0], "emissions_g": v[1]} for (per, kind), v in sorted(trend.items())
    ]

    market = _market_based(ps, opts)
    scope2 = {"location_based": location, "market_based": market}

    sci = []
    for spec in opts.sci:
        sel = [p for p in ps if p.model == spec.model and p.kind in spec.kinds]
        e_fig = _energy_fig(sel)
        o = _emissions_fig(sel)
        e_kwh = (e_fig.value or 0.0) / J_PER_KWH
        ok = o.value is not None and not o.note
        value = ((o.value or 0.0) + spec.embodied_g) / spec.units if o.value is not None else None
        sci.append(
            {
                "model": spec.model,
                "functional_unit": spec.functional_unit,
                "R": spec.units,
                "kinds": list(spec.kinds),
                "E_kwh": _to_unit(e_fig, 1 / J_PER_KWH, "kWh"),
                "I_g_per_kwh": (o.value / e_kwh) if (o.value is not None and e_kwh > 0) else None,
                "O_g": o,
                "M_g": spec.embodied_g,
                "M_source": spec.embodied_source,
                "sci": Figure(
                    value,
                    f"gCO2e per {spec.functional_unit}",
                    "SCI = (E x I + M) / R (location-based I)",
                    None if o.uncertainty is None else o.uncertainty / spec.units,
                    o.span_ids,
                    o.snapshot_ids,
                    "" if ok else (o.note or "no emissions attributed"),
                ),
            }
        )

    ai_act = []
    models = opts.ai_act_models
    for m in models:
        mine = [p for p in ps if p.model == m]
        train = [p for p in mine if p.kind in TRAINING_KINDS]
        train_fig = _energy_fig(train)
        flops = opts.training_compute_flops.get(m)
        ai_act.append(
            {
                "model": m,
                "training_energy_mwh": _to_unit(train_fig, 1 / 3.6e9, "MWh"),
                "training_energy_method": train_fig.method,
                "training_kinds": list(TRAINING_KINDS),
                "training_time_s": _union_s((p.started_at, p.ended_at) for p in train),
                "training_emissions": _emissions_fig(train),
                "retraining_energy_mwh": _to_unit(
                    _energy_fig([p for p in mine if p.kind == "retrain"]), 1 / 3.6e9, "MWh"
                ),
                "inference_energy_mwh": _to_unit(
                    _energy_fig([p for p in mine if p.kind == "inference"]), 1 / 3.6e9, "MWh"
                ),
                "training_compute_flops": Figure(
                    flops,
                    "FLOP",
                    "stated" if flops is not None else "unavailable",
                    None,
                    (),
                    (),
                    "" if flops is not None else "training compute not provided",
                ),
            }
        )

    # CSRD ESRS E1-5 energy mix and E1-6 Scope 2
    by_zone: dict[str, float] = defaultdict(float)
    for p in ps:
        by_zone[p.zone or UNLABELLED] += p.energy_j
    missing = sorted(z for z, e in by_zone.items() if e > 0 and z not in opts.grid_mix)
    mix: dict[str, Any] = {}
    if total_j > 0 and not missing:
        for part in ("fossil", "nuclear", "renewable"):
            mix[f"{part}_mwh"] = j_to_mwh(
                sum(e * getattr(opts.grid_mix[z], part) for z, e in by_zone.items() if z in opts.grid_mix)
            )
        mix["source"] = sorted({opts.grid_mix[z].source for z in by_zone if z in opts.grid_mix})
        mix["note"] = "grid-average generation mix of each zone applied to the energy used there"
    else:
        mix = {
            "fossil_mwh": None,
            "nuclear_mwh": None,
            "renewable_mwh": None,
            "source": [],
            "note": "unavailable: no grid mix data for " + (", ".join(missing) or "any zone"),
        }
    loc_t = None if location.value is None else g_to_t(location.value)
    mkt_g = market["emissions"].value
    csrd = {
        "e1_5": {
            "total_energy_mwh": _to_unit(energy, 1 / 3.6e9, "MWh"),
            "mix": mix,
        },
        "e1_6": [
            {"row": "Gross location-based Scope 2 GHG emissions", "tco2e": loc_t, "note": location.note},
            {
                "row": "Gross market-based Scope 2 GHG emissions",
                "tco2e": None if mkt_g is None else g_to_t(mkt_g),
                "note": market["emissions"].note,
            },
        ],
    }

    outcomes = opts.schedule
    realised = [o for o in outcomes if o.realised_g is not None]

    def baseline(o: ScheduleOutcome) -> float:
        return o.realised_run_now_g if o.realised_run_now_g is not None else o.run_now_g

    run_now_r = sum(baseline(o) for o in realised)
    saved_r = sum(baseline(o) - (o.realised_g or 0.0) for o in realised)
    scheduling = {
        "jobs": len(outcomes),
        "jobs_realised": len(realised),
        "expected_saving_g": sum(o.run_now_g - o.expected_g for o in outcomes),
        "realised_run_now_g": run_now_r,
        "realised_saving_g": saved_r,
        "realised_saving_rel": saved_r / run_now_r if run_now_r > 0 else None,
        "span_ids": sorted({i for o in realised for i in ((o.span_id,) if o.span_id else ()) + o.span_ids}),
        "job_ids": [o.job_id for o in outcomes],
        "method": "emissions of the run-now slot (actual intensity where recorded, else the forecast at planning "
        "time) minus measured emissions of the run",
    }
    hpo = [
        {
            "study": q.study,
            "quota_j": q.quota_j,
            "quota_g": q.quota_g,
            "spent_j": q.spent_j,
            "spent_g": q.spent_g,
            "trials": q.trials,
            "status": q.status,
            "used_rel": (q.spent_j / q.quota_j)
            if q.quota_j
            else ((q.spent_g or 0.0) / q.quota_g if q.quota_g else None),
        }
        for q in opts.quotas
    ]
    audit = _audit_dict(opts.audit)

    used_ids = {p.span_id for p in ps}
    used = sorted((s for s in span_list if s.span_id in used_ids), key=lambda s: s.span_id)
    factors: dict[str, dict[str, Any]] = {}
    for s in used:
        prov = s.provenance or {}
        key = prov.get("snapshot_id") or prov.get("data_digest")
        if key and key not in factors:
            factors[key] = {
                k: prov.get(k)
                for k in (
                    "snapshot_id",
                    "zone",
                    "source",
                    "dataset",
                    "vintage",
                    "signal",
                    "basis",
                    "resolution_s",
                    "retrieved_at",
                    "data_digest",
                    "pue",
                    "pue_source",
                    "uncertainty_rel",
                    "market_based",
                    "fallbacks",
                )
            }

    inputs = {
        "spans": sorted((s.span_id, s.energy_j, s.emissions_g, s.parent_id) for s in used),
        "period": [period_start.isoformat(), period_end.isoformat()],
        "instruments": [i.to_dict() for i in opts.instruments],
        "residual": opts.residual_mix_g_per_kwh,
        "sci": [(s.model, s.units, s.embodied_g, s.kinds) for s in opts.sci],
    }
    inputs_digest = digest(inputs)
    return Report(
        report_id=inputs_digest[:16],
        generated_at=generated_at.astimezone(UTC),
        period_start=period_start.astimezone(UTC),
        period_end=period_end.astimezone(UTC),
        boundary=opts.boundary,
        organisation=opts.organisation,
        totals={
            "energy": energy,
            "emissions_location": location,
            "emissions_market": market["emissions"],
        },
        breakdowns=breakdowns,
        trend=trend_rows,
        scope2=scope2,
        sci=sci,
        ai_act=ai_act,
        csrd=csrd,
        scheduling=scheduling,
        hpo=hpo,
        audit=audit,
        factors=sorted(factors.values(), key=lambda f: str(f.get("snapshot_id") or f.get("data_digest"))),
        notes=notes,
        inputs_digest=inputs_digest,
    )


def _period_rows(ps: Sequence[Piece], granularity: str, total_j: float) -> list[Row]:
    parts: list[Piece] = []
    for p in ps:
        per: dict[str, list[int]] = defaultdict(list)
        for i, (t, _) in enumerate(p.buckets):
            per[period_key(t, granularity)].append(i)
        parts += [_sub(p, keep, kind=key) for key, keep in per.items()]
    rows = _group(parts, lambda p: p.kind, total_j)
    rows.sort(key=lambda r: r.key)
    return rows


def _audit_dict(a: AuditAnchor | None) -> dict[str, Any]:
    if a is None:
        return {
            "checkpoint_id": None,
            "status": "no audit checkpoint available: figures are not yet anchored",
        }
    return {
        "checkpoint_id": a.checkpoint_id,
        "entries": a.entries,
        "root_hash": a.root_hash,
        "signed_at": a.signed_at.isoformat() if a.signed_at else None,
        "verified": a.verified,
        "status": "chain verified"
        if a.verified
        else ("chain not verified in this view" if a.verified is None else "CHAIN DOES NOT VERIFY"),
    }
