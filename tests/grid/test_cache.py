"""The ledger-backed cache of live data, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime

import numpy as np
import pytest

from carbontrail.errors import GridError, ProviderError
from carbontrail.grid.cache import CachedSource, IntensityCache
from carbontrail.grid.series import IntensitySeries
from carbontrail.grid.sources import FallbackChain, StaticFactors
from carbontrail.provenance import IntensityProvenance
from carbontrail.testing import FakeIntensitySource

T0 = datetime(2026, 3, 1, tzinfo=UTC).timestamp()


def _series(values, *, start=T0, step=3600.0, source="electricitymaps", zone="DE", estimated=False):
    prov = IntensityProvenance(
        zone=zone, source=source, dataset="Electricity Maps API v3", vintage="2026-03-02", resolution_s=step,
        retrieved_at=datetime(2026, 3, 2, tzinfo=UTC), estimated=estimated,
    )
    return IntensitySeries(start, step, np.asarray(values, dtype=float), prov)


def test_migration_creates_the_cache_table(ledger):
    assert any(h.startswith("grid_0001") for h in ledger.current_heads())


def test_put_get_roundtrip_and_upsert(ledger):
    cache = IntensityCache(ledger)
    assert cache.put(_series([100, 110, 120, 130])) == 4
    s = cache.get("deu", T0 + 3600, T0 + 3 * 3600)
    assert s is not None and s.start_s == T0 + 3600 and s.values_g_per_kwh.tolist() == [110, 120]
    assert s.provenance.source == "electricitymaps" and "ledger cache" in s.provenance.dataset
    assert s.provenance.retrieved_at == datetime(2026, 3, 2, tzinfo=UTC)
    # newer data for the same hours replaces the old (e.g. a revised value)
    cache.put(_series([111], start=T0 + 3600))
    assert cache.get("DE", T0 + 3600, T0 + 7200).values_g_per_kwh.tolist() == [111]
    # a hole or a window beyond the data is a miss, never partial data
    assert cache.get("DE", T0, T0 + 5 * 3600) is None
    assert cache.get("FR", T0, T0 + 3600) is None
    cache.put(_series([200, 210], start=T0 + 6 * 3600))
    assert cache.get("DE", T0 + 3 * 3600, T0 + 7 * 3600) is None


def test_forecasts_are_kept_apart(ledger):
    cache = IntensityCache(ledger)
    cache.put(_series([50, 60], estimated=True), kind="forecast")
    assert cache.get("DE", T0, T0 + 7200) is None
    src = CachedSource(cache)
    fc = src.forecast("DE", T0, 7200)
    assert fc.values_g_per_kwh.tolist() == [50, 60] and fc.provenance.estimated
    with pytest.raises(GridError, match="no cached live data"):
        src.history("DE", T0, T0 + 7200)
    with pytest.raises(GridError, match="kind"):
        cache.put(_series([1]), kind="guess")


def test_chain_writes_live_results_and_serves_them_when_the_provider_is_down(ledger):
    cache = IntensityCache(ledger)
    live = FakeIntensitySource(lambda z, t: 200.0 + (t - T0) / 3600, live=True, name="electricitymaps")
    chain = FallbackChain([live, CachedSource(cache), StaticFactors()], cache=cache)
    first = chain.history("DE", T0, T0 + 4 * 3600)
    assert first.provenance.source == "electricitymaps" and not first.provenance.fallbacks
    live.fail = ProviderError("electricitymaps: no answer within 10 s")
    chain2 = FallbackChain([live, CachedSource(cache), StaticFactors()], cache=cache)
    again = chain2.history("DE", T0 + 3600, T0 + 3 * 3600)
    assert again.provenance.source == "electricitymaps" and "ledger cache" in again.provenance.dataset
    assert again.values_g_per_kwh.tolist() == [201.0, 202.0]
    assert again.provenance.fallbacks == (
        "electricitymaps: ProviderError: electricitymaps: no answer within 10 s",
    )
    beyond = chain2.history("DE", T0 + 10 * 3600, T0 + 11 * 3600)
    assert beyond.provenance.source == "static-factors" and len(beyond.provenance.fallbacks) == 2


def test_concurrent_writers_lose_nothing(ledger):
    cache = IntensityCache(ledger)
    errors: list[BaseException] = []

    def writer(k: int) -> None:
        try:
            for j in range(5):
                s = _series([float(k)] * 10, start=T0 + (k * 5 + j) * 36000.0)
                cache.put(replace(s, provenance=replace(s.provenance, zone="FR")))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    got = cache.get("FR", T0, T0 + 20 * 36000.0)
    assert got is not None and len(got) == 200
