"""ForecastSource: a given forecast, a live provider, the built-in forecaster; clear errors when none covers."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from carbontrail.errors import GridError, ScheduleError
from carbontrail.grid.series import IntensitySeries
from carbontrail.grid.sources import BaseIntensitySource
from carbontrail.provenance import IntensityProvenance
from carbontrail.schedule.plan import Job, plan
from carbontrail.schedule.signals import ForecastSource

T = datetime(2022, 6, 10, tzinfo=UTC).timestamp()
H = 3600.0


def _series(zone: str, start_s: float, values, source: str = "user-file") -> IntensitySeries:
    prov = IntensityProvenance(zone=zone, source=source, dataset="test", vintage="2022")
    return IntensitySeries(start_s=start_s, step_s=H, values_g_per_kwh=np.asarray(values, float), provenance=prov)


class _Live(BaseIntensitySource):
    """A live source answering forecasts from a fixed series (or failing), served in-process."""

    live = True
    supports_forecast = True

    def __init__(self, name: str, series: IntensitySeries | None) -> None:
        self.name = name
        self.series = series
        self.calls = 0

    def history(self, zone: str, start_s: float, end_s: float) -> IntensitySeries:
        raise GridError("no history here")

    def latest(self, zone: str, at_s: float):  # pragma: no cover - not used by the scheduler
        raise GridError("no latest here")

    def forecast(self, zone: str, now_s: float, horizon_s: float) -> IntensitySeries:
        self.calls += 1
        if self.series is None:
            raise GridError(f"{self.name} timed out")
        return self.series.window(now_s, now_s + horizon_s)


def test_builtin_forecaster_over_the_bundled_history() -> None:
    sig = ForecastSource(["CISO"])(T, T + 24 * H)
    s = sig.forecasts["CISO"]
    assert s.provenance.source == "forecast:blend" and s.provenance.estimated
    assert s.start_s == T and s.end_s >= T + 24 * H
    assert sig.generated_at == datetime.fromtimestamp(T, UTC)


def test_planning_now_without_a_recent_history_says_what_to_configure() -> None:
    now = datetime(2026, 11, 29, tzinfo=UTC).timestamp()
    with pytest.raises(ScheduleError) as exc:
        ForecastSource(["CISO"])(now, now + 6 * H)
    msg = str(exc.value)
    assert "ends 2023-01-01" in msg and "grid_providers" in msg and "--series" in msg
    with pytest.raises(ScheduleError, match="no intensity series for zone"):
        ForecastSource(["XX-NOWHERE"])(now, now + 6 * H)


def test_a_given_forecast_is_used_as_given_and_history_fills_in_elsewhere() -> None:
    given = _series("CISO", T, [300, 200, 100, 400, 500, 600])
    src = ForecastSource(["CISO"], forecasts={"CISO": given})
    np.testing.assert_array_equal(src(T, T + 6 * H).forecasts["CISO"].values_g_per_kwh, given.values_g_per_kwh)
    # the window runs past the file: the forecaster over the history answers
    assert src(T, T + 24 * H).forecasts["CISO"].provenance.source == "forecast:blend"


def test_a_live_forecast_comes_first_and_a_failing_provider_falls_back() -> None:
    live_fc = _series("CISO", T, np.linspace(100, 300, 24), source="electricitymaps")
    down, up = _Live("down", None), _Live("up", live_fc)
    sig = ForecastSource(["CISO"], live=[down, up])(T, T + 12 * H)
    assert down.calls == 1 and up.calls == 1
    assert sig.forecasts["CISO"].provenance.source == "electricitymaps"
    sig = ForecastSource(["CISO"], live=[down])(T, T + 12 * H)
    assert sig.forecasts["CISO"].provenance.source == "forecast:blend"


def test_renewable_share_is_forecast_and_a_zone_without_a_mix_is_refused() -> None:
    sig = ForecastSource(["CISO"], objective="renewable")(T, T + 24 * H)
    share = sig.renewable_share["CISO"].values_g_per_kwh
    assert share.size >= 24 and (share >= 0).all() and (share <= 1).all() and share.std() > 0.01
    job = Job(
        earliest_at=datetime.fromtimestamp(T, UTC),
        deadline_at=datetime.fromtimestamp(T + 24 * H, UTC),
        duration_s=2 * H,
        zones=("CISO",),
    )
    p = plan(job, sig, objective="renewable", error_band_z=0)
    assert p.objective == "renewable" and p.renewable_share is not None
    with pytest.raises(ScheduleError, match="renewable-share history for DE"):
        ForecastSource(["DE"], objective="renewable")
