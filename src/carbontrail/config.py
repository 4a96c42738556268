"""Settings and their precedence.

Precedence, highest first: explicit arguments > ``CARBONTRAIL_*`` environment variables >
``carbontrail.toml`` > ``[tool.carbontrail]`` in ``pyproject.toml`` > defaults. Files are looked up
in the project directory (``project_dir`` argument, else the current directory). Nothing is read
at import time: call :func:`load_settings`.

Environment variables are the upper-cased field names with the ``CARBONTRAIL_`` prefix, e.g.
``CARBONTRAIL_LEDGER_URL``, ``CARBONTRAIL_ZONE``, ``CARBONTRAIL_DISABLED=1``.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from carbontrail.errors import ConfigError

__all__ = ["Settings", "load_settings"]


class Settings(BaseModel):
    """carbontrail settings. Units are in the field names."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    home: Path = Field(Path(".carbontrail"), description="project-local state folder (ledger, journals, caches)")
    ledger_url: str | None = Field(None, description="SQLAlchemy URL; default sqlite:///<home>/ledger.db")
    disabled: bool = Field(False, description="turn metering into a no-op")
    zone: str | None = Field(None, description="grid zone where work runs (e.g. DE, US-CA, CISO, aws:eu-west-1)")
    intensity_g_per_kwh: float | None = Field(
        None, ge=0, description="a single stated emission factor, used when no grid source is configured"
    )
    pue: float = Field(1.0, ge=1.0, description="power usage effectiveness of the site")
    pue_source: str = Field("default 1.0 (no PUE stated)", description="where the PUE figure comes from")
    attribution: Literal["process", "machine"] = Field(
        "process", description="bill the tracked process tree (default) or the whole machine"
    )
    bucket_s: float = Field(300.0, gt=0, description="width of the energy time buckets kept per span")
    cpu_power_w: float | None = Field(None, gt=0, description="stated CPU package power (overrides the TDP table)")
    cpu_model: str | None = Field(None, description="CPU model name (overrides detection)")
    ram_power_w_per_gb: float = Field(0.375, ge=0, description="RAM power model, watts per GB resident")
    constant_power_w: float = Field(0.0, ge=0, description="power of hardware carbontrail cannot see")
    constant_power_label: str = Field("other", description="label for the constant-power component")
    meters: tuple[str, ...] = Field((), description="restrict to these meters (rapl, nvml, cpu, ram, constant)")
    electricitymaps_token: str | None = None
    electricitymaps_url: str = "https://api.electricitymap.org/v3"
    watttime_username: str | None = None
    watttime_password: str | None = None
    watttime_url: str = "https://api.watttime.org"
    uk_carbon_intensity_url: str = "https://api.carbonintensity.org.uk"
    provider_timeout_s: float = Field(10.0, gt=0)
    # grid
    grid_providers: str = Field(
        "", description="comma-separated live providers for attribution (electricitymaps, watttime, "
        "uk-carbon-intensity); empty: offline"
    )
    grid_series: str | None = Field(
        None, description="a user intensity series for the zone: 'PATH?unit=g/kWh&time=COL&value=COL"
        "[&signal=average&basis=lifecycle&tz=UTC&zone=..]'"
    )

    @field_validator("home", mode="after")
    @classmethod
    def _expand(cls, v: Path) -> Path:
        return v.expanduser()

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


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _from_env(environ: dict[str, str] | os._Environ[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, info in Settings.model_fields.items():
        key = "CARBONTRAIL_" + name.upper()
        if key not in environ:
            continue
        raw = environ[key]
        if info.annotation is bool:
            low = raw.strip().lower()
            if low not in _TRUE | _FALSE:
                raise ConfigError(f"{key}={raw!r}: expected 1/0, true/false, yes/no")
            out[name] = low in _TRUE
        elif name == "meters":
            out[name] = tuple(m.strip() for m in raw.split(",") if m.strip())
        else:
            out[name] = raw
    return out


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
    Raises :class:`ConfigError` naming the offending key on a bad value.
    """
    base = Path(project_dir) if project_dir is not None else Path.cwd()
    merged: dict[str, Any] = {}
    pyproject = base / "pyproject.toml"
    if pyproject.is_file():
        merged.update(_read_toml(pyproject).get("tool", {}).get("carbontrail", {}))
    own = base / "carbontrail.toml"
    if own.is_file():
        merged.update(_read_toml(own))
    if "home" in merged and not Path(merged["home"]).expanduser().is_absolute():
        merged["home"] = base / merged["home"]
    merged.update(_from_env(os.environ if environ is None else environ))
    merged.update({k: v for k, v in overrides.items() if v is not None})
    if "home" not in merged:
        merged["home"] = base / ".carbontrail"
    try:
        return Settings(**merged)
    except ValidationError as exc:
        errs = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"invalid carbontrail settings: {errs}") from exc
