"""The model registry in the ledger: models, versions with span lineage and carbon cards,
deployments and their lifecycle.

Every change is appended to the audit chain when an :class:`~carbontrail.audit.AuditLog` is given.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from carbontrail.errors import LedgerError, RegistryError, UnitError
from carbontrail.registry.tables import reg_deployments, reg_models, reg_versions
from carbontrail.units import check_finite

__all__ = [
    "DEPLOYMENT_STATES",
    "DEPLOYMENT_TRANSITIONS",
    "VERSION_STATES",
    "VERSION_TRANSITIONS",
    "Deployment",
    "DeploymentSpec",
    "ModelVersion",
    "Registry",
    "carbon_card",
]

log = logging.getLogger(__name__)

VERSION_STATES = ("registered", "staging", "production", "deprecated", "retired")
VERSION_TRANSITIONS: dict[str, tuple[str, ...]] = {
    "registered": ("staging", "production", "retired"),
    "staging": ("production", "deprecated", "retired"),
    "production": ("deprecated", "retired"),
    "deprecated": ("production", "retired"),
    "retired": (),
}
DEPLOYMENT_STATES = ("draft", "requested", "approved", "active", "retired")
DEPLOYMENT_TRANSITIONS: dict[str, tuple[str, ...]] = {
    "draft": ("requested", "retired"),
    "requested": ("requested", "approved", "draft", "retired"),
    "approved": ("active", "requested", "retired"),
    "active": ("requested", "retired"),
    "retired": (),
}
LINEAGE_KINDS = ("search", "training", "retraining")


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class ModelVersion:
    """A registered model version. ``card`` is its carbon card (see :func:`carbon_card`)."""

    model: str
    version: int
    state: str
    created_at: datetime
    lineage: dict[str, list[str]]
    card: dict[str, Any]
    artifact_uri: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "version": self.version,
            "state": self.state,
            "created_at": self.created_at.isoformat(),
            "lineage": self.lineage,
            "card": self.card,
            "artifact_uri": self.artifact_uri,
        }


@dataclass(frozen=True)
class DeploymentSpec:
    """Where, how much and how long a version will serve.

    ``zones``: ``{zone: traffic share}`` (shares sum to 1); ``traffic_per_day``: predictions per
    day; ``traffic_hourly_share``: optional 24 shares by UTC hour; ``retrain_every_days``: None for
    no retraining; ``horizon_days``: projection horizon; ``pue`` of the serving site.
    """

    environment: str
    zones: dict[str, float]
    traffic_per_day: float
    horizon_days: float = 365.0
    retrain_every_days: float | None = None
    traffic_hourly_share: tuple[float, ...] | None = None
    pue: float = 1.0
    pue_source: str = "default 1.0 (no PUE stated)"
    team: str | None = None
    start_at: datetime | None = None
    retire_at: datetime | None = None
    training_share: float = 1.0
    embodied: dict[str, Any] | None = None

    def validate(self) -> None:
        if not self.environment:
            raise UnitError("deployment environment is required")
        if not self.zones:
            raise UnitError("a deployment needs at least one serving zone")
        for z, s in self.zones.items():
            if check_finite(s, f"share of zone {z}") > 1.0:
                raise UnitError(f"share of zone {z} is above 1")
        check_finite(self.traffic_per_day, "traffic_per_day")
        if check_finite(self.horizon_days, "horizon_days") <= 0:
            raise UnitError("horizon_days must be positive")
        if self.retrain_every_days is not None and check_finite(self.retrain_every_days, "retrain_every_days") <= 0:
            raise UnitError("retrain_every_days must be positive")
        for t in (self.start_at, self.retire_at):
            if t is not None and t.tzinfo is None:
                raise UnitError("deployment dates must be tz-aware UTC")
        if self.start_at and self.retire_at and self.retire_at <= self.start_at:
            raise UnitError("retire_at must be after start_at")

    def to_dict(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "zones": dict(self.zones),
            "traffic_per_day": self.traffic_per_day,
            "horizon_days": self.horizon_days,
            "retrain_every_days": self.retrain_every_days,
            "traffic_hourly_share": list(self.traffic_hourly_share) if self.traffic_hourly_share else None,
            "pue": self.pue,
            "pue_source": self.pue_source,
            "team": self.team,
            "start_at": self.start_at.isoformat() if self.start_at else None,
            "retire_at": self.retire_at.isoformat() if self.retire_at else None,
            "training_share": self.training_share,
            "embodied": self.embodied,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DeploymentSpec:
        d = dict(d)
        for k in ("start_at", "retire_at"):
            if d.get(k):
                d[k] = datetime.fromisoformat(d[k])
        if d.get("traffic_hourly_share"):
            d["traffic_hourly_share"] = tuple(d["traffic_hourly_share"])
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in d.items() if k in known})


@dataclass(frozen=True)
class Deployment:
    """A deployment of a model version into an environment."""

    deployment_id: str
    model: str
    version: int
    environment: str
    spec: DeploymentSpec
    state: str
    created_at: datetime
    updated_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "deployment_id": self.deployment_id,
            "model": self.model,
            "version": self.version,
            "environment": self.environment,
            "spec": self.spec.to_dict(),
            "state": self.state,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


def _summarise(spans: Sequence[Any]) -> dict[str, Any]:
    energy = sum(s.energy_j for s in spans)
    attributed = [s for s in spans if s.emissions_g is not None]
    methods: dict[str, float] = {}
    for s in spans:
        for c in s.components:
            methods[c.method] = methods.get(c.method, 0.0) + c.energy_j
    provs = []
    seen = set()
    for s in attributed:
        p = s.provenance or {}
        key = (p.get("zone"), p.get("source"), p.get("dataset"), p.get("vintage"))
        if key not in seen:
            seen.add(key)
            provs.append(
                {
                    k: p.get(k)
                    for k in (
                        "zone",
                        "source",
                        "dataset",
                        "vintage",
                        "signal",
                        "resolution_s",
                        "snapshot_id",
                        "pue",
                        "uncertainty_rel",
                    )
                }
            )
    return {
        "spans": [s.span_id for s in spans],
        "energy_j": energy,
        "emissions_g": sum(s.emissions_g for s in attributed) if attributed else None,
        "unattributed_spans": len(spans) - len(attributed),
        "energy_by_method_j": methods,
        "measured_share": (sum(v for k, v in methods.items() if k in ("rapl", "nvml")) / energy) if energy else 0.0,
        "intensity_provenance": provs,
    }


def carbon_card(
    lineage_spans: Mapping[str, Sequence[Any]],
    *,
    hardware: Mapping[str, Any] | None = None,
    model_size_bytes: int | None = None,
    inference: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A carbon card from the spans of a version's lineage (pure).

    Sections ``search``, ``training``, ``retraining`` sum energy (J) and emissions (g) of their
    spans with the methods that measured them and the provenance of the intensities applied;
    ``retraining.per_run_emissions_g`` averages over retraining spans. ``inference`` holds the
    measured energy per 1,000 predictions once profiled.
    """
    card: dict[str, Any] = {k: _summarise(lineage_spans.get(k, ())) for k in LINEAGE_KINDS}
    rt = card["retraining"]
    n = len(rt["spans"])
    rt["per_run_emissions_g"] = rt["emissions_g"] / n if n and rt["emissions_g"] is not None else None
    card["hardware"] = dict(hardware or {})
    card["model_size_bytes"] = model_size_bytes
    card["inference"] = dict(inference) if inference else {"measured": False}
    return card


class Registry:
    """Models, versions, carbon cards and deployments in the ledger.

    Args:
        ledger: an open :class:`~carbontrail.ledger.Ledger`.
        audit: optional :class:`~carbontrail.audit.AuditLog`; registrations, state changes and
            deployments are appended to it.
        clock: tz-aware UTC "now" (injected for tests).
    """

    def __init__(self, ledger: Any, *, audit: Any = None, clock: Callable[[], datetime] = _utcnow) -> None:
        self.ledger = ledger
        self.audit = audit
        self.clock = clock

    def _audit(self, kind: str, payload: dict[str, Any]) -> None:
        if self.audit is not None:
            self.audit.append(kind, payload, at=self.clock())

    # -- models and versions ---------------------------------------------------------------
    def register_model(
        self, name: str, *, team: str | None = None, description: str = "", tags: Mapping[str, str] | None = None
    ) -> None:
        """Register a model name (idempotent when it exists with the same team)."""
        if not name or len(name) > 200:
            raise RegistryError("a model name is 1-200 characters")
        with self.ledger.write() as conn:
            row = conn.execute(reg_models.select().where(reg_models.c.name == name)).one_or_none()
            if row is not None:
                if row.team != team:
                    raise RegistryError(f"model {name!r} exists with team {row.team!r}")
                return
            conn.execute(
                reg_models.insert().values(
                    name=name, team=team, description=description, created_at=self.clock(), tags=dict(tags or {})
                )
            )
        self._audit("registry", {"event": "model-registered", "model": name, "team": team})

    def model(self, name: str) -> dict[str, Any]:
        with self.ledger.engine.connect() as conn:
            row = conn.execute(reg_models.select().where(reg_models.c.name == name)).one_or_none()
        if row is None:
            raise RegistryError(f"no model {name!r}")
        return {
            "name": row.name,
            "team": row.team,
            "description": row.description,
            "created_at": row.created_at.isoformat(),
            "tags": row.tags,
        }

    def models(self) -> list[dict[str, Any]]:
        with self.ledger.engine.connect() as conn:
            names = [r.name for r in conn.execute(sa.select(reg_models.c.name).order_by(reg_models.c.name))]
        return [self.model(n) for n in names]

    def register_version(
        self,
        model: str,
        *,
        lineage: Mapping[str, Sequence[str]] | None = None,
        hardware: Mapping[str, Any] | None = None,
        model_size_bytes: int | None = None,
        artifact_uri: str | None = None,
    ) -> ModelVersion:
        """Register the next version of ``model`` with lineage to its spans (``{"search": [...],
        "training": [...], "retraining": [...]}``) and build its carbon card from those spans."""
        lineage = {k: list(v) for k, v in (lineage or {}).items()}
        for k in lineage:
            if k not in LINEAGE_KINDS:
                raise RegistryError(f"unknown lineage kind {k!r}; use {LINEAGE_KINDS}")
        try:
            spans = {k: [self.ledger.span(sid) for sid in ids] for k, ids in lineage.items()}
        except LedgerError as exc:
            raise RegistryError(f"lineage: {exc}") from exc
        lineage = {k: [s.span_id for s in v] for k, v in spans.items()}  # prefixes resolved
        card = carbon_card(spans, hardware=hardware, model_size_bytes=model_size_bytes)
        self.model(model)
        now = self.clock()
        with self.ledger.write() as conn:
            cur = conn.execute(
                sa.select(sa.func.max(reg_versions.c.version)).where(reg_versions.c.model == model)
            ).scalar()
            version = int(cur or 0) + 1
            conn.execute(
                reg_versions.insert().values(
                    model=model,
                    version=version,
                    state="registered",
                    created_at=now,
                    lineage=lineage,
                    card=card,
                    artifact_uri=artifact_uri,
                )
            )
        self._audit(
            "registry",
            {"event": "version-registered", "model": model, "version": version, "lineage": lineage, "card": card},
        )
        return self.version(model, version)

    def version(self, model: str, version: int) -> ModelVersion:
        with self.ledger.engine.connect() as conn:
            row = conn.execute(
                reg_versions.select().where((reg_versions.c.model == model) & (reg_versions.c.version == int(version)))
            ).one_or_none()
        if row is None:
            raise RegistryError(f"no version {version} of model {model!r}")
        return ModelVersion(
            row.model, int(row.version), row.state, row.created_at, row.lineage, row.card, row.artifact_uri
        )

    def versions(self, model: str) -> list[ModelVersion]:
        with self.ledger.engine.connect() as conn:
            nums = [
                int(r.version)
                for r in conn.execute(
                    sa.select(reg_versions.c.version)
                    .where(reg_versions.c.model == model)
                    .order_by(reg_versions.c.version)
                )
            ]
        return [self.version(model, n) for n in nums]

    def transition(self, model: str, version: int, state: str, *, by: str = "") -> ModelVersion:
        """Move a version to ``state`` along :data:`VERSION_TRANSITIONS`; illegal moves raise."""
        if state not in VERSION_STATES:
            raise RegistryError(f"unknown state {state!r}; use one of {VERSION_STATES}")
        with self.ledger.write() as conn:
            row = conn.execute(
                reg_versions.select()
                .where((reg_versions.c.model == model) & (reg_versions.c.version == int(version)))
                .with_for_update()
            ).one_or_none()
            if row is None:
                raise RegistryError(f"no version {version} of model {model!r}")
            if state not in VERSION_TRANSITIONS[row.state]:
                raise RegistryError(f"{model} v{version}: cannot go from {row.state!r} to {state!r}")
            conn.execute(
                reg_versions.update()
                .where((reg_versions.c.model == model) & (reg_versions.c.version == int(version)))
                .values(state=state)
            )
        self._audit(
            "registry",
            {"event": "version-state", "model": model, "version": version, "from": row.state, "to": state, "by": by},
        )
        return self.version(model, version)

    def set_inference(self, model: str, version: int, inference: Mapping[str, Any]) -> ModelVersion:
        """Store the measured inference section of a version's carbon card."""
        mv = self.version(model, version)
        card = {**mv.card, "inference": dict(inference)}
        with self.ledger.write() as conn:
            conn.execute(
                reg_versions.update()
                .where((reg_versions.c.model == model) & (reg_versions.c.version == int(version)))
                .values(card=card)
            )
        self._audit(
            "registry",
            {"event": "inference-profiled", "model": model, "version": version, "inference": dict(inference)},
        )
        return self.version(model, version)

    def profile(
        self,
        model: str,
        version: int,
        predict: Callable[[int], Any],
        *,
        predictions: int,
        batch_size: int = 100,
        tracker: Any = None,
        min_duration_s: float = 0.0,
    ) -> ModelVersion:
        """Measure inference energy per 1,000 predictions: run ``predict(batch_size)`` until
        ``predictions`` have been made (and at least ``min_duration_s`` elapsed) inside a tracked
        ``inference`` span, then store energy, span id and method in the card."""
        from carbontrail.meter.track import track

        if predictions <= 0 or batch_size <= 0:
            raise RegistryError("predictions and batch_size must be positive")
        self.version(model, version)
        done = 0
        t0 = time.monotonic()
        t = track(
            f"profile {model} v{version}",
            kind="inference",
            model=model,
            tracker=tracker,
            tags={"profile": "1", "version": str(version)},
        )
        with t:
            while done < predictions or time.monotonic() - t0 < min_duration_s:
                predict(batch_size)
                done += batch_size
        rec = t.record
        if rec is None:
            raise RegistryError("profiling span was not recorded (metering disabled?)")
        methods = sorted({c.method for c in rec.components})
        unc = max((c.uncertainty_rel for c in rec.components), default=0.0)
        inference = {
            # profiled by running the model; `hardware_counters` says whether RAPL/NVML read it
            "measured": rec.energy_j > 0 and any(c.method != "unavailable" for c in rec.components),
            "hardware_counters": any(c.measured for c in rec.components),
            "energy_j_per_1k": rec.energy_j / done * 1000.0,
            "predictions": done,
            "duration_s": rec.duration_s,
            "span_id": rec.span_id,
            "methods": methods,
            "uncertainty_rel": unc,
        }
        return self.set_inference(model, version, inference)

    # -- deployments -----------------------------------------------------------------------
    def create_deployment(self, model: str, version: int, spec: DeploymentSpec, *, by: str = "") -> Deployment:
        """Record a deployment (state ``draft``) of a registered version."""
        spec.validate()
        mv = self.version(model, version)
        if mv.state == "retired":
            raise RegistryError(f"{model} v{version} is retired")
        did = uuid.uuid4().hex[:16]
        now = self.clock()
        with self.ledger.write() as conn:
            conn.execute(
                reg_deployments.insert().values(
                    deployment_id=did,
                    model=model,
                    version=int(version),
                    environment=spec.environment,
                    spec=spec.to_dict(),
                    state="draft",
                    created_at=now,
                    updated_at=now,
                )
            )
        self._audit(
            "deployment",
            {
                "event": "created",
                "deployment_id": did,
                "model": model,
                "version": version,
                "spec": spec.to_dict(),
                "by": by,
            },
        )
        return self.deployment(did)

    def deployment(self, deployment_id: str) -> Deployment:
        with self.ledger.engine.connect() as conn:
            row = conn.execute(
                reg_deployments.select().where(reg_deployments.c.deployment_id == deployment_id)
            ).one_or_none()
        if row is None:
            raise RegistryError(f"no deployment {deployment_id!r}")
        return Deployment(
            row.deployment_id,
            row.model,
            int(row.version),
            row.environment,
            DeploymentSpec.from_dict(row.spec),
            row.state,
            row.created_at,
            row.updated_at,
        )

    def deployments(self, model: str | None = None) -> list[Deployment]:
        q = sa.select(reg_deployments.c.deployment_id).order_by(reg_deployments.c.created_at)
        if model:
            q = q.where(reg_deployments.c.model == model)
        with self.ledger.engine.connect() as conn:
            ids = [r[0] for r in conn.execute(q)]
        return [self.deployment(i) for i in ids]

    def update_deployment(self, deployment_id: str, spec: DeploymentSpec, *, by: str = "") -> Deployment:
        """Change a deployment's spec (zones, traffic, cadence...): its gate must be passed again."""
        spec.validate()
        self._set_state(deployment_id, None, spec=spec)
        self._audit(
            "deployment", {"event": "spec-changed", "deployment_id": deployment_id, "spec": spec.to_dict(), "by": by}
        )
        return self.deployment(deployment_id)

    def set_deployment_state(self, deployment_id: str, state: str, *, by: str = "") -> Deployment:
        """Move a deployment along :data:`DEPLOYMENT_TRANSITIONS`."""
        old = self._set_state(deployment_id, state)
        self._audit(
            "deployment", {"event": "state", "deployment_id": deployment_id, "from": old, "to": state, "by": by}
        )
        return self.deployment(deployment_id)

    def _set_state(self, deployment_id: str, state: str | None, *, spec: DeploymentSpec | None = None) -> str:
        with self.ledger.write() as conn:
            row = conn.execute(
                reg_deployments.select().where(reg_deployments.c.deployment_id == deployment_id).with_for_update()
            ).one_or_none()
            if row is None:
                raise RegistryError(f"no deployment {deployment_id!r}")
            values: dict[str, Any] = {"updated_at": self.clock()}
            if state is not None:
                if state not in DEPLOYMENT_TRANSITIONS.get(row.state, ()):
                    raise RegistryError(f"deployment {deployment_id}: cannot go from {row.state!r} to {state!r}")
                values["state"] = state
            if spec is not None:
                if row.state == "retired":
                    raise RegistryError(f"deployment {deployment_id} is retired")
                values["spec"] = spec.to_dict()
                values["environment"] = spec.environment
            conn.execute(
                reg_deployments.update().where(reg_deployments.c.deployment_id == deployment_id).values(**values)
            )
            return str(row.state)
