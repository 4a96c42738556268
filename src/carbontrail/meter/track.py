"""Spans: measure the energy of any piece of pipeline work.

``track()`` opens a named window over the process's meters. Windows are differences of
cumulative counters, so they nest and overlap freely across threads; child processes inherit the
enclosing span as their parent through ``CARBONTRAIL_PARENT_SPAN`` (and the run through
``CARBONTRAIL_RUN_ID``). A closing span is committed to the process journal with one write and
moved into the ledger in batches by a background flusher (and at exit). Example::

    import carbontrail

    with carbontrail.track("fit", kind="train", model="digits-svc", team="vision"):
        model.fit(X, y)

    @carbontrail.track("predict", kind="inference")
    def predict(batch): ...

    span = carbontrail.track("evaluate", kind="evaluate").start()
    ...
    record = span.stop()          # a SpanRecord: energy_j, components with methods, buckets

An exception escaping a span marks it ``failed`` and keeps its energy. ``CARBONTRAIL_DISABLED=1``
turns every span into a no-op.

Energy of child processes is counted once they have been waited for (``os.times`` children
fields); the ``carbontrail track -- CMD`` wrapper follows the child's tree while it runs.
"""

from __future__ import annotations

import atexit
import contextvars
import functools
import logging
import math
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from carbontrail.config import Settings, load_settings
from carbontrail.errors import CarbontrailError
from carbontrail.meter.base import MeterSet
from carbontrail.span import KINDS, SpanRecord

__all__ = ["Span", "Tracker", "get_tracker", "track"]

log = logging.getLogger(__name__)

ENV_PARENT = "CARBONTRAIL_PARENT_SPAN"
ENV_RUN = "CARBONTRAIL_RUN_ID"

_current: contextvars.ContextVar[Span | None] = contextvars.ContextVar("carbontrail_span", default=None)
F = TypeVar("F", bound=Callable[..., Any])


class _Timeline:
    """Readings of the meters at bucket edges while any span is open (one wake-up per bucket)."""

    def __init__(self, meters: MeterSet, bucket_s: float) -> None:
        self._meters = meters
        self._bucket_s = bucket_s
        self._points: list[tuple[float, float]] = []  # (edge_s, cumulative total J)
        self._open = 0
        self._cv = threading.Condition()
        self._thread: threading.Thread | None = None

    def opened(self) -> None:
        with self._cv:
            self._open += 1
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="carbontrail-timeline", daemon=True)
                self._thread.start()

    def closed(self, start_s: float, end_s: float) -> list[tuple[float, float]]:
        """Edge readings inside ``(start_s, end_s)``; forgets points no open span can need."""
        with self._cv:
            self._open -= 1
            pts = [p for p in self._points if start_s < p[0] < end_s] if self._points else []
            if self._open == 0:
                self._points.clear()
            return pts

    def _run(self) -> None:
        while True:
            with self._cv:
                while self._open == 0:
                    self._cv.wait()
            now = time.time()
            edge = (math.floor(now / self._bucket_s) + 1) * self._bucket_s
            time.sleep(max(0.0, edge - time.time()))
            total = sum(self._meters.read())
            with self._cv:
                if self._open:
                    self._points.append((edge, total))


class Tracker:
    """Process-wide state behind :func:`track`: meters, journal, flusher.

    Most users never build one: :func:`get_tracker` returns the process's tracker built from
    settings. Tests and embedders may build their own with explicit ``meters``, ``ledger`` and
    ``attribute`` (a callable that fills emissions, see :mod:`carbontrail.grid.attribute`).
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        meters: MeterSet | None = None,
        ledger: Any = None,
        attribute: Callable[[Sequence[SpanRecord]], list[SpanRecord]] | None = None,
        flush_interval_s: float = 0.5,
        run_id: str | None = None,
    ) -> None:
        self.settings = settings or load_settings()
        if meters is None:
            from carbontrail.meter import default_meters

            meters = default_meters(self.settings)
        self.meters = meters
        self.run_id = run_id or os.environ.get(ENV_RUN) or uuid.uuid4().hex
        self.default_parent = os.environ.get(ENV_PARENT) or None
        self._ledger = ledger
        self._attribute = attribute
        self._attribute_resolved = attribute is not None
        self._flush_interval_s = flush_interval_s
        self._lock = threading.Lock()
        self._pending: list[list[Any]] = []
        self._journal: Any = None
        self._flusher: threading.Thread | None = None
        self._wake = threading.Event()
        self._stopping = False
        self._flush_lock = threading.Lock()
        self._failed_flush = False
        self.timeline = _Timeline(meters, self.settings.bucket_s)
        self._read = meters.read
        self._header = {
            "journal": 1,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "run_id": self.run_id,
            "components": [
                {"component": i.component, "method": i.method, "uncertainty_rel": i.uncertainty_rel,
                 "detail": i.detail}
                for i in meters.infos
            ],
            "attribution": self.settings.attribution,
            "zone": self.settings.zone,
            "bucket_s": self.settings.bucket_s,
        }
        atexit.register(self.close)

    # -- spans ------------------------------------------------------------------------------
    def start(
        self,
        name: str,
        *,
        kind: str = "other",
        parent_id: str | None = None,
        zone: str | None = None,
        pipeline: str | None = None,
        model: str | None = None,
        team: str | None = None,
        tags: dict[str, str] | None = None,
    ) -> Span:
        """Open a span now."""
        if kind not in KINDS:
            raise CarbontrailError(f"unknown span kind {kind!r}; use one of {', '.join(KINDS)}")
        if parent_id is None:
            cur = _current.get()
            parent_id = cur.span_id if cur is not None else self.default_parent
        return Span(self, name, kind, parent_id, zone, pipeline, model, team, tags)

    def _commit(self, line: list[Any]) -> None:
        with self._lock:
            if self._journal is None:
                from carbontrail.ledger.journal import JournalWriter

                self._journal = JournalWriter(self.settings.journal_dir, self._header)
            self._journal.append(line)
            self._pending.append(line)
            if self._flusher is None:
                self._flusher = threading.Thread(target=self._flush_loop, name="carbontrail-flush", daemon=True)
                self._flusher.start()

    # -- flushing ---------------------------------------------------------------------------
    @property
    def ledger(self) -> Any:
        if self._ledger is None:
            from carbontrail.ledger import Ledger

            self._ledger = Ledger.open(settings=self.settings)
        return self._ledger

    def _attributor(self) -> Callable[[Sequence[SpanRecord]], list[SpanRecord]] | None:
        if not self._attribute_resolved:
            from carbontrail.grid.attribute import make_attributor

            self._attribute = make_attributor(self.settings, self.ledger)
            self._attribute_resolved = True
        return self._attribute

    def _flush_loop(self) -> None:
        while not self._stopping:
            self._wake.wait(self._flush_interval_s)
            self._wake.clear()
            try:
                self.flush()
            except Exception:  # keep the process alive; the journal keeps the spans
                log.exception("carbontrail: flushing spans to the ledger failed; they stay in the journal")

    def flush(self) -> int:
        """Write pending spans to the ledger now; return how many were written."""
        from carbontrail.ledger.journal import decode

        with self._flush_lock:
            with self._lock:
                batch, self._pending = self._pending, []
            if not batch:
                return 0
            records = [decode(self._journal.header, line) for line in batch]
            try:
                attribute = self._attributor()
                if attribute is not None:
                    records = attribute(records)
                self.ledger.add_spans(records)
            except BaseException:
                self._failed_flush = True
                with self._lock:
                    self._pending[:0] = batch
                raise
            with self._lock:
                if not self._pending and not self._failed_flush:
                    self._journal.reset()
            return len(records)

    def close(self) -> None:
        """Flush everything and release the journal (called at exit). Idempotent."""
        self._stopping = True
        self._wake.set()
        if self._journal is None:
            return
        ok = True
        try:
            self.flush()
        except Exception:
            ok = False
            log.exception("carbontrail: spans left in journal %s for later ingestion", self._journal.path)
        with self._lock:
            self._journal.close(remove=ok and not self._pending and not self._failed_flush)


class Span:
    """An open window; close it with :meth:`stop` (or use :func:`track` as a context manager)."""

    __slots__ = (
        "_env_prev", "_reading", "_start_s", "_token", "kind", "model", "name", "parent_id", "pipeline",
        "record_line", "span_id", "tags", "team", "tracker", "zone",
    )

    def __init__(
        self,
        tracker: Tracker,
        name: str,
        kind: str,
        parent_id: str | None,
        zone: str | None,
        pipeline: str | None,
        model: str | None,
        team: str | None,
        tags: dict[str, str] | None,
    ) -> None:
        self.tracker = tracker
        self.span_id = uuid.uuid4().hex
        self.name = name
        self.kind = kind
        self.parent_id = parent_id
        self.zone = zone
        self.pipeline = pipeline
        self.model = model
        self.team = team
        self.tags = tags
        self.record_line: list[Any] | None = None
        self._token: contextvars.Token[Span | None] | None = None
        self._env_prev: str | None = None
        tracker.timeline.opened()
        self._start_s = time.time()
        self._reading = tracker._read()

    def activate(self) -> Span:
        """Make this the current span (parent of spans opened in this context and of child processes)."""
        self._token = _current.set(self)
        self._env_prev = os.environ.get(ENV_PARENT)
        os.environ[ENV_PARENT] = self.span_id
        os.environ.setdefault(ENV_RUN, self.tracker.run_id)
        return self

    def stop(
        self,
        *,
        status: str = "ok",
        error: str | None = None,
        profile: Sequence[tuple[float, float]] | None = None,
    ) -> SpanRecord:
        """Close the span and commit it; return its record.

        ``profile`` (``[(t_s, cumulative_work), ...]``) optionally says how the work was spread in
        time (e.g. CPU seconds of a child tree); energy is split across buckets along it.
        """
        self._close(status=status, error=error, profile=profile)
        return self.record()

    def _close(
        self,
        *,
        status: str = "ok",
        error: str | None = None,
        profile: Sequence[tuple[float, float]] | None = None,
    ) -> list[Any]:
        """Close the span and commit its journal line.

        ``profile`` (``[(t_s, cumulative_work), ...]``) optionally says how the work was spread in
        time (e.g. CPU seconds of a child tree); energy is split across buckets along it.
        """
        end_reading = self.tracker._read()
        end_s = time.time()
        if self.record_line is not None:
            raise CarbontrailError(f"span {self.name!r} is already stopped")
        if self._token is not None:
            try:
                _current.reset(self._token)
            except ValueError:  # stopped from another context
                _current.set(None)
            if os.environ.get(ENV_PARENT) == self.span_id:
                if self._env_prev is None:
                    os.environ.pop(ENV_PARENT, None)
                else:
                    os.environ[ENV_PARENT] = self._env_prev
        boundaries = self.tracker.timeline.closed(self._start_s, end_s)
        if profile:
            boundaries = _profile_boundaries(profile, self._start_s, end_s, sum(self._reading), sum(end_reading))
        line = [
            self.span_id, self.parent_id, self.name, self.kind, status, self._start_s, end_s,
            self._reading, end_reading, boundaries, self.zone, self.pipeline, self.model, self.team,
            self.tags, error,
        ]
        self.record_line = line
        self.tracker._commit(line)
        return line

    def record(self) -> SpanRecord:
        """The closed span's record (decoded on demand)."""
        if self.record_line is None:
            raise CarbontrailError(f"span {self.name!r} is still open")
        from carbontrail.ledger.journal import decode

        return decode(self.tracker._header, self.record_line)

    def env(self) -> dict[str, str]:
        """Environment variables that make a child process's spans children of this one."""
        return {ENV_PARENT: self.span_id, ENV_RUN: self.tracker.run_id}


def _profile_boundaries(
    profile: Sequence[tuple[float, float]], start_s: float, end_s: float, e0: float, e1: float
) -> list[tuple[float, float]]:
    """Map a cumulative work profile onto cumulative energy points inside the window."""
    pts = sorted((t, w) for t, w in profile if start_s < t < end_s)
    if not pts:
        return []
    w_end = max(w for _, w in profile)
    w0 = min(w for _, w in profile)
    span_w = w_end - w0
    if span_w <= 0:
        return []
    return [(t, e0 + (e1 - e0) * (w - w0) / span_w) for t, w in pts]


class _NoopSpan:
    span_id = ""

    def activate(self) -> _NoopSpan:
        return self

    def stop(self, **_: Any) -> None:
        return None

    def env(self) -> dict[str, str]:
        return {}


_tracker: Tracker | None = None
_tracker_lock = threading.Lock()


def _after_fork_in_child() -> None:
    # a forked child measures itself: fresh tracker, fresh journal
    global _tracker, _tracker_lock
    _tracker = None
    _tracker_lock = threading.Lock()


os.register_at_fork(after_in_child=_after_fork_in_child)


def get_tracker() -> Tracker:
    """The process's tracker, built from settings on first use."""
    global _tracker
    if _tracker is None:
        with _tracker_lock:
            if _tracker is None:
                _tracker = Tracker()
    return _tracker


def set_tracker(tracker: Tracker | None) -> Tracker | None:
    """Install ``tracker`` as the process's tracker (``None`` resets); returns the previous one."""
    global _tracker
    with _tracker_lock:
        prev, _tracker = _tracker, tracker
    return prev


class track:
    """Measure a named piece of work: context manager, decorator, or ``.start()``/``.stop()``.

    Args:
        name: span name (a decorated function's qualified name if omitted).
        kind: lifecycle stage — one of ``data-prep``, ``train``, ``retrain``, ``hpo-trial``,
            ``evaluate``, ``inference``, ``other``.
        pipeline, model, team: standard tags; ``zone``: grid zone where the work runs
            (default: settings); ``tags`` and extra keyword arguments: free labels (strings).
        tracker: a specific :class:`Tracker` (default: the process's).

    As a context manager it yields the open :class:`Span`; the closed
    :class:`~carbontrail.span.SpanRecord` is then in ``.record``.
    """

    __slots__ = ("_closed", "_kw", "_span", "_tracker", "name")

    def __init__(
        self,
        name: str | None = None,
        *,
        kind: str = "other",
        pipeline: str | None = None,
        model: str | None = None,
        team: str | None = None,
        zone: str | None = None,
        tags: dict[str, str] | None = None,
        tracker: Tracker | None = None,
        **labels: str,
    ) -> None:
        all_tags = {**(tags or {}), **{k: str(v) for k, v in labels.items()}} or None
        self.name = name
        self._kw: dict[str, Any] = {
            "kind": kind, "pipeline": pipeline, "model": model, "team": team, "zone": zone, "tags": all_tags,
        }
        self._tracker = tracker
        self._span: Span | _NoopSpan | None = None
        self._closed: Span | None = None

    @property
    def record(self) -> SpanRecord | None:
        """The closed span's record (``None`` while open or when metering is disabled)."""
        return self._closed.record() if self._closed is not None else None

    def _disabled(self) -> bool:
        return os.environ.get("CARBONTRAIL_DISABLED", "").lower() in ("1", "true", "yes", "on")

    def start(self) -> Span | _NoopSpan:
        """Open the span (not made current: use the context-manager form for nesting)."""
        if self._disabled():
            return _NoopSpan()
        tracker = self._tracker or get_tracker()
        return tracker.start(self.name or "span", **self._kw)

    def __enter__(self) -> Span | _NoopSpan:
        span = self.start()
        self._span = span.activate()
        return span

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        span, self._span = self._span, None
        if not isinstance(span, Span):
            return
        if exc_type is None:
            span._close()
        else:
            status = "killed" if issubclass(exc_type, KeyboardInterrupt | SystemExit) else "failed"
            span._close(status=status, error=f"{exc_type.__name__}: {exc}")
        self._closed = span

    def __call__(self, fn: F) -> F:
        kw, tracker = self._kw, self._tracker
        name = self.name or getattr(fn, "__qualname__", "span")

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with track(name, tracker=tracker, **kw):
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]
