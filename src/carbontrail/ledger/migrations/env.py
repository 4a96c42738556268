"""Alembic environment for the carbontrail ledger (run through :meth:`Ledger.upgrade`)."""

from __future__ import annotations

from alembic import context

from carbontrail.ledger.schema import metadata

VERSION_TABLE = "carbontrail_alembic_version"

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, version_table=VERSION_TABLE)
with context.begin_transaction():
    context.run_migrations()
