"""The carbontrail service: REST API, dashboard and Prometheus metrics (FastAPI).

``create_app(settings)`` builds an app; ``carbontrail serve`` runs it with uvicorn. Needs the
``server`` extra (``pip install 'carbontrail[server]'``). Importing this package is cheap: FastAPI
is imported by :func:`create_app`.
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_app"]


def create_app(*args: Any, **kwargs: Any) -> Any:
    """Build the FastAPI app (see :func:`carbontrail.server.app.create_app`)."""
    try:
        from carbontrail.server.app import create_app as _create
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ImportError(
            f"the carbontrail service needs the server extra: pip install 'carbontrail[server]' ({exc})"
        ) from exc
    return _create(*args, **kwargs)
