"""Request dependencies: the app's state, the caller's principal and permission checks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from carbontrail.config import Settings
from carbontrail.server.auth import Principal, TokenStore
from carbontrail.server.metrics import AppMetrics

__all__ = ["COOKIE", "AppState", "require", "state"]

COOKIE = "ct_token"
bearer = HTTPBearer(auto_error=False, description="API token `ct_<id>_<secret>` (carbontrail serve token create)")


@dataclass
class AppState:
    """Everything one app instance holds: settings, ledger, tokens, metrics and its clock."""

    settings: Settings
    ledger: Any
    tokens: TokenStore
    metrics: AppMetrics
    clock: Callable[[], datetime]
    owns_ledger: bool
    gov: Any = None
    #: serialises this process's write transactions on SQLite (one writer at a time anyway), so that
    #: concurrent requests queue in order instead of sleeping in SQLite's busy handler
    write_lock: Any = None
    #: the OpenLineage emitter when ``settings.openlineage_url`` is set
    lineage: Any = None

    def writing(self) -> Any:
        """A context manager held around a request's ledger writes (a no-op on PostgreSQL)."""
        import contextlib

        return self.write_lock if self.write_lock is not None else contextlib.nullcontext()


def state(request: Request) -> AppState:
    return request.app.state.ct  # type: ignore[no-any-return]


def _principal(request: Request, creds: HTTPAuthorizationCredentials | None = Depends(bearer)) -> Principal:
    token = creds.credentials if creds is not None else request.cookies.get(COOKIE)
    if not token:
        raise HTTPException(
            401,
            "an API token is required (Authorization: Bearer ct_...)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    p = state(request).tokens.verify(token)
    if p is None:
        raise HTTPException(401, "invalid or revoked API token", headers={"WWW-Authenticate": "Bearer"})
    return p


def require(permission: str) -> Callable[..., Principal]:
    """A dependency that lets a request through only if the caller's role grants ``permission``."""

    def dep(p: Principal = Depends(_principal)) -> Principal:
        if not p.can(permission):
            raise HTTPException(403, f"role {p.role!r} may not do this (needs {permission!r})")
        return p

    return dep
