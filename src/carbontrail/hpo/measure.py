"""How a trial's energy is measured: a window over :func:`carbontrail.track` (kind ``hpo-trial``).

The runner opens one window per trial (and one per sampler call) and reads its energy while it runs
(for heartbeats and in-trial enforcement) and when it closes. :class:`TrackMeasure` is the real
path: a tracked span written to the journal and the ledger. Any object with the same ``start``
method can be injected (tests inject a tracker over fake meters).

Energy read while a trial runs is the difference of the tracker's cumulative meters since the
window opened. With process-level meters, trials running as threads of one process see each
other's work; run parallel trials as processes (Dask workers) to measure them apart.
"""

from __future__ import annotations

from typing import Any, Protocol

from carbontrail.errors import ConfigError
from carbontrail.span import SpanRecord

__all__ = ["TrackMeasure", "TrialMeasure", "TrialWindow"]


class TrialWindow(Protocol):
    """An open measurement window."""

    def energy_j(self) -> float:
        """Energy (J) since the window opened."""

    def stop(self, status: str = "ok", error: str | None = None) -> SpanRecord | None:
        """Close the window; return its span record (None when metering is disabled)."""


class TrialMeasure(Protocol):
    """Opens measurement windows."""

    def start(self, name: str, kind: str, tags: dict[str, str]) -> TrialWindow:
        """Open a window named ``name`` of span kind ``kind`` with labels ``tags``."""


class _TrackWindow:
    def __init__(self, tracker: Any, span: Any) -> None:
        self._tracker = tracker
        self._span = span
        self._start = sum(tracker.meters.read()) if tracker is not None else 0.0

    def energy_j(self) -> float:
        if self._tracker is None:
            return 0.0
        return max(0.0, sum(self._tracker.meters.read()) - self._start)

    def stop(self, status: str = "ok", error: str | None = None) -> SpanRecord | None:
        rec = self._span.stop(status=status, error=error)
        return rec if isinstance(rec, SpanRecord) else None


class TrackMeasure:
    """Measure through :func:`carbontrail.track` with ``tracker`` (default: the process's tracker).

    Spans are committed to the tracker's journal and flushed to its ledger in the background;
    :meth:`flush` forces that.
    """

    def __init__(self, tracker: Any = None) -> None:
        self._tracker = tracker

    @property
    def tracker(self) -> Any:
        if self._tracker is None:
            from carbontrail.meter.track import get_tracker

            try:
                return get_tracker()
            except ImportError as exc:  # the process tracker needs the meter area's default meters
                raise ConfigError(
                    f"cannot build the default tracker ({exc}); pass measure=TrackMeasure(Tracker(meters=...))"
                ) from exc
        return self._tracker

    def start(self, name: str, kind: str, tags: dict[str, str]) -> TrialWindow:
        from carbontrail.meter.track import track

        tracker = self.tracker
        span = track(name, kind=kind, tags=tags, tracker=tracker).start()
        return _TrackWindow(tracker if getattr(span, "span_id", "") else None, span)

    def flush(self) -> None:
        """Write pending spans to the ledger now."""
        self.tracker.flush()
