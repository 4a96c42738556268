"""Provenance records: how every energy and emissions figure was obtained.

Pure data, no I/O. Two records travel with every span:

* :class:`ComponentEnergy` — one hardware component's energy in a window, with the *method*
  that produced it (a counter that was read, a model that was evaluated, a constant the user
  stated, or ``unavailable``) and a relative uncertainty band.
* :class:`IntensityProvenance` — where the grid intensity applied to that energy came from:
  zone, source, dataset, vintage, signal kind (average or marginal), basis (lifecycle or
  direct), resolution, retrieval time, a digest of the data used, the fallbacks taken, PUE and
  its source, and an uncertainty.

Both serialise to plain JSON-ready dicts (``to_dict``/``from_dict``) for the ledger and reports.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

Method = Literal["rapl", "nvml", "cpu-time-model", "ram-model", "constant", "unavailable"]
METHODS: tuple[str, ...] = ("rapl", "nvml", "cpu-time-model", "ram-model", "constant", "unavailable")
MEASURED_METHODS: frozenset[str] = frozenset({"rapl", "nvml"})

Signal = Literal["average", "marginal"]
Basis = Literal["lifecycle", "direct"]

__all__ = [
    "METHODS",
    "ComponentEnergy",
    "IntensityProvenance",
    "digest",
]


def digest(obj: Any) -> str:
    """SHA-256 hex digest of ``obj`` serialised as canonical JSON (sorted keys, no spaces).

    Used for data, policy and input digests so that the same content always gives the same digest.
    """
    data = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str).encode()
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True, slots=True)
class ComponentEnergy:
    """Energy of one component over a window.

    Attributes:
        component: what was metered, e.g. ``"cpu:package-0"``, ``"dram:package-0"``, ``"gpu:0"``,
            ``"cpu"`` (model), ``"ram"`` (model), ``"constant:<label>"``.
        energy_j: joules in the window (0.0 when ``method == "unavailable"``; never a silent zero:
            the method says so).
        method: one of :data:`METHODS`.
        uncertainty_rel: relative half-width of the uncertainty band (0.05 = ±5 %).
        detail: method inputs worth keeping (``tdp_w``, ``cpu_model``, ``attribution_share``,
            the reason a sensor was unavailable, ...).
    """

    component: str
    energy_j: float
    method: str
    uncertainty_rel: float
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def measured(self) -> bool:
        """True when a hardware counter (RAPL, NVML) produced the figure."""
        return self.method in MEASURED_METHODS

    def to_dict(self) -> dict[str, Any]:
        return {
            "component": self.component,
            "energy_j": self.energy_j,
            "method": self.method,
            "uncertainty_rel": self.uncertainty_rel,
            "detail": self.detail,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ComponentEnergy:
        return cls(
            component=d["component"],
            energy_j=float(d["energy_j"]),
            method=d["method"],
            uncertainty_rel=float(d.get("uncertainty_rel", 0.0)),
            detail=dict(d.get("detail") or {}),
        )


@dataclass(frozen=True, slots=True)
class IntensityProvenance:
    """Where an emission factor came from.

    Attributes:
        zone: grid zone the factor applies to (``"DE"``, ``"US-CA"``, ``"CISO"``...).
        source: the intensity source (``"static-factors"``, ``"series"``, ``"electricitymaps"``,
            ``"watttime"``, ``"uk-carbon-intensity"``, ``"stated"``).
        dataset: dataset and publisher (e.g. ``"Ember/OWID carbon-intensity-electricity"``).
        vintage: data year or download date (e.g. ``"2023"``).
        signal: ``"average"`` or ``"marginal"``.
        basis: ``"lifecycle"`` or ``"direct"``.
        resolution_s: time resolution of the signal (3600 for hourly, 31536000 for annual).
        intensity_g_per_kwh: the energy-weighted mean intensity actually applied.
        retrieved_at: when the data was fetched or loaded (tz-aware UTC).
        data_digest: digest of the exact data points used (see :func:`digest`).
        snapshot_id: id of the stored factor snapshot that lets the number be recomputed.
        fallbacks: sources tried and failed before this one, with reasons.
        estimated: True when the provider marks the value as estimated/forecast.
        pue: power usage effectiveness applied; ``pue_source`` says where it came from.
        uncertainty_rel: relative uncertainty of the intensity.
        market_based: False for location-based factors (the default for every grid source).
    """

    zone: str
    source: str
    dataset: str
    vintage: str
    signal: str = "average"
    basis: str = "lifecycle"
    resolution_s: float = 3600.0
    intensity_g_per_kwh: float = 0.0
    retrieved_at: datetime | None = None
    data_digest: str = ""
    snapshot_id: str | None = None
    fallbacks: tuple[str, ...] = ()
    estimated: bool = False
    pue: float = 1.0
    pue_source: str = "default 1.0 (no PUE stated)"
    uncertainty_rel: float = 0.0
    market_based: bool = False

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["retrieved_at"] = self.retrieved_at.isoformat() if self.retrieved_at else None
        d["fallbacks"] = list(self.fallbacks)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> IntensityProvenance:
        d = dict(d)
        if d.get("retrieved_at"):
            d["retrieved_at"] = datetime.fromisoformat(d["retrieved_at"])
        d["fallbacks"] = tuple(d.get("fallbacks") or ())
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in d.items() if k in known})
