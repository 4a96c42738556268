"""Where the scheduler's forecasts come from: one :class:`ForecastSource` for the CLI, ``run`` and workers.

For each candidate zone, in this order:

1. **a user forecast** (``forecasts=``: e.g. ``--series FILE`` used as given) covering the window;
2. **a live provider's forecast** — the providers of ``settings.grid_providers`` that publish
   forecasts and serve the zone (Electricity Maps, WattTime, UK Carbon Intensity);
3. **the built-in forecaster** (:func:`carbontrail.grid.forecast.forecast_series`) over the zone's
   history: a user series (``history=``), ``settings.grid_series``, or the bundled series.

The result is a :class:`~carbontrail.schedule.plan.Signal`; every series in it carries its own
provenance (source, ``generated_at``), so a recorded plan says which path was taken. When none of
the three can cover the window, the error names what was tried and what to configure — in
particular, the bundled series end in 2022 (EIA-930) and 2021 (ENTSO-E), so planning for *now*
needs a live provider or a recent series.

For the ``"renewable"`` objective the renewable share is forecast the same way from the zone's
share history (the bundled EIA-930 fuel mix, or a user share series).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import numpy as np

from carbontrail.errors import CarbontrailError, GridError, ScheduleError
from carbontrail.grid.series import IntensitySeries
from carbontrail.schedule.plan import Signal

__all__ = ["ForecastSource", "share_history"]

log = logging.getLogger(__name__)

def _iso(t_s: float) -> str:
    return datetime.fromtimestamp(t_s, UTC).isoformat(timespec="minutes")


def share_history(zone: str) -> IntensitySeries:
    """The bundled hourly renewable share (0..1) of ``zone`` as a series (for the forecaster)."""
    from carbontrail.grid.bundled import load_renewable_share, load_series

    sh = load_renewable_share(zone)
    prov = load_series(zone).provenance
    prov = replace(prov, source="renewable-share", dataset=sh.dataset, intensity_g_per_kwh=float(sh.share.mean()))
    return IntensitySeries(start_s=sh.start_s, step_s=sh.step_s, values_g_per_kwh=np.asarray(sh.share), provenance=prov)


class ForecastSource:
    """Builds planning signals for a fixed set of zones; call it as ``source(now_s, until_s)``.

    Args:
        zones: candidate zones (the first is home).
        settings: :class:`carbontrail.config.Settings` (providers, ``grid_series``); ``None``: offline.
        forecasts: zone -> a forecast to use as given wherever it covers the window.
        history: zone -> a history series for the built-in forecaster (takes precedence over
            ``grid_series`` and the bundled series).
        shares: zone -> renewable-share history, for the ``"renewable"`` objective.
        objective: ``"emissions"`` or ``"renewable"`` (then every zone needs a share history).
        live: the live sources to ask (default: from ``settings``); tests pass stubs served locally.
    """

    def __init__(
        self,
        zones: Sequence[str],
        *,
        settings: Any = None,
        forecasts: Mapping[str, IntensitySeries] | None = None,
        history: Mapping[str, IntensitySeries] | None = None,
        shares: Mapping[str, IntensitySeries] | None = None,
        objective: str = "emissions",
        live: Sequence[Any] | None = None,
    ) -> None:
        if not zones:
            raise ScheduleError("a forecast source needs at least one zone")
        self.zones = tuple(zones)
        self.forecasts = dict(forecasts or {})
        self.objective = objective
        self._live: list[Any] = []
        if live is not None:
            self._live = list(live)
        elif settings is not None and settings.grid_providers:
            from carbontrail.grid.attribute import live_sources

            self._live = live_sources(settings)
        from carbontrail.grid.sources import SeriesSource

        if settings is not None:
            from carbontrail.grid.attribute import settings_series

            self._series: Any = settings_series(settings)
        else:
            self._series = SeriesSource()
        for z, s in (history or {}).items():
            self._series.add(s, z)
        self._shares = dict(shares or {})
        if objective == "renewable":
            for z in self.zones:
                if z not in self._shares:
                    try:
                        self._shares[z] = share_history(z)
                    except CarbontrailError as exc:
                        raise ScheduleError(
                            f"the renewable objective needs a renewable-share history for {z}: {exc}"
                        ) from exc

    def __call__(self, now_s: float, until_s: float) -> Signal:
        """Forecasts for every zone over ``[now_s, until_s)``, made at ``now_s``."""
        if not (math.isfinite(now_s) and math.isfinite(until_s)) or until_s <= now_s:
            raise ScheduleError(f"forecast window {_iso(now_s)} to {_iso(until_s)} is empty")
        out = {z: self.forecast(z, now_s, until_s) for z in self.zones}
        shares = {z: self._forecast_history(h, z, now_s, until_s, clip=(0.0, 1.0)) for z, h in self._shares.items()}
        return Signal(out, datetime.fromtimestamp(now_s, UTC), renewable_share=shares)

    def forecast(self, zone: str, now_s: float, until_s: float) -> IntensitySeries:
        """One zone's forecast (see the module docstring for the order tried)."""
        tried: list[str] = []
        given = self.forecasts.get(zone)
        if given is not None:
            if given.start_s <= now_s and until_s <= given.end_s:
                return given.window(now_s, until_s)
            tried.append(f"the given forecast covers {_iso(given.start_s)} to {_iso(given.end_s)}")
        from carbontrail.grid.attribute import serves_zone

        for src in self._live:
            if not (getattr(src, "supports_forecast", False) and serves_zone(src, zone)):
                continue
            try:
                return src.forecast(zone, now_s, until_s - now_s)  # type: ignore[no-any-return]
            except CarbontrailError as exc:
                log.warning("%s forecast for %s unavailable: %s", getattr(src, "name", src), zone, exc)
                tried.append(f"{getattr(src, 'name', 'live')}: {exc}")
        try:
            hist = self._series.series_for(zone)
        except CarbontrailError as exc:
            tried.append(str(exc))
            raise ScheduleError(f"no forecast for {zone}: " + "; ".join(tried)) from exc
        try:
            return self._forecast_history(hist, zone, now_s, until_s)
        except GridError as exc:
            tried.append(str(exc))
            raise ScheduleError(
                f"no forecast for {zone} from {_iso(now_s)}: "
                + "; ".join(tried)
                + ". Configure a live provider (grid_providers), give a recent history (--series or grid_series),"
                " or plan a period the history covers (--earliest)"
            ) from exc

    def history_for(self, zone: str) -> IntensitySeries:
        """The recorded series of ``zone`` (a given forecast file, else its history), for realised emissions."""
        return self.forecasts.get(zone) or self._series.series_for(zone)  # type: ignore[no-any-return]

    @staticmethod
    def _forecast_history(
        hist: IntensitySeries, zone: str, now_s: float, until_s: float, clip: tuple[float, float] | None = None
    ) -> IntensitySeries:
        from carbontrail.grid.forecast import forecast_series

        if now_s > hist.end_s + hist.step_s:
            raise GridError(
                f"the {zone} history ({hist.provenance.source}: {hist.provenance.dataset}) ends {_iso(hist.end_s)},"
                f" before the forecast origin {_iso(now_s)}"
            )
        if now_s <= hist.start_s:
            raise GridError(f"the {zone} history starts {_iso(hist.start_s)}, after the forecast origin {_iso(now_s)}")
        fc = forecast_series(hist, now_s, until_s - now_s)  # reads only the history before now_s
        if clip is not None:
            fc = replace(fc, values_g_per_kwh=np.clip(fc.values_g_per_kwh, *clip))
        return fc
