"""Ingest under load: 50 concurrent clients on loopback; nothing lost, nothing duplicated."""

from __future__ import annotations

import threading
from collections import Counter

from tests.server.conftest import make_span

from carbontrail.client import IngestClient

CLIENTS = 50
BATCHES = 4
PER_BATCH = 20


def test_fifty_concurrent_clients_lose_and_duplicate_nothing(live, tmp_path):
    barrier = threading.Barrier(CLIENTS)
    errors: list[BaseException] = []
    inserted = Counter()

    def worker(k: int) -> None:
        try:
            base = k * 10_000
            with IngestClient(
                live.url,
                live.tokens["ingest"],
                buffer_dir=tmp_path / f"c{k}",
                batch_size=PER_BATCH,
                timeout_s=60,
            ) as c:
                barrier.wait()
                for b in range(BATCHES):
                    batch = [make_span(base + b * PER_BATCH + i) for i in range(PER_BATCH)]
                    res = c.send(batch, wait_s=30)
                    inserted[k] += res.inserted
                    assert res.pending_batches == 0
                # every client re-sends its first batch, and a span of its neighbour
                res = c.send(
                    [make_span(base + i) for i in range(PER_BATCH)] + [make_span(((k + 1) % CLIENTS) * 10_000)],
                    wait_s=30,
                )
                inserted[k] += res.inserted
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors[:3]
    expected = {make_span(k * 10_000 + j).span_id for k in range(CLIENTS) for j in range(BATCHES * PER_BATCH)}
    stored = [s.span_id for s in live.ledger.spans()]
    assert len(stored) == len(expected) == CLIENTS * BATCHES * PER_BATCH
    assert set(stored) == expected
    assert sum(inserted.values()) == len(expected)  # each span inserted exactly once across all clients
