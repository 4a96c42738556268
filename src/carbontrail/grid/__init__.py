"""Grid intensity: zones, intensity sources (bundled factors and series, live providers), attribution.

Modules:

* :mod:`~carbontrail.grid.zones` — zone ids, aliases, cloud regions, resolution (``lookup``, ``resolve_zone``);
* :mod:`~carbontrail.grid.series` — :class:`IntensitySeries`, the regular series every source returns;
* :mod:`~carbontrail.grid.loaders` — CSV/Parquet series files (``load_series_csv``);
* :mod:`~carbontrail.grid.bundled` — the series shipped with carbontrail (``load_series``, ``series_zones``);
* :mod:`~carbontrail.grid.sources` — the :class:`BaseIntensitySource` port, ``StaticFactors``,
  ``SeriesSource``, ``FallbackChain``;
* :mod:`~carbontrail.grid.providers` — live clients: ``ElectricityMaps``, ``WattTime``, ``UKCarbonIntensity``;
* :mod:`~carbontrail.grid.cache` — the ledger-backed cache of live data;
* :mod:`~carbontrail.grid.attribute` — time-resolved emissions of spans (``make_attributor``);
* :mod:`~carbontrail.grid.archive` — past forecasts for back-tests (``ForecastArchive``).

The names below are importable from ``carbontrail.grid`` directly; they load on first access (nothing is
imported or read at ``import carbontrail.grid``).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "IntensitySeries": "series",
    "load_series_csv": "loaders",
    "load_series": "bundled",
    "series_zones": "bundled",
    "Zone": "zones",
    "CloudRegion": "zones",
    "lookup": "zones",
    "resolve_zone": "zones",
    "BaseIntensitySource": "sources",
    "IntensityValue": "sources",
    "StaticFactors": "sources",
    "SeriesSource": "sources",
    "FallbackChain": "sources",
    "ElectricityMaps": "providers",
    "WattTime": "providers",
    "UKCarbonIntensity": "providers",
    "IntensityCache": "cache",
    "CachedSource": "cache",
    "Emissions": "attribute",
    "attribute_span": "attribute",
    "default_chain": "attribute",
    "make_attributor": "attribute",
    "ForecastArchive": "archive",
    "total_emissions": "attribute",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'carbontrail.grid' has no attribute {name!r}")
    return getattr(importlib.import_module(f"carbontrail.grid.{module}"), name)


def __dir__() -> list[str]:
    return __all__
