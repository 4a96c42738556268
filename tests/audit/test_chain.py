"""Merkle and hash-chain maths against the RFC 6962 definitions."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carbontrail.audit import chain


def _h(i: int) -> bytes:
    return hashlib.sha256(str(i).encode()).digest()


def _rfc_mth(leaves: list[bytes]) -> bytes:
    """MTH straight from RFC 6962 section 2.1 (recursive split at the largest power of two < n)."""
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1
    while k * 2 < n:
        k *= 2
    return hashlib.sha256(b"\x01" + _rfc_mth(leaves[:k]) + _rfc_mth(leaves[k:])).digest()


@given(st.integers(min_value=0, max_value=70))
def test_root_and_frontier_match_rfc_definition(n):
    hs = [_h(i) for i in range(n)]
    f = chain.MerkleFrontier()
    for h in hs:
        f.push(h)
    assert chain.merkle_root(hs) == _rfc_mth(hs) == f.root()


@settings(max_examples=60)
@given(st.integers(min_value=1, max_value=40), st.data())
def test_inclusion_proofs_verify_and_reject_wrong_leaf(n, data):
    hs = [_h(i) for i in range(n)]
    root = chain.merkle_root(hs)
    i = data.draw(st.integers(min_value=0, max_value=n - 1))
    proof = chain.inclusion_proof(i, hs)
    assert chain.verify_inclusion(i, n, hs[i], proof, root)
    assert not chain.verify_inclusion(i, n, _h(10_000), proof, root)
    if n > 1:
        j = (i + 1) % n
        assert not chain.verify_inclusion(j, n, hs[i], proof, root)


@settings(max_examples=60)
@given(st.integers(min_value=1, max_value=40), st.data())
def test_consistency_proofs(n, data):
    hs = [_h(i) for i in range(n)]
    m = data.draw(st.integers(min_value=1, max_value=n))
    proof = chain.consistency_proof(m, hs)
    old, new = chain.merkle_root(hs[:m]), chain.merkle_root(hs)
    assert chain.verify_consistency(m, n, old, new, proof)
    if m < n:
        forged = chain.merkle_root([*hs[: m - 1], _h(99_999)])
        assert not chain.verify_consistency(m, n, forged, new, proof)


def test_entry_hash_binds_every_field():
    base = dict(
        prev_hash=chain.GENESIS,
        seq=1,
        kind="note",
        at_text="2026-01-01T00:00:00.000000+00:00",
        payload_json='{"a":1}',
    )
    h = chain.entry_hash(**base)
    for key, val in [
        ("prev_hash", b"\x01" * 32),
        ("seq", 2),
        ("kind", "notf"),
        ("at_text", "2026-01-01T00:00:00.000001+00:00"),
        ("payload_json", '{"a":2}'),
    ]:
        assert chain.entry_hash(**{**base, key: val}) != h
    # field boundaries are length-prefixed: moving a character between fields changes the hash
    assert chain.entry_hash(chain.GENESIS, 1, "ab", "c", "{}") != chain.entry_hash(chain.GENESIS, 1, "a", "bc", "{}")


def test_format_at_is_utc_and_refuses_naive():
    cet = timezone(timedelta(hours=1))
    assert chain.format_at(datetime(2026, 1, 1, 1, 0, tzinfo=cet)) == "2026-01-01T00:00:00.000000+00:00"
    assert chain.format_at(datetime(2026, 1, 1, tzinfo=UTC)).endswith("+00:00")
    with pytest.raises(ValueError):
        chain.format_at(datetime(2026, 1, 1))


def test_canonical_json_refuses_nan():
    with pytest.raises(ValueError):
        chain.canonical_json({"x": float("nan")})
    assert chain.canonical_json({"b": 1, "a": [1.5]}) == '{"a":[1.5],"b":1}'
