"""Carbon-aware trial timing: trials wait for low-carbon windows while the study's deadline allows.

Before each trial a worker plans the study's remaining work into the greenest windows of the grid
forecast before the deadline, with the scheduler (:func:`carbontrail.schedule.plan` through
:func:`carbontrail.schedule.wait_for_window`). The remaining work is an interruptible job: the energy
still free in the quota at the trials' power, in chunks of at least one trial. When the plan's first
chunk starts now, the trial runs; otherwise the worker waits, on an injectable clock, until it does.
When the work no longer fits before the deadline, or the saving is within the forecast's error, the
trial runs at once. No trial starts after the deadline.

The intensity in force when a trial starts (the forecast's value for that slot) is recorded on the
trial (user attributes ``intensity_g_per_kwh``, ``carbon_wait_s``, ``carbon_decision``) and used for
the trial's emissions; under a carbon quota its reservation counts at that intensity too, so a green
window buys more trials for the same grams.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from carbontrail.errors import ConfigError
from carbontrail.schedule.execute import Clock, ForecastFn, SystemClock, wait_for_window
from carbontrail.schedule.plan import Interruptible, Job, Plan, Signal

__all__ = ["CarbonTiming", "TimingDecision", "remaining_work_job"]

log = logging.getLogger(__name__)

#: history read for the built-in forecaster: its 28 back-test days plus four weeks of weekly profile
HISTORY_S = 60 * 86400.0


@dataclass(frozen=True)
class TimingDecision:
    """What the timing decided for one trial.

    Attributes:
        start_at: when the trial was released (UTC).
        waited_s: seconds held (on the timing's clock).
        intensity_g_per_kwh: forecast intensity of the slot the trial starts in (g CO2e/kWh).
        zone: the zone of that intensity.
        decision: ``shift`` when the trial was held, ``run-now`` when it started at once, or
            ``deadline`` when the deadline had passed (the trial must not start).
        reason: the plan's reason.
    """

    start_at: datetime
    waited_s: float
    intensity_g_per_kwh: float | None
    zone: str | None
    decision: str
    reason: str


def remaining_work_job(
    *, now_s: float, deadline_s: float, remaining_j: float, power_w: float, trial_duration_s: float,
    zone: str | None = None, name: str = "hpo",
) -> Job:
    """The study's remaining work as an interruptible job (pure).

    Its duration is ``remaining_j / power_w`` (at least one trial); every chunk is at least one trial
    long. A duration longer than the time to the deadline leaves no room: the plan then runs at once.
    """
    if not (power_w > 0 and trial_duration_s > 0):
        raise ConfigError("carbon timing needs a positive trial power and duration")
    duration_s = max(trial_duration_s, remaining_j / power_w)
    return Job(
        earliest_at=datetime.fromtimestamp(now_s, UTC),
        deadline_at=datetime.fromtimestamp(deadline_s, UTC),
        duration_s=duration_s,
        power_w=power_w,
        interruptible=Interruptible(min_chunk_s=trial_duration_s),
        zones=(zone,) if zone else (),
        name=name,
    )


@dataclass
class CarbonTiming:
    """Hold trials for low-carbon windows before ``deadline_at`` (pass as ``optimize(carbon_aware=...)``).

    Attributes:
        deadline_at: the study must be done by then (tz-aware); no trial starts after it.
        forecast: ``forecast(now_s, until_s) -> Signal`` (see :mod:`carbontrail.schedule.execute`).
            Without one, ``source`` and ``zone`` make it: the source's own forecast where it has one,
            else the built-in forecaster on its last ``HISTORY_S`` of history.
        source: an intensity source (:class:`carbontrail.grid.BaseIntensitySource`).
        zone: the zone the trials run in.
        clock: the time source for waiting (default :class:`~carbontrail.schedule.SystemClock`; tests
            pass a :class:`~carbontrail.schedule.SimulatedClock` so nothing sleeps).
        trial_duration_s: expected duration of one trial; default: the median measured duration of
            the study's finished trials, else ``default_trial_duration_s``.
        power_w: mean power of a trial (W); default: measured energy over duration of finished trials,
            else ``default_power_w``.
        min_saving_rel: shift only when the plan saves at least this fraction of the emissions.
        replan_every_s: re-plan with a fresh forecast at least this often while waiting.
    """

    deadline_at: datetime
    forecast: ForecastFn | None = None
    source: Any = None
    zone: str | None = None
    clock: Clock = field(default_factory=SystemClock)
    trial_duration_s: float | None = None
    power_w: float | None = None
    default_trial_duration_s: float = 600.0
    default_power_w: float = 100.0
    min_saving_rel: float = 0.05
    replan_every_s: float = 3600.0

    def __post_init__(self) -> None:
        if self.deadline_at.tzinfo is None:
            raise ConfigError("carbon timing: deadline_at must be timezone-aware (UTC)")
        if self.forecast is None and (self.source is None or not self.zone):
            raise ConfigError("carbon timing needs forecast=..., or source=... and zone=...")

    def forecast_fn(self) -> ForecastFn:
        """The forecast function used to plan."""
        if self.forecast is not None:
            return self.forecast
        source, zone = self.source, str(self.zone)

        def fn(now_s: float, until_s: float) -> Signal:
            horizon = max(until_s - now_s, 1.0)
            if getattr(source, "supports_forecast", False):
                series = source.forecast(zone, now_s, horizon)
            else:
                from carbontrail.grid.forecast import forecast_series

                series = forecast_series(source.history(zone, now_s - HISTORY_S, now_s), now_s, horizon)
            return Signal({zone: series}, datetime.fromtimestamp(now_s, UTC))

        return fn

    def hold(self, *, remaining_j: float, trial_duration_s: float, power_w: float, name: str) -> TimingDecision:
        """Wait until the plan of the remaining work starts now; return what was decided."""
        clock = self.clock
        t0 = clock.now()
        deadline_s = self.deadline_at.timestamp()
        if t0 >= deadline_s:
            return TimingDecision(datetime.fromtimestamp(t0, UTC), 0.0, None, self.zone, "deadline",
                                  "the study's deadline has passed")
        forecast = self.forecast_fn()
        job = remaining_work_job(now_s=t0, deadline_s=deadline_s, remaining_j=remaining_j, power_w=power_w,
                                 trial_duration_s=trial_duration_s, zone=self.zone, name=name)
        p: Plan = wait_for_window(job, forecast, clock=clock, replan_every_s=self.replan_every_s,
                                  min_saving_rel=self.min_saving_rel)
        t1 = clock.now()
        if t1 >= deadline_s:
            return TimingDecision(datetime.fromtimestamp(t1, UTC), t1 - t0, None, p.zone, "deadline",
                                  "the study's deadline has passed")
        intensity = _intensity_at(forecast, t1, deadline_s, p.zone)
        decision = "shift" if t1 > t0 else p.decision  # the plan at release says run-now once it waited
        return TimingDecision(datetime.fromtimestamp(t1, UTC), t1 - t0, intensity, p.zone, decision, p.reason)


def _intensity_at(forecast: ForecastFn, now_s: float, until_s: float, zone: str) -> float | None:
    """The forecast intensity of the slot containing ``now_s`` (the first slot if it starts later)."""
    try:
        sig = forecast(now_s, until_s)
        series = sig.forecasts.get(zone) or next(iter(sig.forecasts.values()))
        if series.start_s <= now_s < series.end_s:
            return series.value_at(now_s)
        return float(series.values_g_per_kwh[0])
    except Exception:  # recording the intensity must not stop the trial
        log.warning("carbon timing: no intensity for %s at %s", zone, now_s, exc_info=True)
        return None


def median_or(values: list[float], default: float) -> float:
    """The median of the positive finite ``values``, else ``default``."""
    v = sorted(x for x in values if x > 0 and math.isfinite(x))
    if not v:
        return default
    m = len(v) // 2
    return v[m] if len(v) % 2 else 0.5 * (v[m - 1] + v[m])
