"""The app factory: ``create_app(settings)`` builds the REST API, the dashboard and ``/metrics``.

Nothing happens at import: the ledger, the token store and the metrics registry are created per
app, so tests and processes can hold several apps side by side.
"""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.responses import RedirectResponse, Response

from carbontrail import __version__
from carbontrail.config import Settings, load_settings
from carbontrail.server.auth import Principal, TokenStore
from carbontrail.server.deps import AppState, require, state
from carbontrail.server.metrics import AppMetrics
from carbontrail.server.problems import install_problem_handlers

__all__ = ["create_app"]


def _utcnow() -> datetime:
    return datetime.now(UTC)


class _MetricsMiddleware:
    """Pure ASGI middleware: request count and latency per route template (low cardinality)."""

    def __init__(self, app: Any, metrics: AppMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        status = [500]

        async def _send(message: Any) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, _send)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", "(unmatched)")
            self.metrics.latency.labels(scope["method"], path).observe(time.perf_counter() - t0)
            self.metrics.requests.labels(scope["method"], path, str(status[0])).inc()


def create_app(
    settings: Settings | None = None,
    *,
    ledger: Any = None,
    clock: Callable[[], datetime] | None = None,
) -> FastAPI:
    """Build the carbontrail service.

    Args:
        settings: carbontrail settings (default: :func:`carbontrail.config.load_settings`); the
            ledger URL comes from here unless ``ledger`` is given.
        ledger: an open :class:`~carbontrail.ledger.Ledger` to use (the app then does not close it).
        clock: the time source (tz-aware UTC), for tests and simulated demos.
    """
    from carbontrail.ledger import Ledger

    settings = settings or load_settings()
    owns = ledger is None
    led = ledger if ledger is not None else Ledger.open(settings=settings)
    from carbontrail.server.gov import Governance

    now = clock or _utcnow
    st = AppState(
        settings=settings,
        ledger=led,
        tokens=TokenStore(led),
        metrics=AppMetrics(led),
        clock=now,
        owns_ledger=owns,
        gov=Governance(settings, led, now),
        write_lock=threading.Lock() if led.dialect == "sqlite" else None,
    )

    if settings.openlineage_url:
        from carbontrail.server.lineage import LineageEmitter

        st.lineage = LineageEmitter(
            settings.openlineage_url, settings.openlineage_namespace, timeout_s=settings.provider_timeout_s
        )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        if st.lineage is not None:
            st.lineage.close()
        if st.owns_ledger:
            st.ledger.close()

    app = FastAPI(
        title="carbontrail",
        version=__version__,
        description="Carbon-aware MLOps service: ingest spans from remote workers, query the ledger, "
        "download auditor-grade reports, and run the dashboard. Errors are RFC 9457 problem+json.",
        lifespan=lifespan,
    )
    app.state.ct = st
    install_problem_handlers(app)

    app.add_middleware(_MetricsMiddleware, metrics=st.metrics)

    from carbontrail.server.api import metrics_response, router
    from carbontrail.server.api_areas import router as areas_router
    from carbontrail.server.dashboard import LoginRequired, login_redirect, static_app
    from carbontrail.server.dashboard import router as ui_router

    app.add_exception_handler(LoginRequired, login_redirect)
    app.include_router(router)
    app.include_router(areas_router)
    app.include_router(ui_router)
    app.mount("/static", static_app(), name="static")

    @app.get("/metrics", tags=["service"], include_in_schema=True)
    def metrics(s: AppState = Depends(state), _: Principal = Depends(require("read"))) -> Response:
        """Prometheus metrics (text exposition format); needs a token with ``read``."""
        return metrics_response(s)

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/ui/", status_code=307)

    return app
