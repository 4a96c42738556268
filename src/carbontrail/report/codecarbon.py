"""CodeCarbon-compatible ``emissions.csv`` export. Pure.

One row per root span, with CodeCarbon's column names and units (``EmissionsData`` of codecarbon 3.x):
energies in kWh, emissions in kg CO2e, powers in W, duration in s. Columns carbontrail does not know
(water, coordinates, utilisation, hardware counts) are left empty rather than invented.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

from carbontrail.span import SpanRecord
from carbontrail.units import g_to_kg, j_to_kwh

__all__ = ["CODECARBON_COLUMNS", "emissions_csv", "emissions_rows"]

#: the fields of ``codecarbon.output_methods.emissions_data.EmissionsData``, in order
CODECARBON_COLUMNS: tuple[str, ...] = (
    "timestamp",
    "project_name",
    "run_id",
    "experiment_id",
    "duration",
    "emissions",
    "emissions_rate",
    "cpu_power",
    "gpu_power",
    "ram_power",
    "cpu_energy",
    "gpu_energy",
    "ram_energy",
    "energy_consumed",
    "water_consumed",
    "country_name",
    "country_iso_code",
    "region",
    "cloud_provider",
    "cloud_region",
    "os",
    "python_version",
    "codecarbon_version",
    "cpu_count",
    "cpu_model",
    "gpu_count",
    "gpu_model",
    "longitude",
    "latitude",
    "ram_total_size",
    "tracking_mode",
    "cpu_utilization_percent",
    "gpu_utilization_percent",
    "ram_utilization_percent",
    "ram_used_gb",
    "on_cloud",
    "pue",
    "wue",
)


def _component_class(name: str) -> str:
    n = name.lower()
    if n.startswith("gpu"):
        return "gpu"
    if n.startswith(("dram", "ram")):
        return "ram"
    if n.startswith("cpu") or n.startswith("package") or n.startswith("core"):
        return "cpu"
    return "other"


def emissions_rows(spans: Iterable[SpanRecord]) -> list[dict[str, Any]]:
    """Rows of the CodeCarbon CSV for the root spans among ``spans`` (children are inside their roots)."""
    rows = []
    for s in spans:
        if s.parent_id is not None:
            continue
        by: dict[str, float] = {"cpu": 0.0, "gpu": 0.0, "ram": 0.0, "other": 0.0}
        for c in s.components:
            by[_component_class(c.component)] += c.energy_j
        dur = s.duration_s if s.duration_s > 0 else 0.0
        prov = s.provenance or {}
        emis_kg = g_to_kg(s.emissions_g) if s.emissions_g is not None else None
        cpu_model = next((str(c.detail["cpu_model"]) for c in s.components if "cpu_model" in c.detail), "")
        zone = s.zone or ""
        row: dict[str, Any] = dict.fromkeys(CODECARBON_COLUMNS, "")
        row.update(
            {
                "timestamp": s.ended_at.strftime("%Y-%m-%dT%H:%M:%S"),
                "project_name": s.pipeline or s.name,
                "run_id": s.run_id,
                "experiment_id": s.span_id,
                "duration": dur,
                "emissions": "" if emis_kg is None else emis_kg,
                "emissions_rate": (emis_kg / dur) if (emis_kg is not None and dur > 0) else "",
                "cpu_power": by["cpu"] / dur if dur > 0 else 0.0,
                "gpu_power": by["gpu"] / dur if dur > 0 else 0.0,
                "ram_power": by["ram"] / dur if dur > 0 else 0.0,
                "cpu_energy": j_to_kwh(by["cpu"]),
                "gpu_energy": j_to_kwh(by["gpu"]),
                "ram_energy": j_to_kwh(by["ram"]),
                "energy_consumed": j_to_kwh(s.energy_j),
                "country_iso_code": zone if len(zone) in (2, 3) and zone.isalpha() else "",
                "region": zone,
                "cpu_model": cpu_model,
                "tracking_mode": s.attribution,
                "on_cloud": "N",
                "pue": prov.get("pue", ""),
            }
        )
        rows.append(row)
    return rows


def emissions_csv(spans: Iterable[SpanRecord]) -> str:
    """The CodeCarbon ``emissions.csv`` text for ``spans`` (header + one row per root span)."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(CODECARBON_COLUMNS), lineterminator="\n")
    w.writeheader()
    w.writerows(emissions_rows(spans))
    return buf.getvalue()
