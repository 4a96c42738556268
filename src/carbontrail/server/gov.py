"""Adapter from the service to the governance areas: registry, policy gate, committee, audit chain.

The service authenticates callers with API tokens; the committee rules (member roles, quorum,
four-eyes, overrides) stay in :class:`carbontrail.registry.Gate`, which is told who acts by the
token's *name*. A token's role lets a request reach the gate; the gate's member table decides
whether that person may act. Serving-zone intensity for projections comes from the annual factors
(:func:`carbontrail.registry.grid_intensity.grid_lookup`), else the stated ``settings.intensity_g_per_kwh``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from carbontrail.config import Settings
from carbontrail.errors import CarbontrailError, RegistryError

__all__ = ["Governance"]

log = logging.getLogger(__name__)


class Governance:
    """The registry, audit log and gate of one app (policy reloaded when the active one changes)."""

    def __init__(self, settings: Settings, ledger: Any, clock: Callable[[], datetime]) -> None:
        from carbontrail.audit import AuditLog, load_or_create_key
        from carbontrail.audit.keys import KEY_FILE
        from carbontrail.registry import Registry

        self.settings = settings
        self.ledger = ledger
        self.clock = clock
        settings.home.mkdir(parents=True, exist_ok=True)
        key = load_or_create_key(settings.home / KEY_FILE, create=True)
        self.audit = AuditLog(ledger, signing_key=key, clock=clock)
        self.registry = Registry(ledger, audit=self.audit, clock=clock)
        self._policy: Any = None
        self._policy_checked = -1e9
        self._factors: Any = None

    #: how long the active policy is reused before the ledger is asked again (seconds)
    POLICY_TTL_S = 1.0

    def active_policy(self) -> Any:
        """The active :class:`~carbontrail.policy.Policy`, or ``None`` when none was activated."""
        import time

        from carbontrail.policy import Policy
        from carbontrail.registry.tables import gov_policies

        now = time.monotonic()
        if self._policy is not None and now - self._policy_checked < self.POLICY_TTL_S:
            return self._policy
        with self.ledger.engine.connect() as conn:
            row = conn.execute(gov_policies.select().where(gov_policies.c.active.is_(True))).one_or_none()
        if row is None:
            self._policy = None
            return None
        if self._policy is None or self._policy.digest != row.policy_digest:
            self._policy = Policy.from_text(row.source, file=f"<active policy {row.policy_digest[:12]}>")
        self._policy_checked = now
        return self._policy

    def intensity(self, zone: str) -> Any:
        """Serving-zone intensity for footprint projections: the grid package's annual factor
        (:func:`carbontrail.registry.grid_intensity.grid_lookup`, cached per zone), else the stated
        ``settings.intensity_g_per_kwh``."""
        from carbontrail.registry import ZoneIntensity

        try:
            if self._factors is None:
                from carbontrail.registry.grid_intensity import grid_lookup

                self._factors = grid_lookup()
            return self._factors(zone)
        except CarbontrailError as exc:
            if self.settings.intensity_g_per_kwh is not None:
                return ZoneIntensity(
                    zone,
                    intensity_g_per_kwh=self.settings.intensity_g_per_kwh,
                    provenance={"source": "stated", "via": "settings.intensity_g_per_kwh"},
                )
            raise RegistryError(f"no intensity for serving zone {zone!r}: {exc}") from exc

    def gate(self) -> Any:
        """A :class:`~carbontrail.registry.Gate` with the active policy (RegistryError if there is none)."""
        from carbontrail.registry import Gate

        policy = self.active_policy()
        if policy is None:
            raise RegistryError("no active policy: run `carbontrail policy activate FILE` first")
        return Gate(self.registry, policy, self.audit, self.intensity, clock=self.clock)

    def requests(self) -> list[Any]:
        """Every deployment request, oldest first (empty without an active policy)."""
        if self.active_policy() is None:
            from carbontrail.registry.tables import reg_requests

            with self.ledger.engine.connect() as conn:
                if conn.execute(reg_requests.select().limit(1)).first() is not None:
                    log.warning("deployment requests exist but no policy is active")
            return []
        return list(self.gate().requests())
