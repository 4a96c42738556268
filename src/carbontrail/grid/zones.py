"""Grid zones: where electricity comes from, and how a zone is named.

A zone is one of:

* a **country** — ISO 3166-1 alpha-2 id (``DE``), alpha-3 accepted as an alias (``DEU``); annual factor
  from Our World in Data / Ember; ``DE``, ``GB`` and ``FR`` also have bundled 2020 series;
* a **US state** — ``US-XX`` (``US-CA``); annual factor from EPA eGRID2023;
* a **balancing authority** with a bundled EIA-930 2022 series — ``CISO``, ``ERCO``, ``MISO``, ``PJM``,
  ``SOCO``, ``BPAT``, ``AZPS``, ``NYIS`` (Electricity Maps ids such as ``US-CAL-CISO`` are aliases);
* a **UK region** of the UK Carbon Intensity API — ``GB-R1`` .. ``GB-R17`` (live, regional forecasts).

A **cloud region** — ``aws:eu-central-1``, ``gcp:us-central1``, ``azure:westeurope`` — resolves to the zone
where the provider publishes that region to be (``cloud_regions.csv``, one source per row).

A zone comes from an explicit argument, then ``settings.zone`` (which carries ``CARBONTRAIL_ZONE`` and the
config files); carbontrail never guesses it from the network. Unknown names raise
:class:`~carbontrail.errors.UnknownZoneError` with close matches.
"""

from __future__ import annotations

import csv
import difflib
import functools
import json
from dataclasses import dataclass

from carbontrail.config import Settings
from carbontrail.errors import UnknownZoneError
from carbontrail.grid.bundled import BUNDLED, data_path

__all__ = [
    "CLOUD_PROVIDERS",
    "UK_REGIONS",
    "CloudRegion",
    "Zone",
    "all_zones",
    "cloud_regions",
    "lookup",
    "resolve_zone",
    "search",
]

CLOUD_PROVIDERS = ("aws", "gcp", "azure")
_CLOUD_ALIASES = {
    "aws": "aws",
    "amazon": "aws",
    "gcp": "gcp",
    "google": "gcp",
    "azure": "azure",
    "microsoft": "azure",
}

#: UK Carbon Intensity API region ids (``/regional/regionid/{id}``) and their short names
UK_REGIONS: dict[int, str] = {
    1: "North Scotland",
    2: "South Scotland",
    3: "North West England",
    4: "North East England",
    5: "Yorkshire",
    6: "North Wales & Merseyside",
    7: "South Wales",
    8: "West Midlands",
    9: "East Midlands",
    10: "East England",
    11: "South West England",
    12: "South England",
    13: "London",
    14: "South East England",
    15: "England",
    16: "Scotland",
    17: "Wales",
}


@dataclass(frozen=True)
class Zone:
    """A grid zone.

    Attributes:
        zone_id: canonical id (``DE``, ``US-CA``, ``CISO``, ``GB-R13``).
        name: human name.
        kind: ``country``, ``us-state``, ``balancing-authority`` or ``uk-region``.
        country: ISO alpha-2 country the zone lies in.
        aliases: other accepted names (case-insensitive).
        parent: the enclosing zone whose annual factor applies when this zone has none of its own
            (``US`` for balancing authorities, ``GB`` for UK regions), recorded as a fallback when used.
        data: what carbontrail has for it offline: ``annual-factor``, ``series``.
    """

    zone_id: str
    name: str
    kind: str
    country: str
    aliases: tuple[str, ...] = ()
    parent: str | None = None
    data: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, object]:
        return {
            "zone": self.zone_id,
            "name": self.name,
            "kind": self.kind,
            "country": self.country,
            "aliases": list(self.aliases),
            "parent": self.parent,
            "data": list(self.data),
        }


@dataclass(frozen=True)
class CloudRegion:
    """A cloud provider's region and the grid zone it sits in, with the source of that fact."""

    provider: str
    region: str
    zone: str
    balancing_authority: str
    location: str
    basis: str
    source: str

    @property
    def key(self) -> str:
        """``provider:region``."""
        return f"{self.provider}:{self.region}"


@functools.cache
def cloud_regions() -> tuple[CloudRegion, ...]:
    """Every bundled cloud region row."""
    with data_path("cloud_regions.csv").open(newline="", encoding="utf-8") as fh:
        return tuple(CloudRegion(**row) for row in csv.DictReader(fh))


@functools.cache
def _catalogue() -> tuple[dict[str, Zone], dict[str, str], dict[str, CloudRegion]]:
    zones: dict[str, Zone] = {}
    with data_path("iso3166_countries.csv").open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            data = ("annual-factor", "series") if row["alpha2"] in BUNDLED else ("annual-factor",)
            zones[row["alpha2"]] = Zone(
                row["alpha2"], row["name"], "country", row["alpha2"], (row["alpha3"],), None, data
            )
    egrid = json.loads(data_path("egrid-2023/usa_egrid2023_state_emissions.json").read_text())
    for key, rec in egrid.items():
        if key.startswith("_") or len(str(rec.get("regionCode", ""))) != 2:
            continue
        code = rec["regionCode"].upper()
        name = key.replace("_", " ").title()
        zones[f"US-{code}"] = Zone(
            f"US-{code}", f"{name}, United States", "us-state", "US", (), "US", ("annual-factor",)
        )
    for b in BUNDLED.values():
        if b.zone in zones:
            continue
        zones[b.zone] = Zone(
            b.zone, b.name, "balancing-authority", "US", b.aliases, "US", ("series", "annual-factor")
        )
    for rid, rname in UK_REGIONS.items():
        zid = f"GB-R{rid}"
        zones[zid] = Zone(zid, f"{rname} (UK Carbon Intensity region {rid})", "uk-region", "GB", (), "GB", ())
    aliases: dict[str, str] = {}
    for z in zones.values():
        for a in (z.zone_id, *z.aliases):
            aliases.setdefault(a.upper(), z.zone_id)
    aliases.setdefault("UK", "GB")
    regions = {r.key: r for r in cloud_regions()}
    return zones, aliases, regions


def all_zones() -> list[Zone]:
    """Every known zone, sorted by id."""
    return sorted(_catalogue()[0].values(), key=lambda z: z.zone_id)


def _unknown(text: str) -> UnknownZoneError:
    _, aliases, regions = _catalogue()
    names = list(aliases) + list(regions)
    close = difflib.get_close_matches(text.strip().upper(), names, n=4, cutoff=0.6)
    close += difflib.get_close_matches(text.strip().lower(), list(regions), n=3, cutoff=0.6)
    close = list(dict.fromkeys(close))[:4]
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    return UnknownZoneError(f"unknown zone {text!r}{hint} (see `carbontrail grid zones --search`)")


def lookup(text: str) -> Zone:
    """The zone named by ``text``: a zone id, an alias, or a cloud region ``provider:region``.

    Raises:
        UnknownZoneError: unknown name, with close matches.
    """
    zones, aliases, regions = _catalogue()
    s = text.strip()
    if ":" in s:
        prov, _, region = s.partition(":")
        provider = _CLOUD_ALIASES.get(prov.strip().lower())
        if provider is None:
            raise UnknownZoneError(
                f"unknown cloud provider {prov!r} in {text!r} (known: {', '.join(CLOUD_PROVIDERS)})"
            )
        row = regions.get(f"{provider}:{region.strip().lower()}")
        if row is None:
            raise _unknown(f"{provider}:{region.strip().lower()}")
        return zones[row.zone]
    canon = aliases.get(s.upper())
    if canon is None:
        raise _unknown(s)
    return zones[canon]


def cloud_region(text: str) -> CloudRegion | None:
    """The cloud region row for ``provider:region``, or ``None`` if ``text`` is not a cloud region."""
    if ":" not in text:
        return None
    prov, _, region = text.strip().partition(":")
    provider = _CLOUD_ALIASES.get(prov.strip().lower())
    return _catalogue()[2].get(f"{provider}:{region.strip().lower()}") if provider else None


def resolve_zone(zone: str | None = None, *, settings: Settings | None = None) -> Zone | None:
    """The zone to use: ``zone`` if given, else ``settings.zone`` (``CARBONTRAIL_ZONE``), else ``None``.

    Never consults the network. Raises :class:`UnknownZoneError` for a name carbontrail does not know.
    """
    name = zone if zone else (settings.zone if settings is not None else None)
    if not name:
        return None
    return lookup(name)


def search(text: str = "") -> tuple[list[Zone], list[CloudRegion]]:
    """Zones and cloud regions whose id, alias, name or location contains ``text`` (case-insensitive)."""
    t = text.strip().lower()
    zones = [
        z
        for z in all_zones()
        if not t or t in z.zone_id.lower() or t in z.name.lower() or any(t in a.lower() for a in z.aliases)
    ]
    regions = [
        r for r in cloud_regions() if not t or t in r.key or t in r.location.lower() or t == r.zone.lower()
    ]
    return zones, regions
