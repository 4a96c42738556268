"""The audit log: an append-only hash chain in the ledger with signed Merkle checkpoints.

Writers serialise on the chain head row (``BEGIN IMMEDIATE`` on SQLite, ``SELECT ... FOR UPDATE``
on PostgreSQL), so concurrent processes never fork the chain. Verification streams the entries in
order, recomputing every hash and the Merkle root at every checkpoint.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from carbontrail.audit import chain
from carbontrail.audit.keys import public_key_hex, verify_signature
from carbontrail.audit.tables import audit_checkpoints, audit_entries, audit_head
from carbontrail.errors import AuditIntegrityError, LedgerError

__all__ = [
    "KINDS",
    "AuditEntry",
    "AuditLog",
    "Checkpoint",
    "VerifyReport",
    "verify_consistency_bundle",
    "verify_export",
]

log = logging.getLogger(__name__)

#: entry kinds the library writes (others are allowed: a short lowercase word with dashes)
KINDS: tuple[str, ...] = (
    "span-batch",
    "factor-snapshot",
    "policy-activation",
    "decision",
    "approval",
    "veto",
    "override",
    "alias-change",
    "registry",
    "deployment",
    "note",
)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One chain entry. ``hash``/``prev_hash`` are hex; ``at`` is tz-aware UTC."""

    seq: int
    kind: str
    at: datetime
    payload: dict[str, Any]
    prev_hash: str
    hash: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "kind": self.kind,
            "at": chain.format_at(self.at),
            "payload": self.payload,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A signed Merkle root over the first ``tree_size`` entries, linked to the previous checkpoint."""

    tree_size: int
    root: str
    prev_tree_size: int
    prev_root: str
    at: datetime
    public_key: str
    signature: str

    def message(self) -> bytes:
        return chain.checkpoint_message(
            self.tree_size,
            bytes.fromhex(self.root),
            self.prev_tree_size,
            bytes.fromhex(self.prev_root),
            chain.format_at(self.at),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "tree_size": self.tree_size,
            "root": self.root,
            "prev_tree_size": self.prev_tree_size,
            "prev_root": self.prev_root,
            "at": chain.format_at(self.at),
            "public_key": self.public_key,
            "signature": self.signature,
        }


@dataclass
class VerifyReport:
    """Outcome of :meth:`AuditLog.verify`.

    ``first_bad_seq`` names the first entry that does not verify (None when the entries are intact);
    ``problems`` lists every finding in order.
    """

    entries: int = 0
    checkpoints: int = 0
    head_seq: int = 0
    first_bad_seq: int | None = None
    problems: list[str] = field(default_factory=list)
    trusted_key: str | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "entries": self.entries,
            "checkpoints": self.checkpoints,
            "head_seq": self.head_seq,
            "first_bad_seq": self.first_bad_seq,
            "problems": self.problems,
            "trusted_key": self.trusted_key,
        }


def _utcnow() -> datetime:
    return datetime.now(UTC)


_EMPTY_ROOT = chain.merkle_root([])


class AuditLog:
    """Append-only audit chain stored in a :class:`~carbontrail.ledger.Ledger`.

    Args:
        ledger: an open ledger (its schema upgraded).
        signing_key: Ed25519 private key used for checkpoints (see :mod:`carbontrail.audit.keys`);
            without one, :meth:`checkpoint` refuses and appends never auto-checkpoint.
        checkpoint_every: make a signed checkpoint automatically once this many entries have been
            appended since the last one (0 = only on request).
        clock: returns the current tz-aware UTC time (injected for tests).
    """

    def __init__(
        self,
        ledger: Any,
        *,
        signing_key: Ed25519PrivateKey | None = None,
        checkpoint_every: int = 1000,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.ledger = ledger
        self.signing_key = signing_key
        self.checkpoint_every = checkpoint_every
        self.clock = clock

    # -- writing ----------------------------------------------------------------------------
    def _lock_head(self, conn: sa.Connection) -> sa.Row[Any]:
        row = conn.execute(audit_head.select().where(audit_head.c.id == 1).with_for_update()).one_or_none()
        if row is None:
            raise LedgerError("audit chain head row missing: run `carbontrail db upgrade`")
        return row

    def append(self, kind: str, payload: dict[str, Any], *, at: datetime | None = None) -> AuditEntry:
        """Append one entry; return it with its sequence number and hash."""
        return self.append_many([(kind, payload)], at=at)[0]

    def append_many(
        self,
        items: Iterable[tuple[str, dict[str, Any]]],
        *,
        at: datetime | None = None,
        conn: sa.Connection | None = None,
    ) -> list[AuditEntry]:
        """Append entries in one transaction (all or none), in order; return them.

        Payloads must be JSON-serialisable without NaN; ``kind`` is a short lowercase name. What is
        hashed and stored is the payload's canonical JSON; the returned entries carry the dicts given.
        With ``conn`` (an open write transaction on this log's ledger) the entries join that
        transaction, so they commit or roll back with the change they describe.
        """
        prepared: list[tuple[str, dict[str, Any], str]] = []
        for kind, payload in items:
            if not kind or len(kind) > 32 or not kind.replace("-", "").isalnum() or kind.lower() != kind:
                raise ValueError(f"bad audit entry kind {kind!r}")
            if not isinstance(payload, dict):
                raise ValueError("audit payload must be a dict")
            try:
                text = chain.canonical_json(payload)
            except ValueError as exc:
                raise ValueError(f"audit payload not canonical JSON: {exc}") from exc
            prepared.append((kind, payload, text))
        if not prepared:
            return []
        when = at or self.clock()
        at_text = chain.format_at(when)
        when = datetime.fromisoformat(at_text)
        if conn is None:
            with self.ledger.write() as own:
                return self._append_in(own, prepared, when, at_text)
        return self._append_in(conn, prepared, when, at_text)

    def _append_in(
        self, conn: sa.Connection, prepared: list[tuple[str, dict[str, Any], str]], when: datetime, at_text: str
    ) -> list[AuditEntry]:
        out: list[AuditEntry] = []
        head = self._lock_head(conn)
        seq = int(head.seq)
        prev = bytes.fromhex(head.hash)
        frontier = _load_frontier(head.frontier, seq)
        rows = []
        for kind, payload, text in prepared:
            seq += 1
            h = chain.entry_hash(prev, seq, kind, at_text, text)
            frontier.push(h)
            hx = h.hex()
            rows.append(
                {
                    "seq": seq,
                    "kind": kind,
                    "at": when,
                    "payload": text,
                    "prev_hash": prev.hex(),
                    "hash": hx,
                }
            )
            out.append(AuditEntry(seq, kind, when, payload, prev.hex(), hx))
            prev = h
        conn.execute(audit_entries.insert(), rows)
        conn.execute(
            audit_head.update()
            .where(audit_head.c.id == 1)
            .values(seq=seq, hash=prev.hex(), frontier=_dump_frontier(frontier))
        )
        if self.signing_key is not None and self.checkpoint_every > 0:
            last = self._last_checkpoint(conn)
            last_size = last.tree_size if last else 0
            if seq - last_size >= self.checkpoint_every:
                self._make_checkpoint(conn, seq, frontier.root(), last, when)
        return out

    def append_span_batch(self, records: Sequence[Any], *, at: datetime | None = None) -> AuditEntry:
        """Append one ``span-batch`` entry for spans written to the ledger: their ids, total energy
        (J) and emissions (g), and a digest of their full records (so a later edit of a span shows)."""
        from carbontrail.provenance import digest

        dicts = [r.to_dict() for r in records]
        payload = {
            "span_ids": [d["span_id"] for d in dicts],
            "energy_j": sum(float(d["energy_j"]) for d in dicts),
            "emissions_g": sum(float(d["emissions_g"] or 0.0) for d in dicts),
            "records_digest": digest(dicts),
        }
        return self.append("span-batch", payload, at=at)

    def append_factor_snapshot(self, snapshot: dict[str, Any], *, at: datetime | None = None) -> AuditEntry:
        """Append one ``factor-snapshot`` entry: the snapshot's id, zone, source, vintage and a digest
        of its data (``snapshot`` is a row of ``factor_snapshots`` as a dict)."""
        from carbontrail.provenance import digest

        keys = ("snapshot_id", "zone", "source", "dataset", "vintage", "signal", "basis", "resolution_s")
        payload = {k: snapshot.get(k) for k in keys}
        payload["data_digest"] = digest(snapshot.get("data"))
        return self.append("factor-snapshot", payload, at=at)

    def _last_checkpoint(self, conn: sa.Connection) -> Checkpoint | None:
        row = conn.execute(
            audit_checkpoints.select().order_by(audit_checkpoints.c.tree_size.desc()).limit(1)
        ).one_or_none()
        return _row_checkpoint(row) if row is not None else None

    def _make_checkpoint(
        self, conn: sa.Connection, size: int, root: bytes, last: Checkpoint | None, when: datetime
    ) -> Checkpoint:
        assert self.signing_key is not None
        prev_size = last.tree_size if last else 0
        prev_root = bytes.fromhex(last.root) if last else _EMPTY_ROOT
        at_text = chain.format_at(when)
        msg = chain.checkpoint_message(size, root, prev_size, prev_root, at_text)
        cp = Checkpoint(
            tree_size=size,
            root=root.hex(),
            prev_tree_size=prev_size,
            prev_root=prev_root.hex(),
            at=datetime.fromisoformat(at_text),
            public_key=public_key_hex(self.signing_key),
            signature=self.signing_key.sign(msg).hex(),
        )
        d = cp.to_dict()
        d["at"] = cp.at
        conn.execute(audit_checkpoints.insert(), [d])
        log.info("audit checkpoint at size %d root %s", size, cp.root[:16])
        return cp

    def checkpoint(self) -> Checkpoint | None:
        """Sign a checkpoint over every entry so far (returns the latest one when nothing is new;
        None on an empty chain)."""
        if self.signing_key is None:
            raise LedgerError("no audit signing key configured: cannot sign a checkpoint")
        with self.ledger.write() as conn:
            head = self._lock_head(conn)
            seq = int(head.seq)
            last = self._last_checkpoint(conn)
            if seq == 0:
                return None
            if last is not None and last.tree_size == seq:
                return last
            frontier = _load_frontier(head.frontier, seq)
            return self._make_checkpoint(conn, seq, frontier.root(), last, self.clock())

    # -- reading ----------------------------------------------------------------------------
    def head(self) -> tuple[int, str]:
        """``(seq, hash)`` of the newest entry (``(0, zeros)`` on an empty chain)."""
        with self.ledger.engine.connect() as conn:
            row = conn.execute(audit_head.select().where(audit_head.c.id == 1)).one()
        return int(row.seq), row.hash

    def entry(self, seq: int) -> AuditEntry:
        """One entry by sequence number."""
        with self.ledger.engine.connect() as conn:
            row = conn.execute(audit_entries.select().where(audit_entries.c.seq == seq)).one_or_none()
        if row is None:
            raise LedgerError(f"no audit entry {seq}")
        return _row_entry(row)

    def entries(self, *, kind: str | None = None, since_seq: int = 0, limit: int | None = None) -> list[AuditEntry]:
        """Entries in order, optionally of one kind, after ``since_seq``."""
        q = audit_entries.select().where(audit_entries.c.seq > since_seq).order_by(audit_entries.c.seq)
        if kind is not None:
            q = q.where(audit_entries.c.kind == kind)
        if limit is not None:
            q = q.limit(limit)
        with self.ledger.engine.connect() as conn:
            return [_row_entry(r) for r in conn.execute(q)]

    def checkpoints(self) -> list[Checkpoint]:
        """Every checkpoint, oldest first."""
        with self.ledger.engine.connect() as conn:
            rows = conn.execute(audit_checkpoints.select().order_by(audit_checkpoints.c.tree_size)).all()
        return [_row_checkpoint(r) for r in rows]

    # -- verification -----------------------------------------------------------------------
    def verify(self, *, trusted_key: str | None = None, batch: int = 20000) -> VerifyReport:
        """Recompute the whole chain and every checkpoint; return what was found.

        Checks, in one streaming pass: sequence numbers are 1, 2, 3... without gaps; each entry's
        ``prev_hash`` is the previous entry's hash; each hash recomputes from its fields; each
        checkpoint's root equals the Merkle root recomputed at its size, its signature verifies
        with its public key, that key is ``trusted_key`` (default: this log's signing key, else
        the key of the first checkpoint), and it names the previous checkpoint (so each
        checkpoint extends the last); finally the head row matches the last entry and no
        checkpoint covers entries that are missing (truncation).
        """
        rep = VerifyReport()
        with self.ledger.engine.connect() as conn:
            cps = [
                _row_checkpoint(r)
                for r in conn.execute(audit_checkpoints.select().order_by(audit_checkpoints.c.tree_size))
            ]
            head = conn.execute(audit_head.select().where(audit_head.c.id == 1)).one_or_none()
        if trusted_key is None and self.signing_key is not None:
            trusted_key = public_key_hex(self.signing_key)
        if trusted_key is None and cps:
            trusted_key = cps[0].public_key
        rep.trusted_key = trusted_key
        rep.checkpoints = len(cps)

        def bad(seq: int | None, msg: str) -> None:
            if seq is not None and rep.first_bad_seq is None:
                rep.first_bad_seq = seq
            rep.problems.append(msg)

        # checkpoint chain: signatures, keys, links
        prev_size, prev_root = 0, _EMPTY_ROOT.hex()
        for cp in cps:
            if cp.public_key != trusted_key:
                bad(None, f"checkpoint {cp.tree_size}: signed by untrusted key {cp.public_key[:16]}...")
            if not verify_signature(cp.public_key, cp.signature, cp.message()):
                bad(None, f"checkpoint {cp.tree_size}: signature does not verify")
            if cp.prev_tree_size != prev_size or cp.prev_root != prev_root:
                bad(None, f"checkpoint {cp.tree_size}: does not extend checkpoint {prev_size}")
            prev_size, prev_root = cp.tree_size, cp.root
        cp_at = {cp.tree_size: cp for cp in cps}

        frontier = chain.MerkleFrontier()
        expected = 1
        prev = chain.GENESIS
        entry_hash = chain.entry_hash
        push = frontier.push
        chain_ok = True
        last_cp = 0
        q = audit_entries.select().order_by(audit_entries.c.seq)
        with self.ledger.engine.connect() as conn:
            result = conn.execution_options(stream_results=True, yield_per=batch).execute(q)
            for row in result:
                seq = int(row.seq)
                rep.entries += 1
                if chain_ok:
                    if seq != expected:
                        bad(expected, f"entry {expected}: missing (next entry found is {seq})")
                        chain_ok = False
                    elif row.prev_hash != prev.hex():
                        bad(seq, f"entry {seq}: prev_hash does not match entry {seq - 1}")
                        chain_ok = False
                    else:
                        h = entry_hash(prev, seq, row.kind, chain.format_at(row.at), row.payload)
                        if h.hex() != row.hash:
                            bad(seq, f"entry {seq}: hash does not match its contents")
                            chain_ok = False
                        else:
                            push(h)
                            at_cp = cp_at.get(seq)
                            if at_cp is not None:
                                if frontier.root().hex() != at_cp.root:
                                    bad(
                                        last_cp + 1,
                                        f"checkpoint {seq}: root does not match the entries; "
                                        f"an entry in {last_cp + 1}..{seq} was rewritten",
                                    )
                                    chain_ok = False
                                last_cp = seq
                            prev = h
                            expected = seq + 1
        last_seq = expected - 1
        if chain_ok:
            head_ok = head is not None and int(head.seq) == last_seq and head.hash == prev.hex()
            for cp in cps:
                if cp.tree_size > last_seq:
                    # with an intact-looking head, the tail may have been rewritten since the last
                    # good checkpoint; otherwise the entries after the chain's end are simply missing
                    first = last_cp + 1 if head_ok else last_seq + 1
                    bad(
                        first,
                        f"checkpoint {cp.tree_size} covers entries that are missing "
                        f"(chain ends at {last_seq}): entries after {first - 1} were removed or renumbered",
                    )
                    break
            if head is None:
                bad(None, "audit head row missing")
            else:
                rep.head_seq = int(head.seq)
                if not head_ok:
                    bad(
                        last_seq + 1,
                        f"head says entry {int(head.seq)} but the chain ends at {last_seq}: truncated or forged",
                    )
        return rep

    def verify_or_raise(self, **kw: Any) -> VerifyReport:
        """:meth:`verify`, raising :class:`AuditIntegrityError` naming the first problem."""
        rep = self.verify(**kw)
        if not rep.ok:
            raise AuditIntegrityError(rep.problems[0])
        return rep

    # -- export -----------------------------------------------------------------------------
    def prove_consistency(self, old_size: int, new_size: int | None = None) -> dict[str, Any]:
        """An RFC 6962 consistency proof that checkpoint ``new_size`` (default: the latest) extends
        checkpoint ``old_size``, with both signed checkpoints; check it with
        :func:`verify_consistency_bundle` (e.g. against a root you kept elsewhere)."""
        cps = {c.tree_size: c for c in self.checkpoints()}
        if not cps:
            raise LedgerError("no checkpoints yet")
        new_size = max(cps) if new_size is None else new_size
        if old_size not in cps or new_size not in cps:
            raise LedgerError(f"no checkpoint at size {old_size if old_size not in cps else new_size}")
        if old_size > new_size:
            raise LedgerError("the old checkpoint must not be newer than the new one")
        with self.ledger.engine.connect() as conn:
            hashes = [
                bytes.fromhex(h)
                for (h,) in conn.execute(
                    sa.select(audit_entries.c.hash).where(audit_entries.c.seq <= new_size).order_by(audit_entries.c.seq)
                )
            ]
        if len(hashes) != new_size:
            raise AuditIntegrityError(f"checkpoint {new_size} covers entries that are missing")
        proof = [] if old_size == new_size else chain.consistency_proof(old_size, hashes)
        return {
            "format": "carbontrail-audit-consistency-v1",
            "old": cps[old_size].to_dict(),
            "new": cps[new_size].to_dict(),
            "consistency_proof": [p.hex() for p in proof],
        }

    def export(self, seq: int) -> dict[str, Any]:
        """An entry with its Merkle inclusion proof against the first checkpoint that covers it.

        The bundle verifies on its own with :func:`verify_export`. Raises :class:`LedgerError`
        when no checkpoint covers the entry yet.
        """
        with self.ledger.engine.connect() as conn:
            cp_row = conn.execute(
                audit_checkpoints.select()
                .where(audit_checkpoints.c.tree_size >= seq)
                .order_by(audit_checkpoints.c.tree_size)
                .limit(1)
            ).one_or_none()
            if cp_row is None:
                raise LedgerError(f"no checkpoint covers audit entry {seq} yet: run `carbontrail audit checkpoint`")
            cp = _row_checkpoint(cp_row)
            hashes = [
                bytes.fromhex(h)
                for (h,) in conn.execute(
                    sa.select(audit_entries.c.hash)
                    .where(audit_entries.c.seq <= cp.tree_size)
                    .order_by(audit_entries.c.seq)
                )
            ]
        if len(hashes) != cp.tree_size:
            raise AuditIntegrityError(f"checkpoint {cp.tree_size} covers entries that are missing")
        entry = self.entry(seq)
        proof = chain.inclusion_proof(seq - 1, hashes)
        return {
            "format": "carbontrail-audit-export-v1",
            "entry": entry.to_dict(),
            "checkpoint": cp.to_dict(),
            "inclusion_proof": [p.hex() for p in proof],
        }


def verify_consistency_bundle(
    bundle: dict[str, Any], *, old_root: str | None = None, trusted_key: str | None = None
) -> bool:
    """Verify an :meth:`AuditLog.prove_consistency` bundle standalone: both checkpoints' signatures
    and the RFC 6962 consistency proof (and, when given, that the old root is the one you kept).
    Raises :class:`AuditIntegrityError` saying what failed."""
    try:
        old, new = bundle["old"], bundle["new"]
        for c in (old, new):
            msg = chain.checkpoint_message(
                int(c["tree_size"]),
                bytes.fromhex(c["root"]),
                int(c["prev_tree_size"]),
                bytes.fromhex(c["prev_root"]),
                c["at"],
            )
            if trusted_key is not None and c["public_key"] != trusted_key:
                raise AuditIntegrityError(f"checkpoint {c['tree_size']} signed by an untrusted key")
            if not verify_signature(c["public_key"], c["signature"], msg):
                raise AuditIntegrityError(f"checkpoint {c['tree_size']}: signature does not verify")
        if old_root is not None and old["root"] != old_root:
            raise AuditIntegrityError("the old checkpoint is not the one you kept")
        proof = [bytes.fromhex(p) for p in bundle["consistency_proof"]]
        if not chain.verify_consistency(
            int(old["tree_size"]), int(new["tree_size"]), bytes.fromhex(old["root"]), bytes.fromhex(new["root"]), proof
        ):
            raise AuditIntegrityError(f"checkpoint {new['tree_size']} does not extend checkpoint {old['tree_size']}")
    except (KeyError, TypeError, ValueError) as exc:
        raise AuditIntegrityError(f"malformed consistency bundle: {exc}") from exc
    return True


def verify_export(bundle: dict[str, Any], *, trusted_key: str | None = None) -> bool:
    """Verify an :meth:`AuditLog.export` bundle standalone: the entry hash recomputes from its
    fields, the inclusion proof leads to the checkpoint root, and the checkpoint signature verifies
    (with ``trusted_key`` when given). Raises :class:`AuditIntegrityError` saying what failed."""
    try:
        e = bundle["entry"]
        c = bundle["checkpoint"]
        seq = int(e["seq"])
        h = chain.entry_hash(bytes.fromhex(e["prev_hash"]), seq, e["kind"], e["at"], chain.canonical_json(e["payload"]))
        if h.hex() != e["hash"]:
            raise AuditIntegrityError(f"entry {seq}: hash does not match its contents")
        proof = [bytes.fromhex(p) for p in bundle["inclusion_proof"]]
        if not chain.verify_inclusion(seq - 1, int(c["tree_size"]), h, proof, bytes.fromhex(c["root"])):
            raise AuditIntegrityError(f"entry {seq}: inclusion proof does not lead to checkpoint root")
        msg = chain.checkpoint_message(
            int(c["tree_size"]),
            bytes.fromhex(c["root"]),
            int(c["prev_tree_size"]),
            bytes.fromhex(c["prev_root"]),
            c["at"],
        )
        if trusted_key is not None and c["public_key"] != trusted_key:
            raise AuditIntegrityError("checkpoint signed by an untrusted key")
        if not verify_signature(c["public_key"], c["signature"], msg):
            raise AuditIntegrityError("checkpoint signature does not verify")
    except (KeyError, TypeError, ValueError) as exc:
        raise AuditIntegrityError(f"malformed export bundle: {exc}") from exc
    return True


def _load_frontier(text: str, size: int) -> chain.MerkleFrontier:
    f = chain.MerkleFrontier()
    f.stack = [(int(h), bytes.fromhex(x)) for h, x in json.loads(text)]
    f.size = size
    return f


def _dump_frontier(f: chain.MerkleFrontier) -> str:
    return json.dumps([[h, x.hex()] for h, x in f.stack])


def _row_entry(row: sa.Row[Any]) -> AuditEntry:
    return AuditEntry(int(row.seq), row.kind, row.at, json.loads(row.payload), row.prev_hash, row.hash)


def _row_checkpoint(row: sa.Row[Any]) -> Checkpoint:
    return Checkpoint(
        int(row.tree_size),
        row.root,
        int(row.prev_tree_size),
        row.prev_root,
        row.at,
        row.public_key,
        row.signature,
    )
