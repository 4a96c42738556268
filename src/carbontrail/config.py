"""Settings and their precedence.

Precedence, highest first: explicit arguments > ``CARBONTRAIL_*`` environment variables >
``carbontrail.toml`` > ``[tool.carbontrail]`` in ``pyproject.toml`` > defaults. Files are looked up
in the project directory (``project_dir`` argument, else the current directory). Nothing is read
at import time: call :func:`load_settings`.

Environment variables are the upper-cased field names with the ``CARBONTRAIL_`` prefix, e.g.
``CARBONTRAIL_LEDGER_URL``, ``CARBONTRAIL_ZONE``, ``CARBONTRAIL_DISABLED=1``.

Settings are a frozen dataclass validated by hand (not pydantic) because they sit on the import
path of the first span, which must stay fast.
"""

from __future__ import annotations

import dataclasses
import math
import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from carbontrail.errors import ConfigError

__all__ = ["Settings", "load_settings"]


def _opt(default: Any, doc: str, **checks: Any) -> Any:
    return field(default=default, metadata={"doc": doc, **checks})


@dataclass(frozen=True)
class Settings:
    """carbontrail settings. Units are in the field names; each field's ``doc`` metadata explains it."""

    home: Path = _opt(Path(".carbontrail"), "project-local state folder (ledger, journals, caches)")
    ledger_url: str | None = _opt(None, "SQLAlchemy URL; default sqlite:///<home>/ledger.db")
    disabled: bool = _opt(False, "turn metering into a no-op")
    zone: str | None = _opt(None, "grid zone where work runs (e.g. DE, US-CA, CISO, aws:eu-west-1)")
    intensity_g_per_kwh: float | None = _opt(None, "a single stated emission factor (no grid source)", ge=0)
    pue: float = _opt(1.0, "power usage effectiveness of the site", ge=1.0)
    pue_source: str = _opt("default 1.0 (no PUE stated)", "where the PUE figure comes from")
    attribution: str = _opt("process", "bill the tracked process tree or the whole machine",
                            choices=("process", "machine"))
    bucket_s: float = _opt(300.0, "width of the energy time buckets kept per span", gt=0)
    cpu_power_w: float | None = _opt(None, "stated CPU package power (overrides the TDP table)", gt=0)
    cpu_model: str | None = _opt(None, "CPU model name (overrides detection)")
    ram_power_w_per_gb: float = _opt(0.375, "RAM power model, watts per GB resident", ge=0)
    constant_power_w: float = _opt(0.0, "power of hardware carbontrail cannot see", ge=0)
    constant_power_label: str = _opt("other", "label for the constant-power component")
    meters: tuple[str, ...] = _opt((), "restrict to these meters (rapl, nvml, cpu, ram, constant)")
    electricitymaps_token: str | None = _opt(None, "Electricity Maps API key")
    electricitymaps_url: str = _opt("https://api.electricitymap.org/v3", "Electricity Maps API base URL")
    watttime_username: str | None = _opt(None, "WattTime user")
    watttime_password: str | None = _opt(None, "WattTime password")
    watttime_url: str = _opt("https://api.watttime.org", "WattTime API base URL")
    uk_carbon_intensity_url: str = _opt("https://api.carbonintensity.org.uk", "UK Carbon Intensity API base URL")
    provider_timeout_s: float = _opt(10.0, "timeout of every provider call", gt=0)
    # grid
    grid_providers: tuple[str, ...] = _opt(
        (), "live providers used for attribution (electricitymaps, watttime, uk-carbon-intensity); none: offline"
    )
    grid_series: str | None = _opt(
        None, "a user intensity series for the zone: PATH?unit=g/kWh&time=COL&value=COL[&signal=&basis=&tz=&zone=]"
    )

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            object.__setattr__(self, f.name, _coerce(f, value))

    @property
    def resolved_ledger_url(self) -> str:
        """The ledger URL, defaulting to a SQLite file in :attr:`home`."""
        if self.ledger_url:
            return self.ledger_url
        return f"sqlite:///{(self.home / 'ledger.db').resolve()}"

    @property
    def journal_dir(self) -> Path:
        """Folder of per-process span journals awaiting ingestion."""
        return self.home / "journal"

    def replace(self, **changes: Any) -> Settings:
        """A copy with some fields changed (validated)."""
        return dataclasses.replace(self, **changes)


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _coerce(f: dataclasses.Field[Any], value: Any) -> Any:
    name, typ, meta = f.name, str(f.type), f.metadata
    if value is None:
        if "None" in typ:
            return None
        raise ConfigError(f"{name}: a value is required")
    try:
        if typ.startswith("bool"):
            if isinstance(value, str):
                low = value.strip().lower()
                if low not in _TRUE | _FALSE:
                    raise ValueError(f"expected 1/0, true/false, yes/no, got {value!r}")
                value = low in _TRUE
            value = bool(value)
        elif typ.startswith("float"):
            if isinstance(value, bool):
                raise ValueError("expected a number")
            value = float(value)
            if not math.isfinite(value):
                raise ValueError("must be finite")
        elif typ.startswith("Path"):
            value = Path(value).expanduser()
        elif typ.startswith("tuple"):
            if isinstance(value, str):
                value = tuple(v.strip() for v in value.split(",") if v.strip())
            value = tuple(str(v) for v in value)
        elif typ.startswith("str") and not isinstance(value, str):
            raise ValueError(f"expected a string, got {type(value).__name__}")
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"invalid carbontrail setting {name}={value!r}: {exc}") from exc
    if "ge" in meta and value < meta["ge"]:
        raise ConfigError(f"invalid carbontrail setting {name}={value!r}: must be >= {meta['ge']}")
    if "gt" in meta and value <= meta["gt"]:
        raise ConfigError(f"invalid carbontrail setting {name}={value!r}: must be > {meta['gt']}")
    if "choices" in meta and value not in meta["choices"]:
        raise ConfigError(f"invalid carbontrail setting {name}={value!r}: one of {', '.join(meta['choices'])}")
    return value


_NAMES = {f.name for f in fields(Settings)}


def _from_env(environ: Any) -> dict[str, Any]:
    return {
        name: environ["CARBONTRAIL_" + name.upper()]
        for name in _NAMES
        if "CARBONTRAIL_" + name.upper() in environ
    }


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from exc


def load_settings(
    project_dir: str | Path | None = None,
    environ: dict[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Build :class:`Settings` from overrides, environment, ``carbontrail.toml`` and ``pyproject.toml``.

    Relative ``home`` paths from files are resolved against ``project_dir``.
    Raises :class:`ConfigError` naming the offending key on a bad or unknown value.
    """
    base = Path(project_dir) if project_dir is not None else Path.cwd()
    merged: dict[str, Any] = {}
    sources: list[tuple[str, dict[str, Any]]] = []
    pyproject = base / "pyproject.toml"
    if pyproject.is_file():
        table = _read_toml(pyproject).get("tool", {}).get("carbontrail", {})
        sources.append((f"{pyproject} [tool.carbontrail]", table))
    own = base / "carbontrail.toml"
    if own.is_file():
        sources.append((str(own), _read_toml(own)))
    for where, data in sources:
        unknown = set(data) - _NAMES
        if unknown:
            raise ConfigError(f"{where}: unknown setting(s) {', '.join(sorted(unknown))}")
        merged.update(data)
    if "home" in merged and not Path(merged["home"]).expanduser().is_absolute():
        merged["home"] = base / merged["home"]
    merged.update(_from_env(os.environ if environ is None else environ))
    unknown = set(overrides) - _NAMES
    if unknown:
        raise ConfigError(f"unknown setting(s) {', '.join(sorted(unknown))}")
    merged.update({k: v for k, v in overrides.items() if v is not None})
    if "home" not in merged:
        merged["home"] = base / ".carbontrail"
    return Settings(**merged)
