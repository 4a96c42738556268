"""API tokens and roles.

A token is ``ct_<token_id>_<secret>``; the ledger keeps only the SHA-256 of the secret (the secret is
256 random bits, so a fast hash is enough) and the token's role. Roles grant permissions:

=========== ==========================================================================
role        permissions
=========== ==========================================================================
ingest      ``spans:write`` (remote workers: nothing else)
viewer      ``read``
submitter   ``read``, ``deploy:request``
committee   ``read``, ``deploy:decide``
admin       everything, including ``tokens:admin``
=========== ==========================================================================
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from carbontrail.errors import ConfigError
from carbontrail.server.tables import api_tokens

__all__ = ["PERMISSIONS", "ROLES", "Principal", "TokenStore"]

ROLES: tuple[str, ...] = ("ingest", "viewer", "submitter", "committee", "admin")
PERMISSIONS: dict[str, frozenset[str]] = {
    "ingest": frozenset({"spans:write"}),
    "viewer": frozenset({"read"}),
    "submitter": frozenset({"read", "deploy:request"}),
    "committee": frozenset({"read", "deploy:decide"}),
    "admin": frozenset({"read", "spans:write", "deploy:request", "deploy:decide", "tokens:admin", "audit:write"}),
}


@dataclass(frozen=True, slots=True)
class Principal:
    """Who made a request: the token's id, name and role."""

    token_id: str
    name: str
    role: str

    def can(self, permission: str) -> bool:
        """True when the role grants ``permission``."""
        return permission in PERMISSIONS.get(self.role, frozenset())


def _sha(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class TokenStore:
    """Create, verify, list and revoke API tokens in the ledger.

    Verified tokens are cached in memory for ``cache_s`` seconds (a revocation takes effect within
    that time in other processes, at once in this one).
    """

    def __init__(self, ledger: Any, *, cache_s: float = 5.0) -> None:
        self.ledger = ledger
        self.cache_s = cache_s
        self._cache: dict[str, tuple[float, Principal]] = {}
        self._lock = threading.Lock()

    def create(self, name: str, role: str, *, now: datetime | None = None) -> tuple[str, Principal]:
        """Create a token; return ``(token, principal)``. The token is shown once and not stored."""
        if role not in ROLES:
            raise ConfigError(f"unknown role {role!r} (one of {', '.join(ROLES)})")
        if not name or len(name) > 200:
            raise ConfigError("a token needs a name of 1 to 200 characters")
        token_id = secrets.token_hex(8)
        secret = secrets.token_urlsafe(32)
        with self.ledger.write() as conn:
            conn.execute(
                api_tokens.insert().values(
                    token_id=token_id,
                    name=name,
                    role=role,
                    secret_sha256=_sha(secret),
                    created_at=now or datetime.now(UTC),
                )
            )
        return f"ct_{token_id}_{secret}", Principal(token_id, name, role)

    def verify(self, token: str) -> Principal | None:
        """The principal of a valid, unrevoked token, else ``None``."""
        parts = token.split("_", 2)
        if len(parts) != 3 or parts[0] != "ct" or not parts[1] or not parts[2]:
            return None
        token_id, secret = parts[1], parts[2]
        now = time.monotonic()
        key = _sha(token)
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None and now - hit[0] < self.cache_s:
                return hit[1]
        with self.ledger.engine.connect() as conn:
            row = conn.execute(
                sa.select(
                    api_tokens.c.name, api_tokens.c.role, api_tokens.c.secret_sha256, api_tokens.c.revoked_at
                ).where(api_tokens.c.token_id == token_id)
            ).first()
        if row is None or row.revoked_at is not None or not hmac.compare_digest(row.secret_sha256, _sha(secret)):
            return None
        p = Principal(token_id, row.name, row.role)
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[key] = (now, p)
        return p

    def list(self) -> list[dict[str, Any]]:
        """Every token (without secrets), newest first."""
        with self.ledger.engine.connect() as conn:
            rows = conn.execute(
                sa.select(
                    api_tokens.c.token_id,
                    api_tokens.c.name,
                    api_tokens.c.role,
                    api_tokens.c.created_at,
                    api_tokens.c.revoked_at,
                ).order_by(api_tokens.c.created_at.desc())
            ).all()
        return [dict(r._mapping) for r in rows]

    def revoke(self, token_id: str, *, now: datetime | None = None) -> bool:
        """Revoke a token; return False if there is no such active token."""
        with self.ledger.write() as conn:
            res = conn.execute(
                api_tokens.update()
                .where(api_tokens.c.token_id == token_id, api_tokens.c.revoked_at.is_(None))
                .values(revoked_at=now or datetime.now(UTC))
            )
        with self._lock:
            self._cache = {k: v for k, v in self._cache.items() if v[1].token_id != token_id}
        return bool(res.rowcount)
