"""The study's quota account in the ledger: one account, many writers.

Invariant kept under the account row's lock (``SELECT ... FOR UPDATE`` on PostgreSQL,
``BEGIN IMMEDIATE`` on SQLite)::

    committed = spent (every settled charge: trials complete, pruned, failed, stopped by quota,
                reclaimed; the sampler's own work) + reserved (open reservations of running work)
    a reservation or top-up is granted only if committed + amount <= limit

With a carbon quota, a reservation's joules count at its own intensity when it has one (a trial
held for a low-carbon window and charged at that window's intensity), else at the quota's.

A running trial holds a reservation that its watchdog tops up as the trial's measured energy grows;
when a top-up is refused the trial is stopped. A worker heartbeats its reservations with the energy
measured so far; a reservation whose heartbeat is older than ``stale_after_s`` belongs to a dead
worker and :meth:`QuotaAccount.reclaim_stale` turns it into a charge of the whole reservation (never
less than the last measured energy): the energy used between the last heartbeat and the death was
not measured, and the reservation is its upper bound, so the account never under-counts. A late
settle of a reclaimed reservation (the worker was only partitioned) corrects that charge to the
measured energy.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from carbontrail.errors import ConfigError, LedgerError
from carbontrail.hpo.quota import Quota
from carbontrail.hpo.tables import hpo_accounts, hpo_charges, hpo_reservations
from carbontrail.ledger import Ledger
from carbontrail.units import J_PER_KWH, check_finite

__all__ = ["AccountState", "QuotaAccount", "default_worker_name"]

log = logging.getLogger(__name__)

#: trial end states that count in the account
STATES = ("COMPLETE", "PRUNED", "FAIL", "QUOTA", "RECLAIMED", "CACHED")
_COUNTER = {
    "COMPLETE": "n_complete",
    "PRUNED": "n_pruned",
    "FAIL": "n_failed",
    "QUOTA": "n_stopped_by_quota",
    "RECLAIMED": "n_reclaimed",
    "CACHED": "n_cached",
}


def default_worker_name() -> str:
    """``host:pid`` — the name a worker writes on its reservations."""
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True, slots=True)
class AccountState:
    """A consistent snapshot of a study's account.

    Attributes:
        study_name: the Optuna study.
        quota: the limit.
        spent_j, spent_g: measured energy (J) and emissions (gCO2e) of everything settled, sampler included.
        sampler_j: the part of ``spent_j`` used by the sampler (ask) itself.
        reserved_j: energy held by open reservations (running trials, sampler calls).
        reserved: the same in the basis' unit (J, or gCO2e at each reservation's intensity).
        n_open: number of open trial reservations (running trials).
        counts: trials by end state (``COMPLETE``, ``PRUNED``, ``FAIL``, ``QUOTA``, ``RECLAIMED``,
            ``CACHED``) and ``REFUSED`` admissions.
        overshoot: how far ``spent`` went past the limit, in the basis' unit (0 when the guarantee held).
        status: ``open``, ``exhausted`` or ``stopped``.
    """

    study_name: str
    quota: Quota
    spent_j: float
    spent_g: float
    sampler_j: float
    reserved_j: float
    reserved: float
    n_open: int
    counts: dict[str, int]
    overshoot: float
    status: str
    updated_at: datetime

    @property
    def spent(self) -> float:
        """Spent in the basis' unit (J or gCO2e)."""
        return self.spent_j if self.quota.basis == "energy" else self.spent_g

    @property
    def committed(self) -> float:
        """Spent plus reserved, in the basis' unit."""
        return self.spent + self.reserved

    @property
    def remaining(self) -> float:
        """Limit minus committed, in the basis' unit (never below 0)."""
        return max(0.0, self.quota.limit - self.committed)

    @property
    def fraction_spent(self) -> float:
        """Spent over the limit, in [0, 1] unless overshot."""
        return self.spent / self.quota.limit

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "study_name": self.study_name,
            "basis": self.quota.basis,
            "limit": self.quota.limit,
            "unit": self.quota.unit,
            "intensity_g_per_kwh": self.quota.intensity_g_per_kwh,
            "spent_j": self.spent_j,
            "spent_g": self.spent_g,
            "sampler_j": self.sampler_j,
            "reserved_j": self.reserved_j,
            "reserved": self.reserved,
            "n_open": self.n_open,
            "committed": self.committed,
            "remaining": self.remaining,
            "fraction_spent": self.fraction_spent,
            "counts": self.counts,
            "overshoot": self.overshoot,
            "status": self.status,
            "updated_at": self.updated_at.isoformat(),
        }


class QuotaAccount:
    """The quota account of one study in the ledger. Safe to use from many threads, processes and hosts.

    Every method that takes ``now`` expects a tz-aware UTC datetime (time is passed in).
    """

    def __init__(self, ledger: Ledger, study_name: str) -> None:
        self.ledger = ledger
        self.study_name = study_name

    # -- opening ------------------------------------------------------------------------------
    @classmethod
    def open(
        cls, ledger: Ledger, study_name: str, quota: Quota | None, *, now: datetime, resume: bool = True
    ) -> QuotaAccount:
        """Create the account, or load it for a resumed study.

        With ``quota`` None the account must exist. A resumed account keeps its spending; a different
        ``quota`` replaces the limit (raising or lowering it) and is logged. ``resume=False`` refuses
        an existing account.
        """
        acc = cls(ledger, study_name)
        with ledger.write() as conn:
            row = acc._lock(conn)
            if row is None:
                if quota is None:
                    raise ConfigError(f"study {study_name!r} has no quota account; give a quota")
                conn.execute(
                    hpo_accounts.insert().values(
                        study_name=study_name,
                        basis=quota.basis,
                        limit_value=quota.limit,
                        intensity_g_per_kwh=quota.intensity_g_per_kwh,
                        spent_j=0.0,
                        spent_g=0.0,
                        sampler_j=0.0,
                        overshoot=0.0,
                        status="open",
                        created_at=now,
                        updated_at=now,
                    )
                )
                return acc
            if not resume:
                raise ConfigError(f"study {study_name!r} already has a quota account (resume=False)")
            values: dict[str, Any] = {"status": "open", "updated_at": now}
            if quota is not None and (
                quota.basis != row.basis
                or quota.limit != row.limit_value
                or quota.intensity_g_per_kwh != row.intensity_g_per_kwh
            ):
                log.info("study %s: quota changed from %s %s to %s %s on resume", study_name,
                         row.limit_value, row.basis, quota.limit, quota.basis)
                values.update(basis=quota.basis, limit_value=quota.limit,
                              intensity_g_per_kwh=quota.intensity_g_per_kwh)
            conn.execute(hpo_accounts.update().where(hpo_accounts.c.study_name == study_name).values(**values))
        return acc

    def _lock(self, conn: sa.Connection) -> Any:
        q = hpo_accounts.select().where(hpo_accounts.c.study_name == self.study_name)
        if self.ledger.dialect == "postgresql":
            q = q.with_for_update()
        return conn.execute(q).first()

    def _locked(self, conn: sa.Connection) -> Any:
        row = self._lock(conn)
        if row is None:
            raise LedgerError(f"no quota account for study {self.study_name!r}")
        return row

    @staticmethod
    def _quota(row: Any) -> Quota:
        return Quota(row.basis, row.limit_value, row.intensity_g_per_kwh)

    def _reserved(self, conn: sa.Connection, quota: Quota) -> tuple[float, float, int]:
        """Open reservations: joules, the same in the basis' unit, and the number of running trials."""
        c = hpo_reservations.c
        r = conn.execute(
            sa.select(
                sa.func.coalesce(sa.func.sum(c.amount_j), 0.0),
                sa.func.coalesce(sa.func.sum(c.amount_j * c.intensity_g_per_kwh), 0.0),
                sa.func.coalesce(sa.func.sum(sa.case((c.intensity_g_per_kwh.is_(None), c.amount_j), else_=0.0)), 0.0),
                sa.func.coalesce(sa.func.sum(sa.case((c.purpose == "trial", 1), else_=0)), 0),
            ).where(c.study_name == self.study_name)
        ).one()
        reserved_j, own_j_g_per_kwh, plain_j = float(r[0]), float(r[1]), float(r[2])
        if quota.basis == "energy":
            return reserved_j, reserved_j, int(r[3])
        return reserved_j, own_j_g_per_kwh / J_PER_KWH + quota.cost(plain_j), int(r[3])

    def _headroom(self, conn: sa.Connection, row: Any, intensity_g_per_kwh: float | None = None) -> float:
        """Remaining energy (J) that may still be reserved (counted at ``intensity_g_per_kwh`` if given)."""
        quota = self._quota(row)
        _, reserved, _ = self._reserved(conn, quota)
        spent = row.spent_j if quota.basis == "energy" else row.spent_g
        remaining = quota.limit - spent - reserved
        if remaining <= 0:
            return 0.0
        if quota.basis == "carbon" and intensity_g_per_kwh is not None:
            return math.inf if intensity_g_per_kwh <= 0 else remaining / intensity_g_per_kwh * J_PER_KWH
        return max(0.0, quota.energy_for(remaining))

    # -- reservations -------------------------------------------------------------------------
    def reserve(
        self,
        amount_j: float,
        *,
        now: datetime,
        purpose: str = "trial",
        trial_number: int | None = None,
        worker: str | None = None,
        intensity_g_per_kwh: float | None = None,
    ) -> str | None:
        """Reserve ``amount_j`` joules if it fits under the limit; return the reservation id, or None.

        ``intensity_g_per_kwh``: the intensity the reserved energy will be charged at (carbon quotas;
        default the quota's stated intensity).

        A refused trial admission is counted (``REFUSED``) and, when nothing is running any more and
        nothing fits, the account becomes ``exhausted``.
        """
        amount_j = check_finite(amount_j, "amount_j")
        with self.ledger.write() as conn:
            row = self._locked(conn)
            if row.status == "stopped":
                return None
            if amount_j > self._headroom(conn, row, intensity_g_per_kwh):
                if purpose == "trial":
                    conn.execute(
                        hpo_accounts.update()
                        .where(hpo_accounts.c.study_name == self.study_name)
                        .values(n_refused=hpo_accounts.c.n_refused + 1, updated_at=now)
                    )
                return None
            rid = uuid.uuid4().hex
            conn.execute(
                hpo_reservations.insert().values(
                    reservation_id=rid,
                    study_name=self.study_name,
                    purpose=purpose,
                    trial_number=trial_number,
                    worker=worker or default_worker_name(),
                    amount_j=amount_j,
                    measured_j=0.0,
                    intensity_g_per_kwh=intensity_g_per_kwh,
                    created_at=now,
                    heartbeat_at=now,
                )
            )
            return rid

    def top_up(self, reservation_id: str, extra_j: float, *, now: datetime) -> bool:
        """Grow a reservation by ``extra_j`` joules if it fits; False if refused or the reservation is gone."""
        extra_j = check_finite(extra_j, "extra_j")
        with self.ledger.write() as conn:
            row = self._locked(conn)
            res = conn.execute(
                hpo_reservations.select().where(hpo_reservations.c.reservation_id == reservation_id)
            ).first()
            if res is None or extra_j > self._headroom(conn, row, res.intensity_g_per_kwh):
                return False
            conn.execute(
                hpo_reservations.update()
                .where(hpo_reservations.c.reservation_id == reservation_id)
                .values(amount_j=res.amount_j + extra_j, heartbeat_at=now)
            )
            return True

    def heartbeat(self, reservation_id: str, measured_j: float, *, now: datetime) -> bool:
        """Record that the reservation's worker is alive and has measured ``measured_j`` so far.

        Returns False when the reservation was reclaimed (the worker must stop that work).
        """
        measured_j = check_finite(measured_j, "measured_j")
        with self.ledger.write() as conn:
            n = conn.execute(
                hpo_reservations.update()
                .where(hpo_reservations.c.reservation_id == reservation_id)
                .values(heartbeat_at=now, measured_j=measured_j)
            ).rowcount
        return bool(n)

    def settle(
        self,
        reservation_id: str,
        *,
        energy_j: float,
        emissions_g: float,
        state: str,
        now: datetime,
        trial_number: int | None = None,
        span_id: str | None = None,
        purpose: str = "trial",
        worker: str | None = None,
    ) -> None:
        """Close a reservation with its measured energy and emissions (charged whatever the state).

        If the reservation was reclaimed meanwhile, its charge is corrected to the measured values.
        """
        if state not in STATES:
            raise ValueError(f"state must be one of {STATES}, got {state!r}")
        energy_j = check_finite(energy_j, "energy_j")
        emissions_g = check_finite(emissions_g, "emissions_g")
        with self.ledger.write() as conn:
            row = self._locked(conn)
            res = conn.execute(
                hpo_reservations.select().where(hpo_reservations.c.reservation_id == reservation_id)
            ).first()
            prior = conn.execute(hpo_charges.select().where(hpo_charges.c.charge_id == reservation_id)).first()
            d_j, d_g = energy_j, emissions_g
            counts: dict[str, Any] = {}
            if prior is not None:  # reclaimed earlier: correct the charge, keep the RECLAIMED count
                d_j -= prior.energy_j
                d_g -= prior.emissions_g
                conn.execute(
                    hpo_charges.update()
                    .where(hpo_charges.c.charge_id == reservation_id)
                    .values(energy_j=energy_j, emissions_g=emissions_g, span_id=span_id, charged_at=now)
                )
            else:
                conn.execute(
                    hpo_charges.insert().values(
                        charge_id=reservation_id,
                        study_name=self.study_name,
                        purpose=purpose,
                        trial_number=trial_number if res is None else res.trial_number,
                        state=state,
                        energy_j=energy_j,
                        emissions_g=emissions_g,
                        span_id=span_id,
                        worker=worker or (res.worker if res is not None else default_worker_name()),
                        charged_at=now,
                    )
                )
                if purpose == "trial":
                    col = _COUNTER[state]
                    counts[col] = getattr(hpo_accounts.c, col) + 1
            if res is not None:
                conn.execute(
                    hpo_reservations.delete().where(hpo_reservations.c.reservation_id == reservation_id)
                )
            self._apply(conn, row, d_j, d_g, now, counts, sampler_j=d_j if purpose == "sampler" else 0.0)

    def _apply(
        self, conn: sa.Connection, row: Any, d_j: float, d_g: float, now: datetime,
        counts: dict[str, Any], *, sampler_j: float = 0.0,
    ) -> None:
        quota = self._quota(row)
        spent_j = row.spent_j + d_j
        spent_g = row.spent_g + d_g
        spent = spent_j if quota.basis == "energy" else spent_g
        overshoot = max(row.overshoot, spent - quota.limit)
        if spent > quota.limit * (1 + 1e-12):
            log.warning("study %s: quota overshot, spent %.6g %s of %.6g", self.study_name, spent,
                        quota.unit, quota.limit)
        conn.execute(
            hpo_accounts.update()
            .where(hpo_accounts.c.study_name == self.study_name)
            .values(
                spent_j=spent_j,
                spent_g=spent_g,
                sampler_j=row.sampler_j + sampler_j,
                overshoot=max(0.0, overshoot),
                updated_at=now,
                **counts,
            )
        )

    def record_cached(self, trial_number: int, *, now: datetime, worker: str | None = None) -> None:
        """Count a trial answered from the result cache (no energy)."""
        with self.ledger.write() as conn:
            row = self._locked(conn)
            conn.execute(
                hpo_charges.insert().values(
                    charge_id=uuid.uuid4().hex, study_name=self.study_name, purpose="cached",
                    trial_number=trial_number, state="CACHED", energy_j=0.0, emissions_g=0.0,
                    span_id=None, worker=worker or default_worker_name(), charged_at=now,
                )
            )
            self._apply(conn, row, 0.0, 0.0, now, {"n_cached": hpo_accounts.c.n_cached + 1})

    def reclaim_stale(self, stale_after_s: float, *, now: datetime) -> list[dict[str, Any]]:
        """Reclaim reservations whose heartbeat is older than ``stale_after_s`` seconds.

        Each becomes a ``RECLAIMED`` charge of the whole reservation, or of the last heartbeated
        energy if that is larger: the worker's energy after its last heartbeat is unknown, and under
        the quota guarantee's conditions a running trial never uses more than its reservation, so this
        never under-counts. Returns the reclaimed reservations as dicts (``charged_j`` added).
        """
        cutoff = now - timedelta(seconds=check_finite(stale_after_s, "stale_after_s"))
        out: list[dict[str, Any]] = []
        with self.ledger.write() as conn:
            row = self._locked(conn)
            stale = conn.execute(
                hpo_reservations.select().where(
                    hpo_reservations.c.study_name == self.study_name,
                    hpo_reservations.c.heartbeat_at < cutoff,
                )
            ).all()
            if not stale:
                return out
            quota = self._quota(row)
            d_j = d_g = sampler_j = 0.0
            n_trials = 0
            for res in stale:
                charge_j = max(float(res.amount_j), float(res.measured_j))
                intensity = res.intensity_g_per_kwh if res.intensity_g_per_kwh is not None \
                    else quota.intensity_g_per_kwh
                g = charge_j / J_PER_KWH * intensity if intensity else 0.0
                conn.execute(
                    hpo_charges.insert().values(
                        charge_id=res.reservation_id, study_name=self.study_name, purpose=res.purpose,
                        trial_number=res.trial_number, state="RECLAIMED", energy_j=charge_j,
                        emissions_g=g, span_id=None, worker=res.worker, charged_at=now,
                    )
                )
                d_j += charge_j
                d_g += g
                if res.purpose == "sampler":
                    sampler_j += charge_j
                else:
                    n_trials += 1
                out.append(dict(res._mapping) | {"charged_j": charge_j})
            conn.execute(
                hpo_reservations.delete().where(
                    hpo_reservations.c.reservation_id.in_([r.reservation_id for r in stale])
                )
            )
            self._apply(conn, row, d_j, d_g, now, {"n_reclaimed": hpo_accounts.c.n_reclaimed + n_trials},
                        sampler_j=sampler_j)
        for r in out:
            log.warning("study %s: reclaimed stale reservation %s of worker %s (trial %s, %.3g J measured, "
                        "%.3g J charged)", self.study_name, r["reservation_id"], r["worker"], r["trial_number"],
                        r["measured_j"], r["charged_j"])
        return out

    def open_reservations(self) -> list[dict[str, Any]]:
        """Open reservations as dicts."""
        with self.ledger.engine.connect() as conn:
            rows = conn.execute(
                hpo_reservations.select().where(hpo_reservations.c.study_name == self.study_name)
            ).all()
        return [dict(r._mapping) for r in rows]

    def charges(self) -> list[dict[str, Any]]:
        """Every charge of the study, oldest first."""
        with self.ledger.engine.connect() as conn:
            rows = conn.execute(
                hpo_charges.select().where(hpo_charges.c.study_name == self.study_name)
                .order_by(hpo_charges.c.charged_at, hpo_charges.c.charge_id)
            ).all()
        return [dict(r._mapping) for r in rows]

    # -- state --------------------------------------------------------------------------------
    def set_status(self, status: str, *, now: datetime) -> None:
        """Mark the account ``open``, ``exhausted`` or ``stopped`` (stopped refuses new reservations)."""
        if status not in ("open", "exhausted", "stopped"):
            raise ValueError(f"bad status {status!r}")
        with self.ledger.write() as conn:
            self._locked(conn)
            conn.execute(
                hpo_accounts.update().where(hpo_accounts.c.study_name == self.study_name)
                .values(status=status, updated_at=now)
            )

    def state(self) -> AccountState:
        """A consistent snapshot (read in one transaction)."""
        with self.ledger.engine.connect() as conn, conn.begin():
            row = conn.execute(
                hpo_accounts.select().where(hpo_accounts.c.study_name == self.study_name)
            ).first()
            if row is None:
                raise LedgerError(f"no quota account for study {self.study_name!r}")
            quota = self._quota(row)
            reserved_j, reserved, n_open = self._reserved(conn, quota)
        return AccountState(
            study_name=self.study_name,
            quota=self._quota(row),
            spent_j=row.spent_j,
            spent_g=row.spent_g,
            sampler_j=row.sampler_j,
            reserved_j=reserved_j,
            reserved=reserved,
            n_open=n_open,
            counts={s: int(getattr(row, c)) for s, c in _COUNTER.items()} | {"REFUSED": int(row.n_refused)},
            overshoot=row.overshoot,
            status=row.status,
            updated_at=row.updated_at,
        )

    @staticmethod
    def studies(ledger: Ledger) -> list[str]:
        """Names of every study with an account."""
        with ledger.engine.connect() as conn:
            q = sa.select(hpo_accounts.c.study_name).order_by(hpo_accounts.c.study_name)
            return [r[0] for r in conn.execute(q)]
