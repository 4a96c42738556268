"""Projected footprint of a deployment (pure: every number is passed in; no I/O, no clock).

Over a horizon of ``horizon_days``::

    training     = training_emissions_g x training_share            (measured, amortised)
    retraining   = floor(horizon_days / retrain_every_days) x retraining_emissions_g   (measured per run)
    inference    = sum over zones z and UTC hours h of
                   traffic_per_day x zone_share_z x hour_share_h / 1000 x inference_energy_j_per_1k
                   x PUE x intensity_z,h                                   (x horizon_days)
    embodied     = TE x (TiR / EL) x (RR / ToR)                            (SCI's M, optional)
    total        = training + retraining + inference + embodied

Training and retraining emissions are the measured, grid-attributed figures of their spans (their
PUE was applied when they were attributed); the PUE here applies to projected inference energy.
Intensity per zone is an annual factor or a 24-value hourly profile (UTC hour of day). Each term
carries a relative uncertainty; terms are treated as independent (root-sum-square of absolute
uncertainties), and inference combines energy and intensity uncertainty in quadrature.
The SCI per functional unit R = 1,000 predictions is ``total / (predictions / 1000)``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from carbontrail.errors import UnitError
from carbontrail.units import J_PER_KWH, check_finite

__all__ = [
    "Embodied",
    "Footprint",
    "FootprintInputs",
    "Term",
    "ZoneIntensity",
    "project",
    "what_if",
]


@dataclass(frozen=True)
class ZoneIntensity:
    """Grid intensity of a serving zone: an annual factor or a 24-value hourly profile (UTC hours).

    ``provenance`` is the factor's provenance record (e.g. ``IntensityProvenance.to_dict()``).
    """

    zone: str
    intensity_g_per_kwh: float | None = None
    hourly_g_per_kwh: tuple[float, ...] | None = None
    provenance: Mapping[str, Any] = field(default_factory=dict)
    uncertainty_rel: float = 0.0

    def __post_init__(self) -> None:
        if (self.intensity_g_per_kwh is None) == (self.hourly_g_per_kwh is None):
            raise UnitError(f"zone {self.zone}: give either an annual intensity or a 24-value hourly profile")
        if self.intensity_g_per_kwh is not None:
            check_finite(self.intensity_g_per_kwh, f"{self.zone} intensity_g_per_kwh")
        if self.hourly_g_per_kwh is not None:
            if len(self.hourly_g_per_kwh) != 24:
                raise UnitError(f"zone {self.zone}: an hourly profile has 24 values (UTC hours)")
            for v in self.hourly_g_per_kwh:
                check_finite(v, f"{self.zone} hourly intensity")
        check_finite(self.uncertainty_rel, "uncertainty_rel")

    def hourly(self) -> tuple[float, ...]:
        if self.hourly_g_per_kwh is not None:
            return self.hourly_g_per_kwh
        assert self.intensity_g_per_kwh is not None
        return (self.intensity_g_per_kwh,) * 24

    @property
    def mean_g_per_kwh(self) -> float:
        return sum(self.hourly()) / 24.0

    @property
    def resolution(self) -> str:
        return "hourly" if self.hourly_g_per_kwh is not None else "annual"


@dataclass(frozen=True)
class Embodied:
    """Embodied hardware emissions (SCI's M = TE x TiR/EL x RR/ToR).

    ``total_embodied_g`` (TE) of the hardware, its expected lifespan ``lifespan_days`` (EL), and the
    share of it reserved for this deployment ``reserved_share`` (RR/ToR, e.g. 1 GPU of 8 = 0.125).
    The time reserved (TiR) is the deployment horizon.
    """

    total_embodied_g: float
    lifespan_days: float
    reserved_share: float
    provenance: Mapping[str, Any] = field(default_factory=dict)
    uncertainty_rel: float = 0.5


@dataclass(frozen=True)
class FootprintInputs:
    """Everything a projection needs. Units are in the names; shares are fractions in [0, 1]."""

    horizon_days: float
    traffic_per_day: float
    inference_energy_j_per_1k: float
    zones: tuple[tuple[ZoneIntensity, float], ...]
    training_emissions_g: float = 0.0
    training_share: float = 1.0
    retrain_every_days: float | None = None
    retraining_emissions_g: float = 0.0
    pue: float = 1.0
    pue_source: str = "default 1.0 (no PUE stated)"
    traffic_hourly_share: tuple[float, ...] | None = None
    embodied: Embodied | None = None
    training_uncertainty_rel: float = 0.1
    retraining_uncertainty_rel: float = 0.1
    inference_uncertainty_rel: float = 0.1
    training_provenance: Mapping[str, Any] = field(default_factory=dict)
    retraining_provenance: Mapping[str, Any] = field(default_factory=dict)
    inference_provenance: Mapping[str, Any] = field(default_factory=dict)

    def validate(self) -> None:
        """Raise :class:`UnitError` naming the first bad field."""
        for name in (
            "horizon_days",
            "traffic_per_day",
            "inference_energy_j_per_1k",
            "training_emissions_g",
            "retraining_emissions_g",
            "training_uncertainty_rel",
            "retraining_uncertainty_rel",
            "inference_uncertainty_rel",
        ):
            check_finite(getattr(self, name), name)
        if self.horizon_days <= 0:
            raise UnitError("horizon_days must be positive")
        if not 0.0 <= check_finite(self.training_share, "training_share") <= 1.0:
            raise UnitError("training_share must be in [0, 1]")
        if self.retrain_every_days is not None and check_finite(self.retrain_every_days, "retrain_every_days") <= 0:
            raise UnitError("retrain_every_days must be positive (or None for no retraining)")
        if check_finite(self.pue, "pue") < 1.0:
            raise UnitError(f"pue {self.pue} is below 1.0")
        if not self.zones:
            raise UnitError("at least one serving zone is needed")
        total_share = sum(check_finite(s, "zone share") for _z, s in self.zones)
        if not math.isclose(total_share, 1.0, rel_tol=1e-6):
            raise UnitError(f"zone traffic shares sum to {total_share}, not 1")
        if self.traffic_hourly_share is not None:
            if len(self.traffic_hourly_share) != 24:
                raise UnitError("traffic_hourly_share has 24 values (UTC hours)")
            tot = sum(check_finite(v, "traffic_hourly_share") for v in self.traffic_hourly_share)
            if not math.isclose(tot, 1.0, rel_tol=1e-6):
                raise UnitError(f"traffic_hourly_share sums to {tot}, not 1")
        if self.embodied is not None:
            e = self.embodied
            check_finite(e.total_embodied_g, "total_embodied_g")
            if check_finite(e.lifespan_days, "lifespan_days") <= 0:
                raise UnitError("lifespan_days must be positive")
            if not 0.0 <= check_finite(e.reserved_share, "reserved_share") <= 1.0:
                raise UnitError("reserved_share must be in [0, 1]")


@dataclass(frozen=True)
class Term:
    """One term of a footprint: grams CO2e with its uncertainty, the formula used and provenance."""

    name: str
    emissions_g: float
    uncertainty_rel: float
    formula: str
    provenance: Mapping[str, Any]
    energy_j: float | None = None

    @property
    def uncertainty_g(self) -> float:
        return self.emissions_g * self.uncertainty_rel

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "emissions_g": self.emissions_g,
            "energy_j": self.energy_j,
            "uncertainty_rel": self.uncertainty_rel,
            "formula": self.formula,
            "provenance": dict(self.provenance),
        }


@dataclass(frozen=True)
class Footprint:
    """A projected footprint: terms, total, uncertainty and the SCI per 1,000 predictions."""

    terms: tuple[Term, ...]
    horizon_days: float
    predictions: float
    max_intensity_g_per_kwh: float
    mean_intensity_g_per_kwh: float

    def term(self, name: str) -> Term:
        return next(t for t in self.terms if t.name == name)

    @property
    def total_g(self) -> float:
        return sum(t.emissions_g for t in self.terms)

    @property
    def uncertainty_g(self) -> float:
        return math.sqrt(sum(t.uncertainty_g**2 for t in self.terms))

    @property
    def uncertainty_rel(self) -> float:
        return self.uncertainty_g / self.total_g if self.total_g > 0 else 0.0

    @property
    def annual_g(self) -> float:
        """Total scaled to one year (365 days)."""
        return self.total_g * 365.0 / self.horizon_days

    @property
    def sci_g_per_1k(self) -> float:
        """SCI with R = 1,000 predictions: ((E x I) + M) per R, training and retraining included."""
        return self.total_g / (self.predictions / 1000.0) if self.predictions > 0 else math.inf

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict; also the ``footprint`` section of a policy input."""
        d: dict[str, Any] = {t.name + "_g": t.emissions_g for t in self.terms}
        d.update(
            total_g=self.total_g,
            annual_g=self.annual_g,
            uncertainty_g=self.uncertainty_g,
            uncertainty_rel=self.uncertainty_rel,
            sci_g_per_1k=self.sci_g_per_1k if self.predictions > 0 else None,
            predictions=self.predictions,
            horizon_days=self.horizon_days,
            max_intensity_g_per_kwh=self.max_intensity_g_per_kwh,
            mean_intensity_g_per_kwh=self.mean_intensity_g_per_kwh,
            terms=[t.to_dict() for t in self.terms],
        )
        return d


def project(inp: FootprintInputs) -> Footprint:
    """Project the footprint of a deployment over its horizon (see the module docstring)."""
    inp.validate()
    terms: list[Term] = []
    terms.append(
        Term(
            "training",
            inp.training_emissions_g * inp.training_share,
            inp.training_uncertainty_rel,
            "training_emissions_g x training_share",
            {"source": "measured spans", "training_share": inp.training_share, **inp.training_provenance},
        )
    )
    runs = math.floor(inp.horizon_days / inp.retrain_every_days + 1e-9) if inp.retrain_every_days else 0
    terms.append(
        Term(
            "retraining",
            runs * inp.retraining_emissions_g,
            inp.retraining_uncertainty_rel,
            "floor(horizon_days / retrain_every_days) x retraining_emissions_g",
            {
                "runs": runs,
                "retrain_every_days": inp.retrain_every_days,
                "per_run_g": inp.retraining_emissions_g,
                **inp.retraining_provenance,
            },
        )
    )
    hour_share = inp.traffic_hourly_share or (1.0 / 24.0,) * 24
    energy_day_j = inp.traffic_per_day / 1000.0 * inp.inference_energy_j_per_1k * inp.pue
    day_g = 0.0
    var_g = 0.0
    zone_prov = []
    for zone, share in inp.zones:
        prof = zone.hourly()
        z_g = sum(energy_day_j * share * hs * iv for hs, iv in zip(hour_share, prof, strict=True)) / J_PER_KWH
        day_g += z_g
        rel = math.hypot(inp.inference_uncertainty_rel, zone.uncertainty_rel)
        var_g += (z_g * inp.horizon_days * rel) ** 2
        zone_prov.append(
            {
                "zone": zone.zone,
                "share": share,
                "resolution": zone.resolution,
                "mean_intensity_g_per_kwh": zone.mean_g_per_kwh,
                "emissions_g": z_g * inp.horizon_days,
                "intensity_provenance": dict(zone.provenance),
            }
        )
    inf_g = day_g * inp.horizon_days
    terms.append(
        Term(
            "inference",
            inf_g,
            math.sqrt(var_g) / inf_g if inf_g > 0 else 0.0,
            "sum_z,h traffic_per_day x share_z x share_h / 1000 x energy_j_per_1k x PUE x I_z,h x horizon_days",
            {
                "pue": inp.pue,
                "pue_source": inp.pue_source,
                "traffic_per_day": inp.traffic_per_day,
                "energy_j_per_1k": inp.inference_energy_j_per_1k,
                "zones": zone_prov,
                **inp.inference_provenance,
            },
            energy_j=energy_day_j * inp.horizon_days,
        )
    )
    if inp.embodied is not None:
        e = inp.embodied
        m = e.total_embodied_g * (inp.horizon_days / e.lifespan_days) * e.reserved_share
        terms.append(
            Term(
                "embodied",
                m,
                e.uncertainty_rel,
                "TE x (TiR / EL) x (RR / ToR)",
                {
                    "total_embodied_g": e.total_embodied_g,
                    "lifespan_days": e.lifespan_days,
                    "time_reserved_days": inp.horizon_days,
                    "reserved_share": e.reserved_share,
                    **e.provenance,
                },
            )
        )
    max_i = max(max(z.hourly()) for z, s in inp.zones if s > 0)
    mean_i = sum(z.mean_g_per_kwh * s for z, s in inp.zones)
    return Footprint(tuple(terms), inp.horizon_days, inp.traffic_per_day * inp.horizon_days, max_i, mean_i)


def what_if(
    base: FootprintInputs,
    *,
    zones: Mapping[str, ZoneIntensity] | None = None,
    cadences_days: Iterable[float | None] | None = None,
) -> list[dict[str, Any]]:
    """Compare the base projection with every combination of a single serving zone from ``zones``
    and a retraining cadence from ``cadences_days`` (None = no retraining). Rows are sorted by total."""
    base_fp = project(base)
    zone_opts: Sequence[tuple[str, tuple[tuple[ZoneIntensity, float], ...]]] = (
        [(name, ((z, 1.0),)) for name, z in zones.items()] if zones else [("base", base.zones)]
    )
    cad_opts: list[float | None] = list(cadences_days) if cadences_days is not None else [base.retrain_every_days]
    rows: list[dict[str, Any]] = []
    for zname, zs in zone_opts:
        for cad in cad_opts:
            fp = project(replace(base, zones=zs, retrain_every_days=cad))
            rows.append(
                {
                    "zone": zname,
                    "retrain_every_days": cad,
                    "total_g": fp.total_g,
                    "annual_g": fp.annual_g,
                    "sci_g_per_1k": fp.sci_g_per_1k,
                    "uncertainty_rel": fp.uncertainty_rel,
                    "delta_g": fp.total_g - base_fp.total_g,
                    "footprint": fp,
                }
            )
    rows.sort(key=lambda r: float(r["total_g"]))
    return rows
