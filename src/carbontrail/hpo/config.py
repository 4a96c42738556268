"""The YAML study file of ``carbontrail hpo run``: parsed and checked by hand, with clear errors.

Example (``examples/hpo_digits.yaml``)::

    study_name: digits-mlp
    objective: hpo_digits:objective     # module:function; the file's folder is importable
    direction: maximize
    quota: 300 J                         # J, kJ, Wh, kWh; or gCO2e/kgCO2e with intensity_g_per_kwh
    n_workers: 1
    n_trials: 40                         # optional
    storage: sqlite:///optuna.db         # optional Optuna RDB URL (PostgreSQL for many hosts)
    ledger: sqlite:///ledger.db          # optional; default the settings' ledger
    sampler: cost-aware                  # cost-aware, tpe or random
    dask: local                          # optional: local (a LocalCluster of processes) or a scheduler address
    measure: pkg.mod:factory             # optional: a TrialMeasure factory (default: carbontrail.track spans)
    carbon_aware:                        # optional: hold trials for low-carbon windows before the deadline
      zone: DE                           # intensity from the settings' grid sources (live, series, factors)
      deadline_at: 2025-06-01T06:00:00Z  # tz-aware; no trial starts after it
      min_saving_rel: 0.05               # optional; also trial_duration_s, power_w
    space:
      hidden: {low: 8, high: 256, log: true}
      alpha: {low: 1.0e-5, high: 1.0e-1, log: true}
      solver: [adam, sgd]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from carbontrail.errors import ConfigError

__all__ = ["HpoConfig"]

_KEYS = {
    "study_name", "objective", "direction", "quota", "n_workers", "n_trials", "storage", "ledger", "sampler",
    "dask", "space", "intensity_g_per_kwh", "seed", "timeout_s", "stale_after_s", "heartbeat_interval_s",
    "quantile", "warm_start_from", "initial_reservation_j", "tags", "measure", "carbon_aware",
}
_CARBON_KEYS = {"zone", "deadline_at", "min_saving_rel", "trial_duration_s", "power_w"}


@dataclass(frozen=True)
class HpoConfig:
    """A study file. ``base_dir`` is the folder of the file (made importable for the objective)."""

    objective: str
    space: dict[str, Any]
    quota: str
    study_name: str | None = None
    direction: str = "maximize"
    n_workers: int = 1
    n_trials: int | None = None
    storage: str | None = None
    ledger: str | None = None
    sampler: str = "cost-aware"
    dask: str | None = None
    intensity_g_per_kwh: float | None = None
    seed: int | None = None
    timeout_s: float | None = None
    stale_after_s: float = 30.0
    heartbeat_interval_s: float = 2.0
    quantile: float = 0.9
    warm_start_from: tuple[str, ...] = ()
    initial_reservation_j: float | None = None
    tags: dict[str, str] = field(default_factory=dict)
    measure: str | None = None
    carbon_aware: dict[str, Any] | None = None
    base_dir: Path = Path(".")

    @classmethod
    def from_dict(cls, data: Any, base_dir: Path = Path(".")) -> HpoConfig:
        """Validate a mapping (e.g. parsed YAML)."""
        if not isinstance(data, dict):
            raise ConfigError("hpo config: expected a mapping at the top level")
        unknown = sorted(set(data) - _KEYS)
        if unknown:
            raise ConfigError(f"hpo config: unknown keys {unknown} (known: {sorted(_KEYS)})")
        for key in ("objective", "space", "quota"):
            if key not in data:
                raise ConfigError(f"hpo config: {key!r} is required")
        if not isinstance(data["objective"], str) or ":" not in data["objective"]:
            raise ConfigError("hpo config: objective must be 'module:function'")
        if not isinstance(data["space"], dict) or not data["space"]:
            raise ConfigError("hpo config: space must be a non-empty mapping")
        kw: dict[str, Any] = {"objective": data["objective"], "space": data["space"], "quota": str(data["quota"])}

        def typed(key: str, typ: type, conv: Any = None) -> None:
            if key in data and data[key] is not None:
                v = data[key]
                if typ is float and isinstance(v, int) and not isinstance(v, bool):
                    v = float(v)
                if not isinstance(v, typ) or isinstance(v, bool):
                    raise ConfigError(f"hpo config: {key} must be a {typ.__name__}, got {v!r}")
                kw[key] = conv(v) if conv else v

        for key in ("study_name", "direction", "storage", "ledger", "sampler", "dask", "measure"):
            typed(key, str)
        for key in ("n_workers", "n_trials", "seed"):
            typed(key, int)
        for key in ("intensity_g_per_kwh", "timeout_s", "stale_after_s", "heartbeat_interval_s", "quantile",
                    "initial_reservation_j"):
            typed(key, float)
        typed("warm_start_from", list, tuple)
        typed("tags", dict, lambda d: {str(k): str(v) for k, v in d.items()})
        if kw.get("n_workers", 1) < 1:
            raise ConfigError("hpo config: n_workers must be >= 1")
        if data.get("carbon_aware") is not None:
            kw["carbon_aware"] = _carbon_aware(data["carbon_aware"])
        return cls(**kw, base_dir=base_dir)

    def carbon_timing(self, source: Any = None, forecast: Any = None) -> Any:
        """The :class:`carbontrail.hpo.timing.CarbonTiming` of ``carbon_aware`` (or None), planned on
        ``forecast`` (``forecast(now_s, until_s) -> Signal``) or on an intensity ``source``."""
        if self.carbon_aware is None:
            return None
        from carbontrail.hpo.timing import CarbonTiming

        return CarbonTiming(source=source, forecast=forecast, **self.carbon_aware)

    @classmethod
    def load(cls, path: str | Path) -> HpoConfig:
        """Read and validate a YAML study file."""
        import yaml

        p = Path(path)
        try:
            data = yaml.safe_load(p.read_text())
        except OSError as exc:
            raise ConfigError(f"cannot read hpo config {p}: {exc}") from exc
        except yaml.YAMLError as exc:
            raise ConfigError(f"hpo config {p} is not valid YAML: {exc}") from exc
        return cls.from_dict(data, base_dir=p.resolve().parent)


def _carbon_aware(v: Any) -> dict[str, Any]:
    """Check the ``carbon_aware`` mapping: a zone, a tz-aware deadline, optional numbers."""
    if not isinstance(v, dict):
        raise ConfigError("hpo config: carbon_aware must be a mapping with zone and deadline_at")
    unknown = sorted(set(v) - _CARBON_KEYS)
    if unknown:
        raise ConfigError(f"hpo config: carbon_aware: unknown keys {unknown} (known: {sorted(_CARBON_KEYS)})")
    if not isinstance(v.get("zone"), str) or not v["zone"]:
        raise ConfigError("hpo config: carbon_aware.zone must be a zone name")
    d = v.get("deadline_at")
    if isinstance(d, str):
        try:
            d = datetime.fromisoformat(d.replace("Z", "+00:00"))
        except ValueError as exc:
            raise ConfigError(f"hpo config: carbon_aware.deadline_at is not an ISO time: {d!r}") from exc
    if not isinstance(d, datetime) or d.tzinfo is None:
        raise ConfigError("hpo config: carbon_aware.deadline_at must be a time with a zone, e.g. 2025-06-01T06:00Z")
    out: dict[str, Any] = {"zone": v["zone"], "deadline_at": d}
    for key in ("min_saving_rel", "trial_duration_s", "power_w"):
        if v.get(key) is not None:
            x = v[key]
            if isinstance(x, bool) or not isinstance(x, int | float) or x < 0:
                raise ConfigError(f"hpo config: carbon_aware.{key} must be a non-negative number, got {x!r}")
            out[key] = float(x)
    return out
