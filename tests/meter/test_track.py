from __future__ import annotations

import itertools
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carbontrail.config import load_settings
from carbontrail.errors import CarbontrailError
from carbontrail.ledger import Ledger
from carbontrail.ledger.journal import split_buckets
from carbontrail.meter import MeterSet, Tracker, track
from carbontrail.testing import FakeMeter


@pytest.fixture
def rig(tmp_path):
    meter = FakeMeter(("cpu", "ram"), method="cpu-time-model", uncertainty_rel=0.3)
    ledger = Ledger.open(f"sqlite:///{tmp_path / 'l.db'}")
    tracker = Tracker(
        load_settings(tmp_path), meters=MeterSet([meter]), ledger=ledger, attribute=lambda rs: list(rs)
    )
    yield meter, tracker, ledger
    tracker.close()
    ledger.close()


def test_nesting_parent_covers_children(rig) -> None:
    meter, tracker, ledger = rig
    with track("outer", kind="retrain", tracker=tracker, team="ml") as outer:
        meter.add(5.0)
        with track("inner", kind="evaluate", tracker=tracker) as inner:
            meter.add(2.0, component=1)
        meter.add(1.0)
    tracker.flush()
    rows = {s.name: s for s in ledger.spans()}
    assert rows["inner"].parent_id == outer.span_id
    assert rows["outer"].energy_j == pytest.approx(8.0)
    assert rows["inner"].energy_j == pytest.approx(2.0)
    assert rows["inner"].span_id == inner.span_id
    assert rows["outer"].team == "ml"
    assert [c.method for c in rows["outer"].components] == ["cpu-time-model", "cpu-time-model"]


def test_exception_marks_failed_and_keeps_energy(rig) -> None:
    meter, tracker, ledger = rig
    t = track("boom", kind="train", tracker=tracker)
    with pytest.raises(RuntimeError), t:
        meter.add(3.0)
        raise RuntimeError("diverged")
    assert t.record is not None and t.record.status == "failed"
    assert t.record.energy_j == pytest.approx(3.0)
    assert "diverged" in (t.record.error or "")
    tracker.flush()
    assert ledger.spans()[0].status == "failed"


def test_decorator_and_explicit(rig) -> None:
    meter, tracker, ledger = rig

    @track(kind="inference", tracker=tracker)
    def predict(x: int) -> int:
        meter.add(1.5)
        return x * 2

    assert predict(4) == 8
    span = track("manual", tracker=tracker).start()
    meter.add(0.5)
    rec = span.stop()
    assert rec.energy_j == pytest.approx(0.5)
    with pytest.raises(CarbontrailError):
        span.stop()
    tracker.flush()
    names = sorted(s.name for s in ledger.spans())
    assert names == ["manual", "test_decorator_and_explicit.<locals>.predict"]


def test_unknown_kind_rejected(rig) -> None:
    _, tracker, _ = rig
    with pytest.raises(CarbontrailError, match="unknown span kind"):
        track("x", kind="training", tracker=tracker).start()


def test_threads_overlap_freely(rig) -> None:
    meter, tracker, ledger = rig
    barrier = threading.Barrier(4)

    def work(i: int) -> None:
        with track(f"t{i}", tracker=tracker):
            barrier.wait()
            meter.add(1.0)
            barrier.wait()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    tracker.flush()
    spans = ledger.spans()
    assert len(spans) == 4
    # every overlapping window saw all four increments; none is a parent of another
    assert all(s.energy_j == pytest.approx(4.0) and s.parent_id is None for s in spans)


def test_disabled_is_noop(rig, monkeypatch) -> None:
    _, tracker, ledger = rig
    monkeypatch.setenv("CARBONTRAIL_DISABLED", "1")
    with track("x", tracker=tracker) as s:
        pass
    assert s.span_id == ""
    tracker.flush()
    assert ledger.count_spans() == 0


@settings(max_examples=200, deadline=None)
@given(
    increments=st.lists(st.floats(min_value=0, max_value=1e6, allow_nan=False), min_size=2, max_size=30),
    cuts=st.lists(st.integers(min_value=0, max_value=29), min_size=0, max_size=6),
)
def test_partition_conserves_energy(increments, cuts) -> None:
    """A parent's energy equals the sum of children that partition its window."""
    meter = FakeMeter(("cpu",))
    ms = MeterSet([meter])
    points = sorted({0, len(increments), *[c % (len(increments) + 1) for c in cuts]})
    readings = []
    for i in range(len(increments) + 1):
        readings.append(ms.read())
        if i < len(increments):
            meter.add(increments[i])
    parent = sum(c.energy_j for c in ms.energy(readings[0], readings[-1]))
    children = sum(
        sum(c.energy_j for c in ms.energy(readings[a], readings[b])) for a, b in itertools.pairwise(points)
    )
    assert children == pytest.approx(parent, rel=1e-9, abs=1e-6)


@settings(max_examples=300, deadline=None)
@given(
    start=st.floats(min_value=0, max_value=1e6),
    duration=st.floats(min_value=0, max_value=20000),
    energy=st.floats(min_value=0, max_value=1e9),
    bucket=st.sampled_from([60.0, 300.0, 3600.0]),
    fracs=st.lists(st.floats(min_value=0.001, max_value=0.999), max_size=5),
)
def test_split_buckets_conserves_energy(start, duration, energy, bucket, fracs) -> None:
    end = start + duration
    fr = sorted(fracs)
    boundaries = [(start + f * duration, energy * (i + 1) / (len(fr) + 1)) for i, f in enumerate(fr)]
    buckets = split_buckets(start, end, 0.0, energy, boundaries, bucket)
    assert sum(e for _, e in buckets) == pytest.approx(energy, rel=1e-9, abs=1e-6)
    assert all(b % bucket == 0 for b, _ in buckets)
    assert all(e >= 0 for _, e in buckets)
    assert buckets[0][0] <= start and buckets[-1][0] <= max(start, end)


def test_split_buckets_follows_profile() -> None:
    # one hour span, all energy in the second half: boundary at the middle with no energy before
    b = split_buckets(0.0, 3600.0, 0.0, 100.0, [(1800.0, 0.0)], 1800.0)
    assert b == [(0.0, 0.0), (1800.0, 100.0)]
