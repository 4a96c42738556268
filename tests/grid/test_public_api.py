"""The public surface of carbontrail.grid is pinned, and importing it has no side effects."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import carbontrail.grid as grid

SRC = str(Path(__file__).parents[2] / "src")


def test_all_is_pinned_and_resolves():
    assert grid.__all__ == [
        "BaseIntensitySource",
        "CachedSource",
        "CloudRegion",
        "ElectricityMaps",
        "Emissions",
        "FallbackChain",
        "ForecastArchive",
        "IntensityCache",
        "IntensitySeries",
        "IntensityValue",
        "SeriesSource",
        "StaticFactors",
        "UKCarbonIntensity",
        "WattTime",
        "Zone",
        "attribute_span",
        "default_chain",
        "load_series",
        "load_series_csv",
        "lookup",
        "make_attributor",
        "resolve_zone",
        "series_zones",
        "total_emissions",
    ]
    for name in grid.__all__:
        assert getattr(grid, name) is not None


def test_import_loads_nothing():
    code = "import sys, carbontrail.grid; print(sorted(m for m in sys.modules if m.startswith('carbontrail.grid.')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={"PYTHONPATH": SRC})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
