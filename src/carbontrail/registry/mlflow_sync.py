"""MLflow adapter: mirror carbon cards as model-version tags and promote (set an alias) only when
the deployment gate allows. Needs the ``mlflow`` extra (``pip install carbontrail[mlflow]``).

MLflow's registered-model name and version number are taken to be the carbontrail registry's.
An alias is treated as the name of a deployment environment (``production``, ``staging``...):
setting alias ``A`` on version ``v`` needs an approved request for a deployment of ``v`` whose
environment is ``A`` (see :func:`alias_allowed`). The server-side enforcing plugin
(:mod:`carbontrail.registry.mlflow_app`) applies the same rule to every client.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from carbontrail.errors import ConfigError, PolicyError, RegistryError

__all__ = ["alias_allowed", "card_tags", "mirror_card", "promote"]

TAG_PREFIX = "carbontrail."


def _mlflow() -> Any:
    try:
        import mlflow
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ConfigError("MLflow support needs `pip install carbontrail[mlflow]`") from exc
    return mlflow


def card_tags(card: dict[str, Any]) -> dict[str, str]:
    """Flat string tags of a carbon card (MLflow tags are strings; units are in the keys)."""
    tags: dict[str, str] = {}
    for stage in ("search", "training", "retraining"):
        s = card.get(stage) or {}
        if s.get("spans"):
            tags[f"{TAG_PREFIX}{stage}.energy_j"] = repr(float(s["energy_j"]))
            if s.get("emissions_g") is not None:
                tags[f"{TAG_PREFIX}{stage}.emissions_g"] = repr(float(s["emissions_g"]))
            tags[f"{TAG_PREFIX}{stage}.spans"] = ",".join(s["spans"])[:4000]
            tags[f"{TAG_PREFIX}{stage}.measured_share"] = repr(float(s.get("measured_share", 0.0)))
    inf = card.get("inference") or {}
    if inf.get("energy_j_per_1k") is not None:
        tags[f"{TAG_PREFIX}inference.energy_j_per_1k"] = repr(float(inf["energy_j_per_1k"]))
        tags[f"{TAG_PREFIX}inference.span_id"] = str(inf.get("span_id"))
    for k, v in (card.get("hardware") or {}).items():
        tags[f"{TAG_PREFIX}hardware.{k}"] = str(v)
    if card.get("model_size_bytes") is not None:
        tags[f"{TAG_PREFIX}model_size_bytes"] = str(card["model_size_bytes"])
    return tags


def mirror_card(client: Any, model: str, version: int, card: dict[str, Any]) -> dict[str, str]:
    """Set the card's tags on MLflow model version ``model``/``version``; return them."""
    tags = card_tags(card)
    for k, v in tags.items():
        client.set_model_version_tag(model, str(version), k, v)
    return tags


def alias_allowed(gate: Any, model: str, version: int, alias: str) -> tuple[bool, str, str | None]:
    """``(allowed, reason, request_id)``: is there an approved, unexpired request, decided by the
    active policy, for a deployment of ``model`` v``version`` in environment ``alias``?"""
    deps = [d for d in gate.registry.deployments(model) if d.version == int(version) and d.environment == alias]
    if not deps:
        return False, f"no deployment of {model} v{version} to environment {alias!r}", None
    best = None
    for d in deps:
        reqs = gate.requests(d.deployment_id)
        if not reqs:
            continue
        req = reqs[-1]
        best = req
        if req.status == "approved" and req.policy_digest == gate.policy.digest:
            return True, f"request {req.request_id} approved", req.request_id
    if best is None:
        return False, f"no deployment request for {model} v{version} in {alias!r}", None
    return False, f"request {best.request_id} is {best.status}", best.request_id


def promote(
    gate: Any,
    client: Any,
    model: str,
    version: int,
    alias: str,
    *,
    by: str,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> str:
    """Set MLflow alias ``alias`` on ``model`` v``version`` only when the gate allows; the attempt is
    appended to the audit chain either way. Raises :class:`PolicyError` when refused."""
    ok, reason, rid = alias_allowed(gate, model, version, alias)
    gate.audit.append(
        "alias-change",
        {
            "model": model,
            "version": int(version),
            "alias": alias,
            "allowed": ok,
            "reason": reason,
            "request_id": rid,
            "by": by,
            "via": "promote",
        },
        at=clock(),
    )
    if not ok:
        raise PolicyError(f"promotion of {model} v{version} to {alias!r} refused: {reason}")
    try:
        client.set_registered_model_alias(model, alias, str(version))
    except Exception as exc:  # MlflowException and transport errors
        raise RegistryError(f"MLflow refused the alias change: {exc}") from exc
    return reason
