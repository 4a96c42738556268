"""A persistent cache of live-provider data in the ledger database (SQLite or PostgreSQL).

Every series a live provider returns through a :class:`~carbontrail.grid.sources.FallbackChain` is
upserted point by point into ``grid_intensity_cache``; :class:`CachedSource` serves it back when the
provider is unreachable, labelled as cached in the provenance. Many processes may write at once:
rows are keyed by (provider, zone, kind, signal, basis, interval start) and upserted.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import numpy as np
import sqlalchemy as sa

from carbontrail.errors import GridError, LedgerError
from carbontrail.grid.series import IntensitySeries
from carbontrail.grid.sources import BaseIntensitySource, canonical_zone
from carbontrail.grid.tables import grid_intensity_cache as T
from carbontrail.provenance import IntensityProvenance, digest

__all__ = ["CachedSource", "IntensityCache"]

_PK = ("provider", "zone", "kind", "signal", "basis", "t_s")
_KINDS = ("actual", "forecast")


class IntensityCache:
    """Live-provider data points stored in a :class:`~carbontrail.ledger.Ledger`.

    Args:
        ledger: an open ledger (its schema upgraded, so the ``grid`` migration has run).
    """

    def __init__(self, ledger: Any) -> None:
        self.ledger = ledger

    def _upsert(self) -> Any:
        if self.ledger.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        elif self.ledger.dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
        else:  # pragma: no cover
            raise LedgerError(f"unsupported ledger backend {self.ledger.dialect!r}")
        ins = insert(T)
        keep = ("step_s", "intensity_g_per_kwh", "estimated", "dataset", "vintage", "retrieved_at")
        return ins.on_conflict_do_update(index_elements=list(_PK), set_={k: ins.excluded[k] for k in keep})

    def put(self, series: IntensitySeries, *, kind: str = "actual") -> int:
        """Store every point of ``series`` (provider = ``provenance.source``); return the number of rows."""
        if kind not in _KINDS:
            raise GridError(f"cache kind must be one of {_KINDS}, got {kind!r}")
        p = series.provenance
        retrieved = p.retrieved_at or datetime.now(UTC)
        rows = [
            {
                "provider": p.source,
                "zone": canonical_zone(p.zone),
                "kind": kind,
                "signal": p.signal,
                "basis": p.basis,
                "t_s": float(t),
                "step_s": float(series.step_s),
                "intensity_g_per_kwh": float(v),
                "estimated": bool(p.estimated or (series.filled.size and series.filled[i])),
                "dataset": p.dataset[:300],
                "vintage": p.vintage[:64],
                "retrieved_at": retrieved,
            }
            for i, (t, v) in enumerate(zip(series.times_s, series.values_g_per_kwh, strict=True))
        ]
        if rows:
            with self.ledger.write() as conn:
                conn.execute(self._upsert(), rows)
        return len(rows)

    def get(
        self,
        zone: str,
        start_s: float,
        end_s: float,
        *,
        kind: str = "actual",
        providers: Sequence[str] | None = None,
    ) -> IntensitySeries | None:
        """A cached series covering ``[start_s, end_s)`` without holes, or ``None``.

        Providers are tried in the order given (default: any, by name); the first one whose cached
        points cover the window contiguously wins.
        """
        zone = canonical_zone(zone)
        q = (
            sa.select(T)
            .where(T.c.zone == zone, T.c.kind == kind, T.c.t_s < end_s, T.c.t_s > start_s - 86400.0)
            .order_by(T.c.provider, T.c.signal, T.c.basis, T.c.t_s)
        )
        if providers:
            q = q.where(T.c.provider.in_(list(providers)))
        with self.ledger.engine.connect() as conn:
            rows = conn.execute(q).mappings().all()
        groups: dict[tuple[str, str, str], list[Any]] = defaultdict(list)
        for r in rows:
            groups[(r["provider"], r["signal"], r["basis"])].append(r)
        order = list(providers) if providers else sorted({k[0] for k in groups})
        for prov_name in order:
            for key, pts in groups.items():
                if key[0] != prov_name:
                    continue
                s = _contiguous(pts, start_s, end_s, zone, kind)
                if s is not None:
                    return s
        return None


def _contiguous(pts: list[Any], start_s: float, end_s: float, zone: str, kind: str) -> IntensitySeries | None:
    step = float(pts[-1]["step_s"])
    pts = [p for p in pts if float(p["step_s"]) == step and p["t_s"] + step > start_s]
    if not pts or pts[0]["t_s"] > start_s or pts[-1]["t_s"] + step < end_s:
        return None
    t = np.array([p["t_s"] for p in pts])
    if t.size > 1 and not np.allclose(np.diff(t), step):
        return None
    values = np.array([p["intensity_g_per_kwh"] for p in pts])
    latest = max(p["retrieved_at"] for p in pts)
    first = pts[0]
    prov = IntensityProvenance(
        zone=zone,
        source=first["provider"],
        dataset=f"{first['dataset']} (from the ledger cache)",
        vintage=first["vintage"],
        signal=first["signal"],
        basis=first["basis"],
        resolution_s=step,
        retrieved_at=latest,
        data_digest=digest([[float(a), float(b)] for a, b in zip(t, values, strict=True)]),
        estimated=kind == "forecast" or any(p["estimated"] for p in pts),
    )
    return IntensitySeries(float(t[0]), step, values, prov)


class CachedSource(BaseIntensitySource):
    """Serve live-provider data from the ledger cache (the chain's link between live and offline).

    Args:
        cache: the :class:`IntensityCache`.
        providers: restrict to these providers, in order of preference (default: any).
    """

    name = "cache"
    supports_forecast = True

    def __init__(self, cache: IntensityCache, providers: Sequence[str] | None = None) -> None:
        self.cache = cache
        self.providers = list(providers) if providers else None

    def history(self, zone: str, start_s: float, end_s: float) -> IntensitySeries:
        s = self.cache.get(zone, start_s, end_s, providers=self.providers)
        if s is None:
            raise GridError(f"no cached live data for {canonical_zone(zone)} covering the window")
        return s

    def forecast(self, zone: str, now_s: float, horizon_s: float) -> IntensitySeries:
        s = self.cache.get(zone, now_s, now_s + horizon_s, kind="forecast", providers=self.providers)
        if s is None:
            raise GridError(f"no cached forecast for {canonical_zone(zone)} covering the window")
        return replace(s, provenance=replace(s.provenance, estimated=True))
