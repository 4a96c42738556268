"""The planning maths: when (and where) to run a deferrable job. Pure: no clock, no I/O.

A :class:`Job` says how long it runs (or its power profile), the window it may run in
(``earliest_at`` .. ``deadline_at``), whether it can be interrupted (:class:`Interruptible`:
minimum chunk, maximum pauses, checkpoint/restore overhead) and in which zones it may run. A
:class:`Signal` carries one intensity forecast per zone (an :class:`IntensitySeries`, optionally
with ``uncertainty_rel``). :func:`plan` returns the :class:`Plan` with the lowest expected
emissions for that forecast:

* contiguous jobs: every start slot is scored at once (prefix sums for a constant power,
  a correlation with the power profile otherwise) and the cheapest is taken — exact;
* interruptible jobs: an exact dynamic programme over the work done ``j`` whose states are
  numpy vectors over every slot boundary (and, with a pause limit, the chunks used): "inside a
  chunk that has run its minimum" and "idle" (a running minimum of the former, taken with
  ``np.minimum.accumulate``). A chunk's first ``m`` work slots are forced, so starting one is a
  single transition whose cost — the restore overhead plus ``sum_i profile[c+i] * values[s+i]``
  — is a precomputed block (one correlation per distinct block of the power profile). Every
  chunk runs at least ``min_chunk_s``, at most ``max_pauses`` pauses are taken, and every
  resumed chunk first spends the overhead. ``O(n)`` numpy calls for ``n`` work slots: a
  one-week horizon at 5-minute resolution plans in about a millisecond;
* spatial: the above in every candidate zone; the cheapest zone wins;
* run-now guard: if the expected saving against starting at ``run_now_at`` (default: the earliest
  start) in the home zone (first candidate) is below ``min_saving_rel`` or inside the forecast's
  error band (``error_band_z`` standard errors), the plan is to run now.

Jobs are placed on the forecast's slot grid: the first chunk starts on a slot boundary at or after
``earliest_at`` and the last chunk ends on a slot boundary at or before ``deadline_at``; a duration
that is not a whole number of slots occupies a fraction of its last slot (its energy counts only
for that fraction), so a plan never ends after its deadline.

Objective ``"emissions"`` minimises expected g CO2e; ``"renewable"`` maximises the energy-weighted
renewable share given as ``Signal.renewable_share`` (the run-now guard is then judged on the
non-renewable energy).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np

from carbontrail.errors import ScheduleError
from carbontrail.grid.series import IntensitySeries
from carbontrail.units import J_PER_KWH, check_finite

__all__ = [
    "Interruptible",
    "Job",
    "Plan",
    "Signal",
    "brute_force_plan",
    "contiguous_costs",
    "plan",
    "plan_contiguous",
    "plan_interruptible",
    "plan_rolling_mean",
]

Objective = Literal["emissions", "renewable"]


def _utc(dt: datetime, name: str) -> datetime:
    if dt.tzinfo is None:
        raise ScheduleError(f"{name} is a naive datetime; give a timezone-aware UTC time")
    return dt.astimezone(UTC)


def _ts(s: float) -> datetime:
    return datetime.fromtimestamp(s, UTC)


@dataclass(frozen=True)
class Interruptible:
    """How a job may be split.

    Attributes:
        min_chunk_s: every chunk runs at least this long (seconds of useful work).
        max_pauses: most pauses allowed (``None``: as many as the minimum chunk permits).
        checkpoint_overhead_s: extra run time (at the job's mean power) spent by every resumed
            chunk to restore its checkpoint (seconds); the first chunk pays none.
    """

    min_chunk_s: float = 0.0
    max_pauses: int | None = None
    checkpoint_overhead_s: float = 0.0

    def __post_init__(self) -> None:
        check_finite(self.min_chunk_s, "min_chunk_s")
        check_finite(self.checkpoint_overhead_s, "checkpoint_overhead_s")
        if self.max_pauses is not None and self.max_pauses < 0:
            raise ScheduleError(f"max_pauses must be >= 0, got {self.max_pauses}")


@dataclass(frozen=True)
class Job:
    """A deferrable job.

    Attributes:
        earliest_at: earliest start (tz-aware).
        deadline_at: time by which the job must have finished (tz-aware).
        duration_s: run time in seconds (or give ``power_profile_w``).
        power_w: mean power draw (watts) used when there is no profile.
        power_profile_w: power (watts) of each successive ``profile_step_s`` of the job's own
            progress; its length × ``profile_step_s`` is the duration.
        profile_step_s: the profile's step in seconds (must equal the forecast step when used).
        interruptible: ``None`` for a contiguous job.
        zones: candidate zones (data residency); the first is the home zone for "run now".
            Empty means every zone of the signal, home = the signal's first zone.
        run_now_at: the reference start for "run now" (default ``earliest_at``), e.g. the nominal
            time of a nightly job that may move either way.
        name: a label.
    """

    earliest_at: datetime
    deadline_at: datetime
    duration_s: float | None = None
    power_w: float = 100.0
    power_profile_w: tuple[float, ...] | None = None
    profile_step_s: float | None = None
    interruptible: Interruptible | None = None
    zones: tuple[str, ...] = ()
    run_now_at: datetime | None = None
    name: str = "job"

    def __post_init__(self) -> None:
        object.__setattr__(self, "earliest_at", _utc(self.earliest_at, "earliest_at"))
        object.__setattr__(self, "deadline_at", _utc(self.deadline_at, "deadline_at"))
        if self.run_now_at is not None:
            object.__setattr__(self, "run_now_at", _utc(self.run_now_at, "run_now_at"))
        object.__setattr__(self, "zones", tuple(self.zones))
        check_finite(self.power_w, "power_w")
        if self.power_profile_w is not None:
            prof = tuple(check_finite(p, "power_profile_w") for p in self.power_profile_w)
            if not prof or self.profile_step_s is None or self.profile_step_s <= 0:
                raise ScheduleError("a power profile needs at least one value and a positive profile_step_s")
            object.__setattr__(self, "power_profile_w", prof)
            object.__setattr__(self, "duration_s", len(prof) * float(self.profile_step_s))
        if self.duration_s is None:
            raise ScheduleError("a job needs duration_s or power_profile_w")
        if check_finite(self.duration_s, "duration_s") <= 0:
            raise ScheduleError(f"duration_s must be positive, got {self.duration_s}")
        if self.deadline_at <= self.earliest_at:
            raise ScheduleError(
                f"deadline {self.deadline_at.isoformat()} is not after earliest start "
                f"{self.earliest_at.isoformat()}"
            )

    @property
    def energy_j(self) -> float:
        """Energy of the job's useful work (joules), without checkpoint overheads."""
        if self.power_profile_w is not None:
            return float(sum(self.power_profile_w) * float(self.profile_step_s or 0))
        return float(self.power_w * float(self.duration_s or 0))


@dataclass(frozen=True)
class Signal:
    """Forecast intensity per zone.

    Attributes:
        forecasts: zone -> forecast series (g/kWh), ``uncertainty_rel`` per value where known
            (otherwise the provenance's ``uncertainty_rel`` applies to every value).
        generated_at: when the forecast was made (tz-aware).
        renewable_share: zone -> series of renewable share (0..1) on the same grid, for the
            ``"renewable"`` objective.
    """

    forecasts: Mapping[str, IntensitySeries]
    generated_at: datetime
    renewable_share: Mapping[str, IntensitySeries] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.forecasts:
            raise ScheduleError("a signal needs at least one zone's forecast")
        object.__setattr__(self, "generated_at", _utc(self.generated_at, "generated_at"))

    @classmethod
    def single(cls, series: IntensitySeries, generated_at: datetime | None = None) -> Signal:
        """A one-zone signal; ``generated_at`` defaults to the series' retrieval time or start."""
        gen = generated_at or series.provenance.retrieved_at or _ts(series.start_s)
        return cls({series.provenance.zone: series}, gen)


@dataclass(frozen=True)
class Plan:
    """The decision for a job.

    Attributes:
        zone: where to run.
        chunks: ``[(start_at, end_at), ...]`` in UTC; one chunk for a contiguous job. Resumed chunks
            include their restore overhead.
        expected_emissions_g: expected emissions of the plan under the forecast (g CO2e).
        run_now_emissions_g: expected emissions of starting at ``run_now_at`` in the home zone.
        saving_g: run-now minus plan; ``saving_pct`` the same as a percentage of run-now.
        uncertainty_g: one standard error of the saving from the forecast's uncertainty.
        energy_j: energy of the plan including checkpoint overheads (joules).
        decision: ``"shift"`` (follow the plan) or ``"run-now"``.
        reason: a sentence saying why.
        forecast_generated_at: when the forecast used was made.
        forecast_source: the forecast's provenance source (e.g. ``"forecast:blend"``).
        objective: ``"emissions"`` or ``"renewable"``.
        renewable_share: energy-weighted renewable share of the plan (``None`` unless known).
        best_shift_chunks: the cheapest plan found even when the decision is run-now.
    """

    zone: str
    chunks: tuple[tuple[datetime, datetime], ...]
    expected_emissions_g: float
    run_now_emissions_g: float
    saving_g: float
    saving_pct: float
    uncertainty_g: float
    energy_j: float
    decision: str
    reason: str
    forecast_generated_at: datetime
    forecast_source: str
    objective: str = "emissions"
    renewable_share: float | None = None
    best_shift_chunks: tuple[tuple[datetime, datetime], ...] = ()

    @property
    def start_at(self) -> datetime:
        """Start of the first chunk."""
        return self.chunks[0][0]

    @property
    def end_at(self) -> datetime:
        """End of the last chunk."""
        return self.chunks[-1][1]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (ISO-8601 times)."""
        return {
            "zone": self.zone,
            "decision": self.decision,
            "reason": self.reason,
            "start_at": self.start_at.isoformat(),
            "end_at": self.end_at.isoformat(),
            "chunks": [{"start_at": a.isoformat(), "end_at": b.isoformat()} for a, b in self.chunks],
            "expected_emissions_g": self.expected_emissions_g,
            "run_now_emissions_g": self.run_now_emissions_g,
            "saving_g": self.saving_g,
            "saving_pct": self.saving_pct,
            "uncertainty_g": self.uncertainty_g,
            "energy_j": self.energy_j,
            "forecast_generated_at": self.forecast_generated_at.isoformat(),
            "forecast_source": self.forecast_source,
            "objective": self.objective,
            "renewable_share": self.renewable_share,
            "best_shift_chunks": [
                {"start_at": a.isoformat(), "end_at": b.isoformat()} for a, b in self.best_shift_chunks
            ],
        }


# --------------------------------------------------------------------------------------------
# core solvers on arrays (slot units)
# --------------------------------------------------------------------------------------------


def contiguous_costs(values: np.ndarray, profile: np.ndarray) -> np.ndarray:
    """Cost of starting at every slot s: ``sum_i profile[i] * values[s+i]`` (length T-n+1).

    A constant profile (the usual case) is scored with prefix sums in O(T); otherwise a
    correlation in O(T·n).
    """
    n = profile.size
    t = values.size
    if n > t:
        return np.zeros(0)
    if n > 1 and np.all(profile[:-1] == profile[0]):
        c = np.concatenate(([0.0], np.cumsum(values)))
        body = c[n - 1 : t] - c[0 : t - n + 1]  # sum of the first n-1 slots of each window
        return profile[0] * body + profile[-1] * values[n - 1 : t]
    return np.correlate(values, profile, mode="valid")


def plan_contiguous(values: np.ndarray, profile: np.ndarray) -> tuple[int, float]:
    """Cheapest start slot and its cost; ``ScheduleError`` if the job does not fit."""
    costs = contiguous_costs(values, profile)
    if costs.size == 0:
        raise ScheduleError(f"the job needs {profile.size} slots but the window has only {values.size}")
    s = int(np.argmin(costs))
    return s, float(costs[s])


def plan_rolling_mean(values: np.ndarray, n: int) -> int:
    """The Carbon-Aware-SDK rule: start of the window of ``n`` slots with the lowest mean."""
    if n > values.size:
        raise ScheduleError(f"the job needs {n} slots but the window has only {values.size}")
    c = np.concatenate(([0.0], np.cumsum(values)))
    return int(np.argmin(c[n:] - c[:-n]))


def plan_interruptible(
    values: np.ndarray,
    profile: np.ndarray,
    *,
    min_chunk: int,
    max_chunks: int | None,
    overhead: int,
    overhead_power: float,
) -> tuple[list[tuple[int, int]], float]:
    """Exact cheapest split of a job over slots (DP). Returns ``([(start, end), ...], cost)``.

    Slots are indices into ``values``; a chunk ``(a, b)`` occupies slots ``a..b-1`` of which the
    first ``overhead`` are restore overhead when it is not the first chunk. ``profile[j]`` is
    the power of the job's j-th work slot; overhead slots draw ``overhead_power``. Chunks are
    separated by at least one idle slot.

    The programme runs over the work done ``j`` (outer loop, ``m..n``) with every slot boundary
    ``t`` and chunk count handled at once as numpy vectors:

    * ``E[j, k, t]``: cheapest cost with ``j`` work slots done, the last of them in slot ``t-1``,
      inside chunk ``k`` which has already run its minimum ``m`` work slots (so it may go on or
      stop);
    * ``I[j, k, t]``: the same but idle in slot ``t-1``, i.e. ``min(E[j, k, :t])`` — a running
      minimum (``np.minimum.accumulate``).

    A chunk's first ``m`` work slots are forced, so starting a chunk is one transition from
    ``I[j-m, k-1, u]`` (``u`` = start of its overhead) to ``E[j, k, u+o+m]`` costing the overhead
    plus the block ``B[s, c] = sum_i profile[c+i] * values[s+i]`` (one correlation per distinct
    block of the profile: two for a constant power). Going on is ``E[j-1, k, t-1] + profile[j-1]
    * values[t-1]``. Without a pause limit the chunk count is not tracked (the first chunk is the
    one starting at ``j = 0``). That is ``O(n·K·T)`` work in ``O(n)`` numpy calls; the chunks are
    recovered by walking back from the cheapest end.
    """
    v = np.asarray(values, dtype=float)
    p = np.asarray(profile, dtype=float)
    n = int(p.size)
    t_n = int(v.size)
    m = max(1, min(int(min_chunk), n))
    o = max(0, int(overhead))
    saturate = max_chunks is None
    kmax = 1 if saturate else max(1, min(int(max_chunks or 1), n // m))
    rows = 1 if saturate else kmax  # bounded: row r holds plans with r + 1 chunks
    infeasible = ScheduleError(
        f"no feasible split: {n} work slots with chunks of >= {m} slots, overhead {o} slots"
        f" and at most {kmax} chunks do not fit in {t_n} slots"
    )
    if t_n < n:
        raise infeasible
    inf = math.inf
    span = t_n - m + 1  # block starts s (s + m <= t_n)
    n_res = max(span - o, 0)  # overhead starts u of resumed chunks (their block starts at u + o)
    e_st = np.empty((n + 1, rows, t_n + 1))
    i_st = np.empty((m + 1, rows, t_n + 1))  # idle after j work slots, kept at j % (m + 1) until j + m
    ovh = np.zeros(n_res)
    for i in range(o):  # overhead of a resumed chunk whose overhead starts at u
        ovh += overhead_power * v[i : i + n_res]
    blocks: dict[bytes, tuple[np.ndarray, np.ndarray]] = {}
    live = 1  # rows of e_st[j - 1] that may be finite (bounded: r + 1 chunks need j >= (r + 1) m)
    for j in range(m, n + 1):
        c = j - m
        ej = e_st[j]
        ej[:, 0] = inf
        if j > m:  # go on: work slot j-1 in slot t-1
            np.add(e_st[j - 1, :live, :-1], p[j - 1] * v, out=ej[:live, 1:])
            ej[live:, 1:] = inf
        else:
            ej[:, 1:] = inf
        live = 1 if saturate else min(rows, j // m)
        if c == 0 or c >= m:  # a chunk may start with c work slots done
            key = p[c : c + m].tobytes()
            got = blocks.get(key)
            if got is None:
                blk = np.correlate(v, p[c : c + m], mode="valid")  # blk[s], len span
                got = blocks[key] = (blk, blk[o : o + n_res] + ovh)  # + overhead at u = s - o
            if c == 0:  # the first chunk: no overhead, from idle since the start (cost 0)
                np.minimum(ej[0, m:], got[0], out=ej[0, m:])
            elif n_res > 0 and (saturate or live > 1):
                ic = i_st[c % (m + 1)]
                src = ic[:live, :n_res] if saturate else ic[: live - 1, :n_res]
                tgt = ej[:live, o + m :] if saturate else ej[1:live, o + m :]
                np.minimum(tgt, src + got[1], out=tgt)
        if j <= n - m:  # idle after j work slots (only needed if another chunk can follow)
            ij = i_st[j % (m + 1)]
            ij[:live, 0] = inf
            np.minimum.accumulate(ej[:live, :-1], axis=1, out=ij[:live, 1:])
    end = e_st[n]
    r, t = divmod(int(np.argmin(end)), t_n + 1)
    cost = float(end[r, t])
    if not math.isfinite(cost):
        raise infeasible
    # walk back: each chunk's end, its extensions (recomputed: the same float operations give the
    # same values), its start, then the idle gap before it (where the running minimum came from)
    chunks: list[tuple[int, int]] = []
    j, stop = n, t
    while True:
        while j > m and float(e_st[j - 1, r, t - 1]) + float(p[j - 1]) * float(v[t - 1]) == e_st[j, r, t]:
            j -= 1
            t -= 1
        c, s = j - m, t - m
        if c == 0:
            chunks.append((s, stop))
            break
        chunks.append((s - o, stop))
        r = r if saturate else r - 1
        t = stop = int(np.argmin(e_st[c, r, : s - o]))
        j = c
    chunks.reverse()
    return chunks, cost


def _chunks_of(labels: np.ndarray) -> list[tuple[int, int]]:
    busy = np.concatenate(([0], (labels > 0).astype(np.int8), [0]))
    edges = np.flatnonzero(np.diff(busy))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def brute_force_plan(
    values: Sequence[float],
    profile: Sequence[float],
    *,
    min_chunk: int,
    max_chunks: int | None,
    overhead: int,
    overhead_power: float,
    contiguous: bool = False,
) -> float:
    """Cheapest cost by enumerating every labelling of the slots (idle/work/overhead). Tests only.

    Exponential (3^T): for checking :func:`plan_interruptible` and :func:`plan_contiguous` on tiny
    instances. Returns ``inf`` if nothing is feasible.
    """
    import itertools

    n = len(profile)
    m = max(1, min(min_chunk, n))
    best = math.inf
    for lab in itertools.product((0, 1, 2), repeat=len(values)):
        if sum(1 for x in lab if x == 1) != n:
            continue
        chunks = _chunks_of(np.asarray(lab))
        if contiguous and len(chunks) != 1:
            continue
        if max_chunks is not None and len(chunks) > max_chunks:
            continue
        ok = True
        for ci, (a, b) in enumerate(chunks):
            seg = lab[a:b]
            o = 0 if ci == 0 else overhead
            if any(x != 2 for x in seg[:o]) or any(x != 1 for x in seg[o:]) or (b - a - o) < m:
                ok = False
                break
        if not ok:
            continue
        j = 0
        cost = 0.0
        for x, v in zip(lab, values, strict=True):
            if x == 1:
                cost += profile[j] * v
                j += 1
            elif x == 2:
                cost += overhead_power * v
        best = min(best, cost)
    return best


# --------------------------------------------------------------------------------------------
# the public planner
# --------------------------------------------------------------------------------------------


@dataclass
class _ZonePlan:
    zone: str
    slots: list[tuple[int, int]]  # absolute slot indices into the zone's forecast
    cost: float  # W·(g/kWh)·slot units
    variance: float
    energy_ws: float  # W·slot units
    renewable: float | None


def _profile(job: Job, step: float) -> np.ndarray:
    if job.power_profile_w is not None:
        if abs(float(job.profile_step_s or 0) - step) > 1e-9:
            raise ScheduleError(
                f"the job's power profile has a {job.profile_step_s} s step but the forecast's is {step} s"
            )
        return np.asarray(job.power_profile_w, dtype=float)
    d = float(job.duration_s or 0.0) / step
    n = max(1, math.ceil(d - 1e-9))
    prof = np.full(n, float(job.power_w))
    prof[-1] *= d - (n - 1)
    return prof


def _window(series: IntensitySeries, job: Job) -> tuple[int, int]:
    """Slot range [a, b) of the series usable by the job."""
    e = job.earliest_at.timestamp()
    d = job.deadline_at.timestamp()
    a = max(0, math.ceil((e - series.start_s) / series.step_s - 1e-9))
    b = min(len(series), math.floor((d - series.start_s) / series.step_s + 1e-9))
    return a, b


def _sigma(series: IntensitySeries) -> np.ndarray:
    """Forecast error (g/kWh, one standard error) per slot.

    Per-point ``uncertainty_rel`` when the series has it; else the provenance's uncertainty for an
    estimated (forecast) series; else zero — the uncertainty of measured or historical data (its
    emission factors) is common to every window and cancels out of the saving.
    """
    u = series.uncertainty_rel
    if u.size != len(series):
        rel = float(series.provenance.uncertainty_rel) if series.provenance.estimated else 0.0
        u = np.full(len(series), rel)
    return u * series.values_g_per_kwh


def _labels_cost(
    slots: list[tuple[int, int]], values: np.ndarray, prof: np.ndarray, o: int, o_pow: float
) -> tuple[float, np.ndarray]:
    """Cost and per-slot power of a slot plan (absolute indices)."""
    power = np.zeros(values.size)
    j = 0
    for ci, (a, b) in enumerate(slots):
        oo = 0 if ci == 0 else o
        power[a : a + oo] = o_pow
        w = b - a - oo
        power[a + oo : b] = prof[j : j + w]
        j += w
    return float(power @ values), power


def _plan_zone(
    zone: str, series: IntensitySeries, job: Job, objective: str, share: IntensitySeries | None
) -> _ZonePlan:
    step = float(series.step_s)
    prof = _profile(job, step)
    a, b = _window(series, job)
    if b - a < prof.size:
        raise ScheduleError(
            f"{job.name}: needs {prof.size * step / 3600:.2f} h but the {zone} forecast covers only"
            f" {max(0, b - a) * step / 3600:.2f} h between earliest start and deadline"
        )
    values = series.values_g_per_kwh
    if objective == "renewable":
        if share is None:
            raise ScheduleError(f"objective 'renewable' needs a renewable-share series for {zone}")
        cost_vec = 1.0 - np.clip(share.values_g_per_kwh[: len(series)], 0.0, 1.0)
    else:
        cost_vec = values
    win = cost_vec[a:b]
    it = job.interruptible
    o = 0
    o_pow = float(prof.mean())
    if it is None or it.min_chunk_s >= float(job.duration_s or 0):
        s, _ = plan_contiguous(win, prof)
        slots = [(a + s, a + s + prof.size)]
    else:
        m = max(1, math.ceil(it.min_chunk_s / step - 1e-9))
        o = math.ceil(it.checkpoint_overhead_s / step - 1e-9)
        mc = None if it.max_pauses is None else it.max_pauses + 1
        rel, _ = plan_interruptible(win, prof, min_chunk=m, max_chunks=mc, overhead=o, overhead_power=o_pow)
        slots = [(a + x, a + y) for x, y in rel]
    cost, power = _labels_cost(slots, cost_vec, prof, o, o_pow)
    sig = _sigma(series)
    var = float((power * sig) @ (power * sig))
    ren = None
    if share is not None:
        sv = np.clip(share.values_g_per_kwh[: len(series)], 0.0, 1.0)
        ren = float(power @ sv / max(power.sum(), 1e-12))
    return _ZonePlan(zone, slots, cost, var, float(power.sum()), ren)


def plan(
    job: Job,
    signal: Signal,
    *,
    min_saving_rel: float = 0.0,
    error_band_z: float = 0.5,
    objective: Objective = "emissions",
) -> Plan:
    """The best plan for ``job`` under ``signal`` (see the module docstring).

    Args:
        job: the job.
        signal: forecasts per zone; all zones named by ``job.zones`` must be present.
        min_saving_rel: run now unless the expected saving is at least this fraction of run-now
            emissions (0.05 = 5 %).
        error_band_z: run now unless the saving exceeds this many standard errors of the
            forecast (0 disables the error-band test).
        objective: ``"emissions"`` (default) or ``"renewable"``.

    Raises:
        ScheduleError: a zone is missing, or the job cannot fit before its deadline.
    """
    if objective not in ("emissions", "renewable"):
        raise ScheduleError(f"unknown objective {objective!r}")
    zones = job.zones or tuple(signal.forecasts)
    missing = [z for z in zones if z not in signal.forecasts]
    if missing:
        raise ScheduleError(f"no forecast for candidate zone(s) {', '.join(missing)}")
    home = zones[0]
    plans: list[_ZonePlan] = []
    errors: list[str] = []
    for z in zones:
        try:
            plans.append(_plan_zone(z, signal.forecasts[z], job, objective, signal.renewable_share.get(z)))
        except ScheduleError as exc:
            errors.append(str(exc))
    if not plans:
        raise ScheduleError("; ".join(errors))
    best = min(plans, key=lambda p: p.cost)
    # run-now reference: contiguous start at run_now_at (rounded up to a slot) in the home zone
    hs = signal.forecasts[home]
    step = float(hs.step_s)
    prof = _profile(job, step)
    ref_at = (job.run_now_at or job.earliest_at).timestamp()
    r0 = max(0, math.ceil((ref_at - hs.start_s) / step - 1e-9))
    if r0 + prof.size > len(hs):
        raise ScheduleError(f"the {home} forecast does not cover running {job.name} now")
    now_slots = [(r0, r0 + prof.size)]
    share_home = signal.renewable_share.get(home)
    cost_vec_home = (
        hs.values_g_per_kwh
        if objective == "emissions"
        else 1.0 - np.clip(share_home.values_g_per_kwh, 0, 1)  # type: ignore[union-attr]
        if share_home is not None
        else hs.values_g_per_kwh
    )
    now_cost, now_power = _labels_cost(now_slots, cost_vec_home, prof, 0, 0.0)
    now_emis_units, _ = _labels_cost(now_slots, hs.values_g_per_kwh, prof, 0, 0.0)
    sig_home = _sigma(hs)
    now_var = float((now_power * sig_home) @ (now_power * sig_home))
    to_g = step / J_PER_KWH  # W·slot·(g/kWh) -> g
    best_series = signal.forecasts[best.zone]
    best_emis_units = _labels_cost(
        best.slots,
        best_series.values_g_per_kwh,
        _profile(job, float(best_series.step_s)),
        *(_overhead_args(job, float(best_series.step_s))),
    )[0]
    expected_g = best_emis_units * float(best_series.step_s) / J_PER_KWH
    now_g = now_emis_units * to_g
    saving_obj = now_cost - best.cost  # in the objective's units
    # the saving's standard error: forecast errors of the two plans, taken as independent
    bto_g = float(best_series.step_s) / J_PER_KWH
    unc_g = math.sqrt(best.variance * bto_g * bto_g + now_var * to_g * to_g)
    saving_g = now_g - expected_g
    reason: str
    decision = "shift"
    if saving_obj <= 0 or (best.slots == now_slots and best.zone == home):
        decision, reason = "run-now", "no window is cheaper than starting now"
    elif objective == "emissions" and saving_g < min_saving_rel * now_g:
        decision = "run-now"
        reason = (
            f"expected saving {saving_g:.4g} g ({100 * saving_g / max(now_g, 1e-12):.2f} %) is below the"
            f" {100 * min_saving_rel:.2f} % threshold"
        )
    elif objective == "emissions" and error_band_z > 0 and saving_g <= error_band_z * unc_g:
        decision = "run-now"
        reason = (
            f"expected saving {saving_g:.4g} g is inside the forecast's error band"
            f" (±{error_band_z * unc_g:.4g} g at {error_band_z:g} standard errors)"
        )
    else:
        where = f" in {best.zone}" if len(zones) > 1 else ""
        reason = (
            f"shifting{where} saves {saving_g:.4g} g ({100 * saving_g / max(now_g, 1e-12):.1f} %) "
            f"against starting now" + ("" if objective == "emissions" else " (renewable-share objective)")
        )

    def _times(slots: list[tuple[int, int]], s: IntensitySeries) -> tuple[tuple[datetime, datetime], ...]:
        out = []
        for i, (a, b) in enumerate(slots):
            end = s.start_s + b * s.step_s
            if i == len(slots) - 1:  # the last slot may be partly used
                end -= (1.0 - _last_frac(job, float(s.step_s))) * s.step_s
            out.append((_ts(s.start_s + a * s.step_s), _ts(end)))
        return tuple(out)

    best_chunks = _times(best.slots, best_series)
    chunks = best_chunks if decision == "shift" else _times(now_slots, hs)
    zone = best.zone if decision == "shift" else home
    return Plan(
        zone=zone,
        chunks=chunks,
        expected_emissions_g=expected_g if decision == "shift" else now_g,
        run_now_emissions_g=now_g,
        saving_g=saving_g if decision == "shift" else 0.0,
        saving_pct=(100.0 * saving_g / now_g if now_g > 0 else 0.0) if decision == "shift" else 0.0,
        uncertainty_g=unc_g,
        energy_j=best.energy_ws * float(best_series.step_s)
        if decision == "shift"
        else float(now_power.sum()) * step,
        decision=decision,
        reason=reason,
        forecast_generated_at=signal.generated_at,
        forecast_source=best_series.provenance.source,
        objective=objective,
        renewable_share=best.renewable if decision == "shift" else None,
        best_shift_chunks=best_chunks,
    )


def _last_frac(job: Job, step: float) -> float:
    if job.power_profile_w is not None:
        return 1.0
    d = float(job.duration_s or 0.0) / step
    n = max(1, math.ceil(d - 1e-9))
    return d - (n - 1)


def _overhead_args(job: Job, step: float) -> tuple[int, float]:
    it = job.interruptible
    if it is None:
        return 0, 0.0
    return math.ceil(it.checkpoint_overhead_s / step - 1e-9), float(_profile(job, step).mean())
