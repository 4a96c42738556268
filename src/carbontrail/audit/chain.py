"""Hash-chain and Merkle-tree maths of the audit log (pure: no I/O, no clock).

Entry hash (all hashes SHA-256)::

    entry_hash = H("ct-audit-v1" || prev_hash || seq (8 bytes, big endian)
                   || len(kind) || kind || len(at) || at || len(payload) || payload)

where ``at`` is the entry time as ISO-8601 UTC with microseconds and ``payload`` the canonical JSON
of the entry's payload (sorted keys, no spaces). Lengths are 4-byte big-endian, so no two field
tuples encode to the same bytes. The first entry's ``prev_hash`` is 32 zero bytes.

Checkpoints are roots of an RFC 6962 (Certificate Transparency) Merkle tree over the entry hashes
(leaf = H(0x00 || entry_hash), node = H(0x01 || left || right)), with inclusion proofs
(:func:`inclusion_proof` / :func:`verify_inclusion`) and consistency proofs between two tree sizes
(:func:`consistency_proof` / :func:`verify_consistency`).
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "GENESIS",
    "MerkleFrontier",
    "canonical_json",
    "checkpoint_message",
    "consistency_proof",
    "entry_hash",
    "format_at",
    "inclusion_proof",
    "leaf_hash",
    "merkle_root",
    "node_hash",
    "verify_consistency",
    "verify_inclusion",
]

#: prev_hash of the first entry
GENESIS = b"\x00" * 32
_DOMAIN = b"ct-audit-v1"
_sha256 = hashlib.sha256


def canonical_json(payload: Any) -> str:
    """Canonical JSON text of ``payload`` (sorted keys, no spaces, no NaN)."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), allow_nan=False, default=str)


def format_at(at: datetime) -> str:
    """The hashed form of an entry time: ISO-8601 in UTC with microseconds. Naive times are refused."""
    if at.tzinfo is None:
        raise ValueError(f"naive datetime {at!r}: audit entries need tz-aware UTC times")
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def entry_hash(prev_hash: bytes, seq: int, kind: str, at_text: str, payload_json: str) -> bytes:
    """Hash of one chain entry (see the module docstring)."""
    k = kind.encode()
    a = at_text.encode()
    p = payload_json.encode()
    return _sha256(
        b"".join(
            (
                _DOMAIN,
                prev_hash,
                struct.pack(">QI", seq, len(k)),
                k,
                struct.pack(">I", len(a)),
                a,
                struct.pack(">I", len(p)),
                p,
            )
        )
    ).digest()


def leaf_hash(entry: bytes) -> bytes:
    """RFC 6962 leaf hash of an entry hash."""
    return _sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 6962 interior node hash."""
    return _sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """Largest power of two strictly less than ``n`` (n >= 2)."""
    k = 1
    while k << 1 < n:
        k <<= 1
    return k


def _root_of_leaves(leaves: Sequence[bytes]) -> bytes:
    level = list(leaves)
    # bottom-up pairing reproduces the RFC 6962 shape: an odd last node is promoted unchanged
    while len(level) > 1:
        nxt = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def merkle_root(entry_hashes: Sequence[bytes]) -> bytes:
    """Merkle root over ``entry_hashes`` (SHA-256 of the empty string for an empty tree)."""
    if not entry_hashes:
        return _sha256(b"").digest()
    return _root_of_leaves([leaf_hash(h) for h in entry_hashes])


class MerkleFrontier:
    """Incremental Merkle root: push entry hashes one by one, read the root at any size.

    Keeps one perfect-subtree root per set bit of the size (O(log n) memory, amortised one node
    hash per push), so a verifier streams a million entries without holding them.
    """

    __slots__ = ("size", "stack")

    def __init__(self) -> None:
        self.size = 0
        self.stack: list[tuple[int, bytes]] = []  # (height, subtree root), largest first

    def push(self, entry: bytes) -> None:
        """Append one entry hash."""
        node = leaf_hash(entry)
        height = 0
        stack = self.stack
        while stack and stack[-1][0] == height:
            node = node_hash(stack.pop()[1], node)
            height += 1
        stack.append((height, node))
        self.size += 1

    def root(self) -> bytes:
        """Root of the tree of the entries pushed so far."""
        if not self.stack:
            return _sha256(b"").digest()
        root = self.stack[-1][1]
        for _h, node in reversed(self.stack[:-1]):
            root = node_hash(node, root)
        return root


def inclusion_proof(index: int, leaves_entry_hashes: Sequence[bytes]) -> list[bytes]:
    """Audit path of leaf ``index`` (0-based) in the tree over ``leaves_entry_hashes`` (RFC 6962 2.1.1)."""
    n = len(leaves_entry_hashes)
    if not 0 <= index < n:
        raise ValueError(f"leaf index {index} outside a tree of size {n}")
    leaves = [leaf_hash(h) for h in leaves_entry_hashes]

    def path(m: int, lo: int, hi: int) -> list[bytes]:
        size = hi - lo
        if size == 1:
            return []
        k = _split(size)
        if m < k:
            return [*path(m, lo, lo + k), _root_of_leaves(leaves[lo + k : hi])]
        return [*path(m - k, lo + k, hi), _root_of_leaves(leaves[lo : lo + k])]

    return path(index, 0, n)


def verify_inclusion(index: int, tree_size: int, entry: bytes, proof: Sequence[bytes], root: bytes) -> bool:
    """True when ``proof`` shows the entry hash at ``index`` is in the tree of ``tree_size`` with ``root``
    (RFC 9162 2.1.3.2)."""
    if not 0 <= index < tree_size:
        return False
    fn, sn = index, tree_size - 1
    r = leaf_hash(entry)
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def consistency_proof(old_size: int, entries: Sequence[bytes]) -> list[bytes]:
    """Proof that the tree of the first ``old_size`` entries is a prefix of the tree of all ``entries``
    (RFC 6962 2.1.2)."""
    n = len(entries)
    if not 0 < old_size <= n:
        raise ValueError(f"old size {old_size} not in 1..{n}")
    leaves = [leaf_hash(h) for h in entries]

    def sub(m: int, lo: int, hi: int, complete: bool) -> list[bytes]:
        size = hi - lo
        if m == size:
            return [] if complete else [_root_of_leaves(leaves[lo:hi])]
        k = _split(size)
        if m <= k:
            return [*sub(m, lo, lo + k, complete), _root_of_leaves(leaves[lo + k : hi])]
        return [*sub(m - k, lo + k, hi, False), _root_of_leaves(leaves[lo : lo + k])]

    return sub(old_size, 0, n, True)


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]) -> bool:
    """True when ``proof`` shows the tree (old_size, old_root) is a prefix of (new_size, new_root)
    (RFC 9162 2.1.4.2)."""
    if old_size == new_size:
        return old_root == new_root and not proof
    if not 0 < old_size < new_size or not proof:
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # power of two: the old root is the first node
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root


def checkpoint_message(tree_size: int, root: bytes, prev_tree_size: int, prev_root: bytes, at_text: str) -> bytes:
    """The exact bytes an Ed25519 checkpoint signature covers."""
    return canonical_json(
        {
            "v": "ct-audit-checkpoint-v1",
            "tree_size": tree_size,
            "root": root.hex(),
            "prev_tree_size": prev_tree_size,
            "prev_root": prev_root.hex(),
            "at": at_text,
        }
    ).encode()
