"""Fakes for the HPO area: a trial measure whose windows the objective charges by hand.

:class:`FakeTrialMeasure` implements :class:`carbontrail.hpo.TrialMeasure`: each window owns a
:class:`~carbontrail.testing.FakeMeter`; the objective spends energy with ``ctx.window.add(j)``
(or :func:`spend`); closing a window builds a real :class:`~carbontrail.span.SpanRecord` of the
window's kind and, with a ledger URL, writes it to the ledger. Picklable (Dask workers use it).

The objectives below are module-level so Dask worker processes can import them.
"""

from __future__ import annotations

import random
import socket
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from carbontrail.meter.base import MeterSet
from carbontrail.span import SpanRecord
from carbontrail.testing.fakes import FakeMeter

__all__ = ["FakeTrialMeasure", "FakeWindow", "failing_or_pruned_objective", "random_cost_objective", "spend"]


class FakeWindow:
    """An open window over its own fake meter."""

    def __init__(self, owner: FakeTrialMeasure, name: str, kind: str, tags: dict[str, str]) -> None:
        self.owner = owner
        self.name = name
        self.kind = kind
        self.tags = dict(tags)
        self.meter = FakeMeter(("cpu",), method="constant")
        self._set = MeterSet([self.meter])
        self._start = self._set.read()
        self._t0 = time.time()
        self.record: SpanRecord | None = None

    def add(self, energy_j: float) -> None:
        """Spend ``energy_j`` joules in this window."""
        self.meter.add(energy_j)

    def energy_j(self) -> float:
        return sum(self._set.read()) - sum(self._start)

    def stop(self, status: str = "ok", error: str | None = None) -> SpanRecord:
        t1 = time.time()
        comps = self._set.energy(self._start, self._set.read())
        e = sum(c.energy_j for c in comps)
        rec = SpanRecord(
            span_id=uuid.uuid4().hex, run_id=self.owner.run_id, name=self.name, kind=self.kind,
            started_at=datetime.fromtimestamp(self._t0, UTC), ended_at=datetime.fromtimestamp(t1, UTC),
            duration_s=t1 - self._t0, energy_j=e, components=comps, buckets=[(self._t0, e)], status=status,
            tags=self.tags, host=socket.gethostname(), error=error,
        )
        self.record = rec
        self.owner._write(rec)
        return rec


class FakeTrialMeasure:
    """A :class:`carbontrail.hpo.TrialMeasure` over fake meters; spans go to ``ledger_url`` if given."""

    def __init__(self, ledger_url: str | None = None, run_id: str | None = None) -> None:
        self.ledger_url = ledger_url
        self.run_id = run_id or uuid.uuid4().hex
        self._ledger: Any = None

    def __getstate__(self) -> dict[str, Any]:
        return {"ledger_url": self.ledger_url, "run_id": self.run_id, "_ledger": None}

    def start(self, name: str, kind: str, tags: dict[str, str]) -> FakeWindow:
        return FakeWindow(self, name, kind, tags)

    def _write(self, rec: SpanRecord) -> None:
        if self.ledger_url is None:
            return
        if self._ledger is None:
            from carbontrail.ledger import Ledger

            self._ledger = Ledger.open(self.ledger_url, upgrade=False)
        self._ledger.add_spans([rec])


def spend(ctx: Any, energy_j: float) -> None:
    """Spend ``energy_j`` in the trial of ``ctx`` (a :class:`carbontrail.hpo.TrialContext`)."""
    ctx.window.add(energy_j)


def random_cost_objective(ctx: Any) -> float:
    """Steps of random cost: trial cost scales with ``x`` (1..100 J per step), 1-8 steps, +-20 % noise.

    Spends its energy step by step and reports after each step (so the quota can stop it).
    Value: ``-(x - 0.3)^2 - (y - 0.6)^2``. Costs are a deterministic function of the trial number.
    """
    rng = random.Random(ctx.number * 7919 + 17)
    x, y = float(ctx.params["x"]), float(ctx.params["y"])
    base = 1.0 + 99.0 * x
    steps = rng.randint(1, 8)
    for step in range(steps):
        spend(ctx, base * rng.uniform(0.8, 1.2))
        ctx.report(-((x - 0.3) ** 2), step)
        if ctx.should_prune():
            import optuna

            raise optuna.TrialPruned()
        time.sleep(0.001)
    return -((x - 0.3) ** 2) - (y - 0.6) ** 2


def failing_or_pruned_objective(ctx: Any) -> float:
    """Trial ``n``: fails when ``n % 3 == 1``, is pruned when ``n % 3 == 2``, else completes; 10 J each."""
    import optuna

    spend(ctx, 10.0)
    if ctx.number % 3 == 1:
        raise RuntimeError("boom")
    if ctx.number % 3 == 2:
        raise optuna.TrialPruned()
    return float(ctx.params["x"])
