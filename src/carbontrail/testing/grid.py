"""A fake intensity source and the contract every intensity source must pass.

Example::

    class TestMySource(IntensitySourceContract):
        @pytest.fixture
        def source(self):
            return MySource()

        @pytest.fixture
        def served(self):
            return ("DE", start_s, end_s)   # a zone and window the source can answer
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest

from carbontrail.errors import GridError
from carbontrail.grid.series import IntensitySeries
from carbontrail.grid.sources import BaseIntensitySource, canonical_zone
from carbontrail.provenance import IntensityProvenance

__all__ = ["FakeIntensitySource", "IntensitySourceContract"]


class FakeIntensitySource(BaseIntensitySource):
    """An in-memory source: ``profile(zone, t_s) -> g/kWh`` on a regular grid; can be made to fail.

    Args:
        profile: value function, or a constant.
        zones: zones served (others raise :class:`GridError`); ``None``: any.
        step_s: grid step.
        signal, basis: labels of the values.
        live: pretend to be a live provider (the chain caches its results and applies its cooldown).
        fail: an exception to raise from every call (e.g. ``ProviderError("down")``), or ``None``.
        name: name recorded in provenance and fallbacks.
    """

    supports_forecast = True

    def __init__(
        self,
        profile: float | Callable[[str, float], float] = 100.0,
        *,
        zones: tuple[str, ...] | None = None,
        step_s: float = 3600.0,
        signal: str = "average",
        basis: str = "lifecycle",
        live: bool = False,
        fail: BaseException | None = None,
        name: str = "fake",
    ) -> None:
        self.profile = profile if callable(profile) else (lambda z, t, c=float(profile): c)
        self.zones = tuple(canonical_zone(z) for z in zones) if zones is not None else None
        self.step_s = step_s
        self.signal = signal
        self.basis = basis
        self.live = live
        self.fail = fail
        self.name = name
        self.calls: list[tuple[str, str, float, float]] = []

    def _grid(self, zone: str, start_s: float, end_s: float, estimated: bool) -> IntensitySeries:
        if self.fail is not None:
            raise self.fail
        z = canonical_zone(zone)
        if self.zones is not None and z not in self.zones:
            raise GridError(f"{self.name} does not serve {z}")
        if not end_s > start_s:
            raise GridError("empty window")
        s0 = math.floor(start_s / self.step_s) * self.step_s
        n = max(1, math.ceil((end_s - s0) / self.step_s))
        values = np.array([self.profile(z, s0 + i * self.step_s) for i in range(n)], dtype=float)
        prov = IntensityProvenance(
            zone=z,
            source=self.name,
            dataset="fake",
            vintage="test",
            signal=self.signal,
            basis=self.basis,
            resolution_s=self.step_s,
            estimated=estimated,
        )
        return IntensitySeries(s0, self.step_s, values, prov)

    def history(self, zone: str, start_s: float, end_s: float) -> IntensitySeries:
        self.calls.append(("history", zone, start_s, end_s))
        return self._grid(zone, start_s, end_s, False)

    def forecast(self, zone: str, now_s: float, horizon_s: float) -> IntensitySeries:
        self.calls.append(("forecast", zone, now_s, horizon_s))
        return self._grid(zone, now_s, now_s + horizon_s, True)


class IntensitySourceContract:
    """Behaviour every :class:`~carbontrail.grid.sources.BaseIntensitySource` must show.

    Requires fixtures ``source`` (an instance) and ``served`` (``(zone, start_s, end_s)`` it can answer).
    """

    def test_history_covers_the_window(self, source: BaseIntensitySource, served: tuple) -> None:
        zone, a, b = served
        s = source.history(zone, a, b)
        assert s.start_s <= a and s.end_s >= b
        assert np.all(np.isfinite(s.values_g_per_kwh)) and np.all(s.values_g_per_kwh >= 0)
        assert s.provenance.zone == canonical_zone(zone)
        assert s.provenance.signal in ("average", "marginal")
        assert s.provenance.basis in ("lifecycle", "direct")
        assert s.provenance.source and s.provenance.dataset and s.provenance.vintage

    def test_latest_is_labelled(self, source: BaseIntensitySource, served: tuple) -> None:
        zone, a, _ = served
        v = source.latest(zone, a)
        assert math.isfinite(v.intensity_g_per_kwh) and v.intensity_g_per_kwh >= 0
        assert v.provenance.intensity_g_per_kwh == v.intensity_g_per_kwh

    def test_empty_window_is_refused(self, source: BaseIntensitySource, served: tuple) -> None:
        zone, a, _ = served
        with pytest.raises(GridError):
            source.history(zone, a, a)

    def test_unserved_zone_is_refused(self, source: BaseIntensitySource, served: tuple) -> None:
        _, a, b = served
        with pytest.raises(GridError):
            source.history("NOWHERE-LAND", a, b)

    def test_forecast_capability(self, source: BaseIntensitySource, served: tuple) -> None:
        zone, a, _ = served
        if not source.supports_forecast:
            with pytest.raises(NotImplementedError):
                source.forecast(zone, a, 3600.0)
            return
        fc = source.forecast(zone, a, 3600.0)
        assert fc.provenance.estimated
        assert fc.start_s <= a and fc.end_s >= a + 3600.0
