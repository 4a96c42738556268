"""gov: registry, deployments and committee workflow, policy activations, audit chain

Revision ID: gov_0001
Revises: core_0001
"""

from __future__ import annotations

import json

from alembic import op

from carbontrail.audit.tables import audit_checkpoints, audit_entries, audit_head
from carbontrail.registry.tables import TABLES as REGISTRY_TABLES

revision = "gov_0001"
down_revision = "core_0001"
branch_labels = ("gov",)
depends_on = None

_TABLES = (audit_entries, audit_head, audit_checkpoints, *REGISTRY_TABLES)


def upgrade() -> None:
    bind = op.get_bind()
    for table in _TABLES:
        table.create(bind)
    op.bulk_insert(audit_head, [{"id": 1, "seq": 0, "hash": "0" * 64, "frontier": json.dumps([])}])


def downgrade() -> None:
    bind = op.get_bind()
    for table in reversed(_TABLES):
        table.drop(bind)
