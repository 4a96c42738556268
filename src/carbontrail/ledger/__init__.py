"""The ledger: one database of runs, spans, factor snapshots and every area's shared state.

SQLite by default (``.carbontrail/ledger.db``, WAL), PostgreSQL by URL; Alembic migrations ship
inside the package (``carbontrail db upgrade``).
"""

from carbontrail.ledger.store import Ledger

__all__ = ["Ledger"]
