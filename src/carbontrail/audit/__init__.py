"""Tamper-evident audit chain: hash-chained entries with signed Merkle checkpoints.

``AuditLog(ledger, signing_key=...)`` appends (``append``/``append_many``), checkpoints,
verifies (``verify`` names the first tampered entry) and exports entries with inclusion proofs
(``export``; check with :func:`verify_export`). The maths lives in :mod:`carbontrail.audit.chain`.
"""

from carbontrail.audit.keys import load_or_create_key, public_key_hex
from carbontrail.audit.log import (
    KINDS,
    AuditEntry,
    AuditLog,
    Checkpoint,
    VerifyReport,
    verify_consistency_bundle,
    verify_export,
)

__all__ = [
    "KINDS",
    "AuditEntry",
    "AuditLog",
    "Checkpoint",
    "VerifyReport",
    "load_or_create_key",
    "public_key_hex",
    "verify_consistency_bundle",
    "verify_export",
]
