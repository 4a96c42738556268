"""Quotas: an energy (joules) or carbon (grams CO2e) limit on a whole study. Pure core."""

from __future__ import annotations

from dataclasses import dataclass

from carbontrail.errors import ConfigError, UnitError
from carbontrail.units import check_finite, emissions_g, parse_emissions_g, parse_energy_j

__all__ = ["Quota"]


@dataclass(frozen=True, slots=True)
class Quota:
    """A study-wide limit.

    Attributes:
        basis: ``"energy"`` (``limit`` in joules) or ``"carbon"`` (``limit`` in grams CO2e).
        limit: the limit in the basis' base unit.
        intensity_g_per_kwh: grid intensity used to turn energy into emissions for a carbon quota
            (reservations and predictions are in joules; a carbon quota converts them with it).
    """

    basis: str
    limit: float
    intensity_g_per_kwh: float | None = None

    def __post_init__(self) -> None:
        if self.basis not in ("energy", "carbon"):
            raise ConfigError(f"quota basis must be 'energy' or 'carbon', got {self.basis!r}")
        check_finite(self.limit, "quota")
        if self.limit <= 0:
            raise UnitError(f"quota must be > 0, got {self.limit}")
        if self.basis == "carbon":
            if self.intensity_g_per_kwh is None:
                raise ConfigError("a carbon quota needs intensity_g_per_kwh (or use an energy quota)")
            check_finite(self.intensity_g_per_kwh, "intensity_g_per_kwh")

    @classmethod
    def parse(cls, text: str | float | int | Quota, *, intensity_g_per_kwh: float | None = None) -> Quota:
        """Parse ``"500 kJ"``, ``"0.2 kWh"``, ``"3 kgCO2e"``, ``"250 g"`` (a bare number is joules).

        Mass units make a carbon quota, which needs ``intensity_g_per_kwh``.
        """
        if isinstance(text, Quota):
            return text
        if isinstance(text, str):
            try:
                return cls("energy", parse_energy_j(text), intensity_g_per_kwh)
            except UnitError as energy_err:
                try:
                    grams = parse_emissions_g(text)
                except UnitError:
                    raise UnitError(
                        f"quota {text!r} is neither an energy (J, kJ, Wh, kWh, MJ) nor a mass (g, kgCO2e, t)"
                    ) from energy_err
                return cls("carbon", grams, intensity_g_per_kwh)
        return cls("energy", parse_energy_j(text), intensity_g_per_kwh)

    def cost(self, energy_j: float) -> float:
        """``energy_j`` expressed in the basis' unit (J, or g at :attr:`intensity_g_per_kwh`)."""
        if self.basis == "energy":
            return energy_j
        assert self.intensity_g_per_kwh is not None
        return emissions_g(energy_j, self.intensity_g_per_kwh)

    def energy_for(self, amount: float) -> float:
        """Inverse of :meth:`cost`: joules that cost ``amount`` in the basis' unit."""
        if self.basis == "energy":
            return amount
        assert self.intensity_g_per_kwh is not None
        if self.intensity_g_per_kwh == 0:
            return float("inf")
        return amount / self.intensity_g_per_kwh * 3.6e6

    @property
    def unit(self) -> str:
        """``J`` or ``gCO2e``."""
        return "J" if self.basis == "energy" else "gCO2e"
