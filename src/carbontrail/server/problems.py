"""RFC 9457 problem details: every error the API returns is ``application/problem+json``.

HTTP status codes for carbontrail errors are decided here and nowhere else in the library.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from carbontrail import errors as E

__all__ = ["PROBLEM_JSON", "install_problem_handlers", "problem", "status_for"]

log = logging.getLogger(__name__)
PROBLEM_JSON = "application/problem+json"

_STATUS: tuple[tuple[type[Exception], int, str], ...] = (
    (E.UnitError, 422, "invalid-quantity"),
    (E.ConfigError, 422, "invalid-input"),
    (E.UnknownZoneError, 404, "unknown-zone"),
    (E.ProviderError, 502, "provider-failed"),
    (E.GridError, 422, "grid-data-unusable"),
    (E.ScheduleError, 422, "unschedulable"),
    (E.QuotaExceeded, 409, "quota-exceeded"),
    (E.PolicyError, 422, "policy-error"),
    (E.RegistryError, 409, "registry-conflict"),
    (E.AuditIntegrityError, 409, "audit-integrity"),
    (E.LedgerError, 503, "ledger-unavailable"),
    (E.CarbontrailError, 400, "error"),
)


def status_for(exc: Exception) -> tuple[int, str]:
    """HTTP status and problem type slug for a carbontrail error."""
    if isinstance(exc, E.RegistryError) and str(exc).startswith(
        ("no model ", "no version ", "no deployment ", "no deployment request ")
    ):
        return 404, "not-found"
    for cls, status, slug in _STATUS:
        if isinstance(exc, cls):
            return status, slug
    return 500, "internal-error"


_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Unprocessable content",
    429: "Too many requests",
    500: "Internal server error",
    502: "Bad gateway",
    503: "Service unavailable",
}


def problem(
    status: int,
    detail: str = "",
    *,
    slug: str | None = None,
    instance: str = "",
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """A problem+json response."""
    body: dict[str, Any] = {
        "type": f"https://carbontrail.dev/problems/{slug}" if slug else "about:blank",
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "instance": instance,
    }
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def install_problem_handlers(app: FastAPI) -> None:
    """Route HTTP errors, validation errors, carbontrail errors and crashes to problem+json."""

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem(
            exc.status_code,
            str(exc.detail or ""),
            instance=request.url.path,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errs = [
            {
                "loc": [str(x) for x in e.get("loc", ())],
                "msg": str(e.get("msg", "")),
                "type": str(e.get("type", "")),
            }
            for e in exc.errors()[:50]
        ]
        return problem(
            422,
            "the request does not match the schema",
            slug="validation",
            instance=request.url.path,
            errors=errs,
        )

    @app.exception_handler(E.CarbontrailError)
    async def _ours(request: Request, exc: E.CarbontrailError) -> JSONResponse:
        status, slug = status_for(exc)
        if status >= 500:
            log.error("request %s failed: %s", request.url.path, exc)
        return problem(status, str(exc), slug=slug, instance=request.url.path)

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s", request.url.path)
        return problem(500, "internal error (logged on the server)", slug="internal-error", instance=request.url.path)
