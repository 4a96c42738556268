"""Enforcing MLflow server plugin: refuses alias changes that the carbontrail gate has not approved.

Run the MLflow tracking server with it::

    CARBONTRAIL_LEDGER_URL=postgresql://... mlflow server --app-name carbontrail-gate

(the ``mlflow.app`` entry point ``carbontrail-gate`` points at :func:`create_app`). Every
``POST .../registered-models/alias`` is checked with :func:`~carbontrail.registry.mlflow_sync.alias_allowed`
against the ledger's active policy; refusals answer HTTP 403 ``PERMISSION_DENIED`` and every
attempt is appended to the audit chain. Deleting an alias is always allowed (it stops serving) and
audited. MLflow's registry webhooks fire after a change and cannot block it; this hook runs before.
"""

from __future__ import annotations

import json
import logging
from typing import Any

__all__ = ["create_app"]

log = logging.getLogger(__name__)


_LEDGER: list[Any] = []


def _gate() -> Any:
    from carbontrail.audit import AuditLog
    from carbontrail.config import load_settings
    from carbontrail.ledger import Ledger
    from carbontrail.policy import Policy
    from carbontrail.registry import Gate, Registry
    from carbontrail.registry.tables import gov_policies

    if not _LEDGER:  # one ledger per server process; the schema is upgraded once
        _LEDGER.append(Ledger.open(settings=load_settings()))
    ledger = _LEDGER[0]
    audit = AuditLog(ledger)
    with ledger.engine.connect() as conn:
        row = conn.execute(gov_policies.select().where(gov_policies.c.active.is_(True))).one_or_none()
    if row is None:
        return None, audit
    policy = Policy.from_text(row.source, file=f"<active policy {row.policy_digest[:12]}>")
    return Gate(Registry(ledger, audit=audit), policy, audit, {}), audit


def create_app(app: Any = None) -> Any:
    """Wrap MLflow's server app with the alias gate (Flask ``before_request``)."""
    from flask import Response, request
    from mlflow.environment_variables import _MLFLOW_SGI_NAME
    from mlflow.server import app as mlflow_app

    from carbontrail.registry.mlflow_sync import alias_allowed

    flask_app = app if app is not None else mlflow_app

    def deny(msg: str) -> Response:
        body = json.dumps({"error_code": "PERMISSION_DENIED", "message": msg})
        return Response(body, status=403, mimetype="application/json")

    def before_request() -> Any:
        if not request.path.endswith("/registered-models/alias") or request.method not in ("POST", "DELETE"):
            return None
        data = request.get_json(silent=True) or {}
        if request.method == "DELETE" and not data:
            data = dict(request.args)
        model, alias, version = data.get("name"), data.get("alias"), data.get("version")
        try:
            gate, audit = _gate()
            if request.method == "DELETE":
                audit.append(
                    "alias-change",
                    {"model": model, "alias": alias, "deleted": True, "allowed": True, "via": "mlflow-server"},
                )
                return None
            if gate is None:
                audit.append(
                    "alias-change",
                    {
                        "model": model,
                        "version": version,
                        "alias": alias,
                        "allowed": False,
                        "reason": "no active policy",
                        "via": "mlflow-server",
                    },
                )
                return deny("carbontrail: no active deployment policy; alias changes are refused")
            ok, reason, rid = alias_allowed(gate, str(model), int(str(version)), str(alias))
            audit.append(
                "alias-change",
                {
                    "model": model,
                    "version": int(str(version)),
                    "alias": alias,
                    "allowed": ok,
                    "reason": reason,
                    "request_id": rid,
                    "via": "mlflow-server",
                },
            )
        except Exception as exc:  # fail closed: a gate that cannot decide refuses
            log.exception("carbontrail gate failed")
            return deny(f"carbontrail gate could not decide (refused): {exc}")
        if not ok:
            return deny(f"carbontrail: alias {alias!r} on {model} v{version} refused: {reason}")
        return None

    flask_app.before_request(before_request)
    if _MLFLOW_SGI_NAME.get() == "uvicorn":
        from mlflow.server.fastapi_app import create_fastapi_app

        return create_fastapi_app(flask_app)
    return flask_app
