"""Units: the only place where kWh, kg, lbs or hours appear.

carbontrail stores and computes in base units — joules (``*_j``), grams CO2e (``*_g``),
grams CO2e per kWh (``*_g_per_kwh``, the unit every grid source speaks), seconds (``*_s``)
and watts (``*_w``). Conversions and parsing of human input ("2h", "5 kWh", "3 kgCO2e")
happen here and nowhere else. Every function rejects NaN and infinities with :class:`UnitError`.
"""

from __future__ import annotations

import math
import re

from carbontrail.errors import UnitError

J_PER_KWH = 3.6e6
J_PER_MWH = 3.6e9
J_PER_WH = 3.6e3
G_PER_KG = 1e3
G_PER_TONNE = 1e6
LBS_PER_MWH_TO_G_PER_KWH = 0.45359237  # 1 lb = 453.59237 g; per MWh -> per kWh divides by 1000

__all__ = [
    "G_PER_KG",
    "G_PER_TONNE",
    "J_PER_KWH",
    "J_PER_MWH",
    "LBS_PER_MWH_TO_G_PER_KWH",
    "check_finite",
    "emissions_g",
    "g_to_kg",
    "g_to_t",
    "j_to_kwh",
    "j_to_mwh",
    "kwh_to_j",
    "lbs_per_mwh_to_g_per_kwh",
    "parse_duration_s",
    "parse_emissions_g",
    "parse_energy_j",
    "parse_intensity_g_per_kwh",
    "parse_power_w",
]


def check_finite(value: object, name: str = "value", *, allow_negative: bool = False) -> float:
    """Return ``float(value)`` or raise :class:`UnitError` if it is NaN, infinite or (unless allowed) negative."""
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise UnitError(f"{name} must be a number, got {value!r}") from exc
    if not math.isfinite(v):
        raise UnitError(f"{name} must be finite, got {v}")
    if v < 0 and not allow_negative:
        raise UnitError(f"{name} must be >= 0, got {v}")
    return v


def kwh_to_j(kwh: float) -> float:
    """Kilowatt-hours to joules."""
    return check_finite(kwh, "energy_kwh", allow_negative=True) * J_PER_KWH


def j_to_kwh(energy_j: float) -> float:
    """Joules to kilowatt-hours."""
    return check_finite(energy_j, "energy_j", allow_negative=True) / J_PER_KWH


def j_to_mwh(energy_j: float) -> float:
    """Joules to megawatt-hours (the unit of CSRD E1-5 and EU AI Act documentation)."""
    return check_finite(energy_j, "energy_j", allow_negative=True) / J_PER_MWH


def g_to_kg(emissions_g: float) -> float:
    """Grams to kilograms."""
    return check_finite(emissions_g, "emissions_g", allow_negative=True) / G_PER_KG


def g_to_t(emissions_g: float) -> float:
    """Grams to tonnes (tCO2e, the unit of CSRD E1-6)."""
    return check_finite(emissions_g, "emissions_g", allow_negative=True) / G_PER_TONNE


def lbs_per_mwh_to_g_per_kwh(lbs_per_mwh: float) -> float:
    """Pounds CO2(e) per MWh (eGRID, WattTime) to grams per kWh."""
    return check_finite(lbs_per_mwh, "lbs_per_mwh") * LBS_PER_MWH_TO_G_PER_KWH


def emissions_g(energy_j: float, intensity_g_per_kwh: float) -> float:
    """Emissions in grams of ``energy_j`` joules at ``intensity_g_per_kwh``."""
    e = check_finite(energy_j, "energy_j")
    i = check_finite(intensity_g_per_kwh, "intensity_g_per_kwh")
    return e / J_PER_KWH * i


_NUM = r"([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)"


def _parse(text: str | float | int, table: dict[str, float], what: str, default_unit: str | None) -> float:
    if isinstance(text, bool):
        raise UnitError(f"{what}: expected a quantity, got {text!r}")
    if isinstance(text, int | float):
        if default_unit is None:
            raise UnitError(f"{what}: a bare number needs a unit (one of {', '.join(sorted(table))})")
        return check_finite(text, what) * table[default_unit]
    s = str(text).strip()
    m = re.fullmatch(_NUM + r"\s*([A-Za-z/_%0-9.²]*)", s)
    if not m:
        raise UnitError(f"{what}: cannot parse {text!r}")
    value = check_finite(float(m.group(1)), what)
    unit = m.group(2)
    if not unit:
        if default_unit is None:
            raise UnitError(f"{what}: {text!r} has no unit (one of {', '.join(sorted(table))})")
        unit = default_unit
    key = unit.lower()
    if key not in table:
        raise UnitError(f"{what}: unknown unit {unit!r} in {text!r} (known: {', '.join(sorted(table))})")
    return value * table[key]


_DURATION = {"s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "hr": 3600.0, "d": 86400.0, "w": 604800.0}


def parse_duration_s(text: str | float | int) -> float:
    """Parse a duration such as ``"90s"``, ``"30m"``, ``"2h"``, ``"1.5d"`` or ``"1h30m"`` to seconds.

    A bare number is read as seconds.
    """
    if isinstance(text, str):
        parts = re.findall(_NUM + r"\s*([a-zA-Z]*)", text.strip())
        joined = "".join(a + b for a, b in parts)
        if len(parts) > 1 and joined == re.sub(r"\s+", "", text):
            return sum(_parse(a + b, _DURATION, "duration", "s") for a, b in parts)
    return _parse(text, _DURATION, "duration", "s")


_ENERGY = {
    "j": 1.0, "kj": 1e3, "mj": 1e6, "gj": 1e9,
    "wh": J_PER_WH, "kwh": J_PER_KWH, "mwh": J_PER_MWH, "gwh": J_PER_MWH * 1e3,
}


def parse_energy_j(text: str | float | int) -> float:
    """Parse an energy such as ``"5 kWh"``, ``"3.6MJ"`` or ``"1200 J"`` to joules. A bare number is joules."""
    return _parse(text, _ENERGY, "energy", "j")


_MASS = {
    "g": 1.0, "gco2": 1.0, "gco2e": 1.0, "gco2eq": 1.0,
    "kg": G_PER_KG, "kgco2": G_PER_KG, "kgco2e": G_PER_KG, "kgco2eq": G_PER_KG,
    "t": G_PER_TONNE, "tco2": G_PER_TONNE, "tco2e": G_PER_TONNE, "tco2eq": G_PER_TONNE,
}


def parse_emissions_g(text: str | float | int) -> float:
    """Parse an emissions mass such as ``"3 kgCO2e"`` or ``"500 g"`` to grams CO2e. A bare number is grams."""
    return _parse(text, _MASS, "emissions", "g")


_INTENSITY = {
    "g/kwh": 1.0, "gco2/kwh": 1.0, "gco2e/kwh": 1.0, "gco2eq/kwh": 1.0,
    "kg/kwh": 1e3, "kg/mwh": 1.0, "kgco2/mwh": 1.0, "kgco2e/mwh": 1.0,
    "t/mwh": 1e3, "tco2/mwh": 1e3, "tco2e/mwh": 1e3,
    "g/mwh": 1e-3,
    "lbs/mwh": LBS_PER_MWH_TO_G_PER_KWH, "lb/mwh": LBS_PER_MWH_TO_G_PER_KWH,
    "lbs_co2_per_mwh": LBS_PER_MWH_TO_G_PER_KWH,
}


def parse_intensity_g_per_kwh(text: str | float | int, unit: str | None = None) -> float:
    """Parse a grid intensity to gCO2e/kWh, e.g. ``"250 g/kWh"``, ``"900 lbs/MWh"``.

    With ``unit`` given, ``text`` is a bare number in that unit (units as in :data:`INTENSITY_UNITS`).
    """
    if unit is not None:
        key = unit.strip().lower().replace(" ", "")
        if key not in _INTENSITY:
            raise UnitError(f"intensity: unknown unit {unit!r} (known: {', '.join(sorted(_INTENSITY))})")
        return check_finite(text, "intensity") * _INTENSITY[key]
    return _parse(text, _INTENSITY, "intensity", "g/kwh")


INTENSITY_UNITS = tuple(sorted(_INTENSITY))

_POWER = {"w": 1.0, "kw": 1e3, "mw": 1e6}


def parse_power_w(text: str | float | int) -> float:
    """Parse a power such as ``"65W"`` or ``"1.2 kW"`` to watts. A bare number is watts."""
    return _parse(text, _POWER, "power", "w")
