"""The ledger: one database of runs, spans, factor snapshots and every area's shared state.

SQLite by default (``.carbontrail/ledger.db``, WAL), PostgreSQL by URL; Alembic migrations ship
inside the package (``carbontrail db upgrade``). ``Ledger`` loads SQLAlchemy on first use, so the
journal (on the first span's path) stays cheap to import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from carbontrail.ledger.store import Ledger

__all__ = ["Ledger"]


def __getattr__(name: str) -> Any:
    if name == "Ledger":
        from carbontrail.ledger.store import Ledger

        return Ledger
    raise AttributeError(f"module 'carbontrail.ledger' has no attribute {name!r}")
