"""Definitions the first migrations share, frozen as they were at those revisions.

Never edit these: a later change to the ledger's naming convention gets a new name here, used only
by the migrations written after it, so that replaying old revisions always builds the same schema.
"""

from __future__ import annotations

import sqlalchemy as sa

__all__ = ["NAMING_CONVENTION_0001", "metadata_0001"]

#: the ledger's constraint naming convention at the ``*_0001`` revisions
NAMING_CONVENTION_0001 = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def metadata_0001() -> sa.MetaData:
    """A private ``MetaData`` with the naming convention of the ``*_0001`` revisions."""
    return sa.MetaData(naming_convention=dict(NAMING_CONVENTION_0001))
