"""The planner: constraints always hold, optimal for the forecast (vs brute force), guard, zones."""

from __future__ import annotations

import itertools
import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carbontrail.errors import ScheduleError
from carbontrail.grid.series import IntensitySeries
from carbontrail.provenance import IntensityProvenance
from carbontrail.schedule.plan import (
    Interruptible,
    Job,
    Signal,
    brute_force_plan,
    plan,
    plan_contiguous,
    plan_interruptible,
    plan_rolling_mean,
)
from carbontrail.units import J_PER_KWH

T0 = datetime(2024, 3, 1, tzinfo=UTC)
STEP = 3600.0


def series(values, zone: str = "AA", unc=None, step: float = STEP) -> IntensitySeries:
    prov = IntensityProvenance(zone=zone, source="series", dataset="synthetic", vintage="2024")
    return IntensitySeries(
        start_s=T0.timestamp(),
        step_s=step,
        values_g_per_kwh=np.asarray(values, dtype=float),
        provenance=prov,
        uncertainty_rel=np.asarray(unc if unc is not None else [], dtype=float),
    )


def hours(h: float) -> timedelta:
    return timedelta(hours=h)


instances = st.integers(3, 7).flatmap(
    lambda t: st.tuples(
        st.lists(st.integers(0, 50).map(float), min_size=t, max_size=t),
        st.integers(1, t),  # work slots
        st.integers(1, 3),  # min chunk (slots)
        st.one_of(st.none(), st.integers(0, 2)),  # max pauses
        st.integers(0, 2),  # overhead slots
        st.integers(0, 2),  # earliest offset
    )
)


@settings(max_examples=120, deadline=None)
@given(instances)
def test_interruptible_plan_is_feasible_and_optimal(inst) -> None:
    values, n, m, pauses, o, e0 = inst
    t = len(values)
    job = Job(
        earliest_at=T0 + hours(e0),
        deadline_at=T0 + hours(t),
        duration_s=n * STEP,
        power_w=200.0,
        interruptible=Interruptible(min_chunk_s=m * STEP, max_pauses=pauses, checkpoint_overhead_s=o * STEP),
    )
    window = values[e0:]
    mc = None if pauses is None else pauses + 1
    bf = brute_force_plan(
        window,
        [200.0] * n,
        min_chunk=m if m < n else n,
        max_chunks=mc,
        overhead=o,
        overhead_power=200.0,
        contiguous=m >= n,
    )
    if math.isinf(bf):
        with pytest.raises(ScheduleError):
            plan(job, Signal.single(series(values)), error_band_z=0)
        return
    p = plan(job, Signal.single(series(values)), error_band_z=0)
    best = bf * STEP / J_PER_KWH
    if p.decision == "shift":
        assert p.expected_emissions_g == pytest.approx(best, abs=1e-9)
        _check_constraints(p.chunks, job)
    else:
        # run now is only chosen when no plan beats it
        assert p.run_now_emissions_g <= best + 1e-9
    _check_constraints(p.best_shift_chunks, job)


def _check_constraints(chunks, job: Job) -> None:
    assert chunks[0][0] >= job.earliest_at
    assert chunks[-1][1] <= job.deadline_at
    for (_, b), (c, _) in itertools.pairwise(chunks):
        assert c > b  # real pauses between chunks
    it = job.interruptible
    if it is None or it.min_chunk_s >= job.duration_s:
        assert len(chunks) == 1
        return
    if it.max_pauses is not None:
        assert len(chunks) - 1 <= it.max_pauses
    for i, (a, b) in enumerate(chunks):
        overhead = 0 if i == 0 else it.checkpoint_overhead_s
        assert (b - a).total_seconds() - overhead >= min(it.min_chunk_s, job.duration_s) - 1e-6
    run = sum((b - a).total_seconds() for a, b in chunks) - it.checkpoint_overhead_s * (len(chunks) - 1)
    assert run == pytest.approx(job.duration_s)


@settings(max_examples=120, deadline=None)
@given(
    st.lists(st.floats(0, 900, allow_nan=False), min_size=2, max_size=9),
    st.data(),
)
def test_contiguous_plan_equals_brute_force(values, data) -> None:
    t = len(values)
    n = data.draw(st.integers(1, t))
    frac = data.draw(st.sampled_from([1.0, 0.5, 0.25]))
    dur = (n - 1 + frac) * STEP
    job = Job(earliest_at=T0, deadline_at=T0 + hours(t), duration_s=dur, power_w=150.0)
    p = plan(job, Signal.single(series(values)), error_band_z=0)
    prof = [150.0] * n
    prof[-1] *= frac
    bf = brute_force_plan(
        values, prof, min_chunk=n, max_chunks=1, overhead=0, overhead_power=0, contiguous=True
    )
    assert min(p.expected_emissions_g, p.run_now_emissions_g) == pytest.approx(
        bf * STEP / J_PER_KWH, abs=1e-6
    )
    assert len(p.chunks) == 1
    assert p.end_at <= job.deadline_at
    assert (p.end_at - p.start_at).total_seconds() == pytest.approx(dur)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(0, 900, allow_nan=False), min_size=6, max_size=6),
    st.lists(st.floats(0, 900, allow_nan=False), min_size=6, max_size=6),
    st.lists(st.floats(0, 900, allow_nan=False), min_size=6, max_size=6),
    st.integers(1, 3),
    st.lists(st.sampled_from(["A", "B", "C"]), min_size=1, max_size=3, unique=True),
)
def test_spatial_plan_respects_zone_constraint_and_picks_cheapest(a, b, c, n, zones) -> None:
    sig = Signal({"A": series(a, "A"), "B": series(b, "B"), "C": series(c, "C")}, T0)
    job = Job(earliest_at=T0, deadline_at=T0 + hours(6), duration_s=n * STEP, zones=tuple(zones))
    p = plan(job, sig, error_band_z=0)
    assert p.zone in zones
    best = min(
        brute_force_plan(
            {"A": a, "B": b, "C": c}[z],
            [100.0] * n,
            min_chunk=n,
            max_chunks=1,
            overhead=0,
            overhead_power=0,
            contiguous=True,
        )
        for z in zones
    )
    assert p.expected_emissions_g == pytest.approx(best * STEP / J_PER_KWH, abs=1e-6)


def test_contiguous_picks_the_trough_and_reports_saving() -> None:
    v = [500, 500, 100, 100, 500, 500]
    job = Job(earliest_at=T0, deadline_at=T0 + hours(6), duration_s=2 * STEP, power_w=1000.0)
    p = plan(job, Signal.single(series(v)))
    assert p.decision == "shift"
    assert p.start_at == T0 + hours(2) and p.end_at == T0 + hours(4)
    assert p.expected_emissions_g == pytest.approx(2 * 1.0 * 100)  # 2 kWh at 100 g/kWh
    assert p.run_now_emissions_g == pytest.approx(1000.0)
    assert p.saving_g == pytest.approx(800.0) and p.saving_pct == pytest.approx(80.0)
    d = p.to_dict()
    assert d["chunks"][0]["start_at"].startswith("2024-03-01T02:00")
    assert d["forecast_generated_at"].startswith("2024-03-01")


def test_interruptible_splits_around_a_peak() -> None:
    v = [100, 100, 900, 900, 100, 100]
    base = dict(earliest_at=T0, deadline_at=T0 + hours(6), duration_s=4 * STEP, power_w=1000.0)
    cont = plan(Job(**base), Signal.single(series(v)))
    split = plan(Job(**base, interruptible=Interruptible(min_chunk_s=STEP)), Signal.single(series(v)))
    assert split.expected_emissions_g == pytest.approx(400.0)
    assert cont.expected_emissions_g > split.expected_emissions_g
    assert [(a.hour, b.hour) for a, b in split.chunks] == [(0, 2), (4, 6)]
    # a min chunk of 3 h forbids the 2+2 split
    p3 = plan(Job(**base, interruptible=Interruptible(min_chunk_s=3 * STEP)), Signal.single(series(v)))
    assert len(p3.chunks) == 1
    # no pauses allowed -> contiguous
    p0 = plan(
        Job(**base, interruptible=Interruptible(min_chunk_s=STEP, max_pauses=0)), Signal.single(series(v))
    )
    assert len(p0.chunks) == 1


def test_checkpoint_overhead_is_paid_and_can_make_pausing_worse() -> None:
    v = [100, 100, 300, 300, 100, 100, 100]
    it = Interruptible(min_chunk_s=STEP, checkpoint_overhead_s=STEP)
    job = Job(
        earliest_at=T0, deadline_at=T0 + hours(7), duration_s=4 * STEP, power_w=1000.0, interruptible=it
    )
    p = plan(job, Signal.single(series(v)), error_band_z=0)
    # split: 2 work + [1 overhead + 2 work] = 500 g; contiguous from hour 3: 300+100+100+100 = 600 g
    assert p.expected_emissions_g == pytest.approx(500.0)
    assert p.energy_j == pytest.approx(5 * 1000.0 * STEP)
    assert [(a.hour, b.hour) for a, b in p.chunks] == [(0, 2), (4, 7)]


def test_run_now_when_saving_is_small_or_uncertain() -> None:
    v = [300, 300, 290, 300]
    job = Job(earliest_at=T0, deadline_at=T0 + hours(4), duration_s=STEP, power_w=1000.0)
    p = plan(job, Signal.single(series(v)), min_saving_rel=0.05)
    assert p.decision == "run-now" and "threshold" in p.reason
    assert p.start_at == T0 and p.saving_g == 0.0
    assert p.best_shift_chunks[0][0] == T0 + hours(2)
    noisy = series(v, unc=[0.1] * 4)
    q = plan(job, Signal.single(noisy), error_band_z=1.0)
    assert q.decision == "run-now" and "error band" in q.reason
    flat = plan(job, Signal.single(series([300, 300, 300, 300])))
    assert flat.decision == "run-now" and "no window" in flat.reason
    sure = plan(job, Signal.single(series([300, 300, 100, 300], unc=[0.05] * 4)))
    assert sure.decision == "shift"


def test_nominal_run_now_time_for_a_nightly_job() -> None:
    v = [100, 500, 500, 900, 500, 500]
    job = Job(
        earliest_at=T0, deadline_at=T0 + hours(6), duration_s=STEP, power_w=1000.0, run_now_at=T0 + hours(3)
    )
    p = plan(job, Signal.single(series(v)))
    assert p.run_now_emissions_g == pytest.approx(900.0)
    assert p.start_at == T0


def test_power_profile_matters() -> None:
    v = [100, 900, 100, 900]
    job = Job(earliest_at=T0, deadline_at=T0 + hours(4), power_profile_w=(1000.0, 10.0), profile_step_s=STEP)
    p = plan(job, Signal.single(series(v)), error_band_z=0)
    assert p.start_at in (T0, T0 + hours(2))  # the heavy first hour lands on a 100 g/kWh slot
    assert p.expected_emissions_g == pytest.approx(100.0 + 9.0)
    with pytest.raises(ScheduleError, match="profile"):
        plan(
            Job(earliest_at=T0, deadline_at=T0 + hours(4), power_profile_w=(1.0,), profile_step_s=60.0),
            Signal.single(series(v)),
        )


def test_renewable_objective() -> None:
    inten = series([100, 200, 300, 400], "A")
    share = series([0.1, 0.2, 0.9, 0.3], "A")
    sig = Signal({"A": inten}, T0, renewable_share={"A": share})
    job = Job(earliest_at=T0, deadline_at=T0 + hours(4), duration_s=STEP)
    p = plan(job, sig, objective="renewable")
    assert p.start_at == T0 + hours(2) and p.renewable_share == pytest.approx(0.9)
    assert plan(job, sig).start_at == T0
    with pytest.raises(ScheduleError, match="renewable-share"):
        plan(job, Signal({"A": inten}, T0), objective="renewable")


def test_bad_jobs_are_refused_clearly() -> None:
    with pytest.raises(ScheduleError, match="naive"):
        Job(earliest_at=datetime(2024, 1, 1), deadline_at=T0, duration_s=10)
    with pytest.raises(ScheduleError, match="not after"):
        Job(earliest_at=T0, deadline_at=T0, duration_s=10)
    with pytest.raises(ScheduleError, match="positive"):
        Job(earliest_at=T0, deadline_at=T0 + hours(1), duration_s=0)
    job = Job(earliest_at=T0, deadline_at=T0 + hours(2), duration_s=3 * STEP)
    with pytest.raises(ScheduleError, match="covers only"):
        plan(job, Signal.single(series([1, 2, 3, 4])))
    with pytest.raises(ScheduleError, match="no forecast"):
        plan(
            Job(earliest_at=T0, deadline_at=T0 + hours(2), duration_s=60, zones=("ZZ",)),
            Signal.single(series([1, 2, 3, 4])),
        )


def test_array_solvers() -> None:
    v = np.array([5.0, 1.0, 1.0, 5.0, 0.0])
    assert plan_contiguous(v, np.array([1.0, 1.0]))[0] == 1
    assert plan_rolling_mean(v, 2) == 1
    ch, cost = plan_interruptible(v, np.ones(3), min_chunk=1, max_chunks=None, overhead=0, overhead_power=0)
    assert cost == 2.0 and ch == [(1, 3), (4, 5)]
    with pytest.raises(ScheduleError):
        plan_contiguous(v, np.ones(9))


@settings(max_examples=150, deadline=None)
@given(
    st.integers(2, 7).flatmap(
        lambda t: st.tuples(
            st.lists(st.integers(0, 50).map(float), min_size=t, max_size=t),  # intensity per slot
            st.lists(st.integers(0, 300).map(float), min_size=1, max_size=t),  # power per work slot
            st.integers(1, 4),  # min chunk (slots)
            st.one_of(st.none(), st.integers(1, 3)),  # max chunks (pauses + 1)
            st.integers(0, 3),  # overhead slots
            st.integers(0, 300).map(float),  # overhead power
        )
    )
)
def test_interruptible_solver_equals_brute_force_with_profiles(inst) -> None:
    values, prof, m, mc, o, o_pow = inst
    v, p = np.asarray(values), np.asarray(prof)
    bf = brute_force_plan(values, prof, min_chunk=m, max_chunks=mc, overhead=o, overhead_power=o_pow)
    if math.isinf(bf):
        with pytest.raises(ScheduleError):
            plan_interruptible(v, p, min_chunk=m, max_chunks=mc, overhead=o, overhead_power=o_pow)
        return
    chunks, cost = plan_interruptible(v, p, min_chunk=m, max_chunks=mc, overhead=o, overhead_power=o_pow)
    assert cost == pytest.approx(bf, abs=1e-9)
    assert chunks[0][0] >= 0 and chunks[-1][1] <= len(values)  # inside the window
    assert all(b < c for (_, b), (c, _) in itertools.pairwise(chunks))  # real pauses
    assert mc is None or len(chunks) <= mc
    work = [b - a - (0 if i == 0 else o) for i, (a, b) in enumerate(chunks)]
    assert all(w >= min(m, p.size) for w in work) and sum(work) == p.size
    # the chunks cost what the solver says
    j, total = 0, 0.0
    for i, (a, b) in enumerate(chunks):
        oo = 0 if i == 0 else o
        total += o_pow * float(v[a : a + oo].sum()) + float(p[j : j + b - a - oo] @ v[a + oo : b])
        j += b - a - oo
    assert total == pytest.approx(cost, abs=1e-9)


def test_interruptible_solver_on_a_week_of_5_minute_slots() -> None:
    rng = np.random.default_rng(7)
    v = rng.uniform(50.0, 500.0, 2016)
    p = np.full(72, 1000.0)
    # chunks of >= 1 slot, free pauses, no limit: the 72 cheapest slots
    _, cost = plan_interruptible(v, p, min_chunk=1, max_chunks=None, overhead=0, overhead_power=0.0)
    assert cost == pytest.approx(1000.0 * np.sort(v)[:72].sum(), rel=1e-12)
    # one chunk: the cheapest window
    chunks, cost = plan_interruptible(v, p, min_chunk=6, max_chunks=1, overhead=1, overhead_power=1000.0)
    s, best = plan_contiguous(v, p)
    assert chunks == [(s, s + 72)] and cost == pytest.approx(best, rel=1e-12)
    # more freedom never costs more
    costs = [
        plan_interruptible(v, p, min_chunk=6, max_chunks=k, overhead=1, overhead_power=1000.0)[1]
        for k in (1, 2, 4, None)
    ]
    assert costs == sorted(costs, reverse=True)


def test_error_band_comes_from_forecast_error_not_factor_uncertainty() -> None:
    from dataclasses import replace as dc_replace

    v = [300, 300, 280, 300]
    s = series(v)
    hist = dc_replace(s, provenance=dc_replace(s.provenance, uncertainty_rel=0.2))
    job = Job(earliest_at=T0, deadline_at=T0 + hours(4), duration_s=STEP, power_w=1000.0)
    assert plan(job, Signal.single(hist)).decision == "shift"  # measured history: no forecast error
    fc = dc_replace(s, provenance=dc_replace(s.provenance, uncertainty_rel=0.2, estimated=True))
    assert plan(job, Signal.single(fc)).decision == "run-now"
