"""The audit log on both backends: append, checkpoint, verify, export, concurrent writers, tampering."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import shutil
import stat
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carbontrail.audit import AuditLog, chain, load_or_create_key, public_key_hex, verify_export
from carbontrail.audit.tables import audit_checkpoints, audit_entries, audit_head
from carbontrail.errors import AuditIntegrityError, ConfigError, LedgerError
from carbontrail.ledger import Ledger

KEY = Ed25519PrivateKey.generate()
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _clock():
    t = [T0]

    def now() -> datetime:
        t[0] += timedelta(seconds=1)
        return t[0]

    return now


def _fill(log: AuditLog, n: int) -> None:
    log.append_many([("decision", {"i": i, "outcome": "veto" if i % 3 else "allow"}) for i in range(n)])


def test_append_verify_export_roundtrip(ledger):
    log = AuditLog(ledger, signing_key=KEY, checkpoint_every=4, clock=_clock())
    first = log.append("policy-activation", {"policy": "p", "digest": "ab" * 32})
    assert first.seq == 1 and first.prev_hash == "0" * 64
    for i in range(9):
        log.append("approval", {"i": i})
    assert log.head()[0] == 10
    assert [c.tree_size for c in log.checkpoints()] == [4, 8]
    cp = log.checkpoint()
    assert cp is not None and cp.tree_size == 10
    assert log.checkpoint() == cp  # nothing new: same checkpoint
    rep = log.verify()
    assert rep.ok, rep.problems
    assert (rep.entries, rep.checkpoints, rep.head_seq) == (10, 3, 10)
    for seq in (1, 5, 8, 10):
        bundle = log.export(seq)
        assert verify_export(json.loads(json.dumps(bundle)), trusted_key=public_key_hex(KEY))
    assert log.export(5)["checkpoint"]["tree_size"] == 8
    assert [e.seq for e in log.entries(kind="approval", limit=3)] == [2, 3, 4]


def test_export_tampered_bundle_is_refused(ledger):
    log = AuditLog(ledger, signing_key=KEY, checkpoint_every=0, clock=_clock())
    _fill(log, 5)
    with pytest.raises(LedgerError, match="no checkpoint"):
        log.export(2)
    log.checkpoint()
    b = log.export(2)
    bad = json.loads(json.dumps(b))
    bad["entry"]["payload"]["outcome"] = "allow!"
    with pytest.raises(AuditIntegrityError, match="hash"):
        verify_export(bad)
    bad = json.loads(json.dumps(b))
    bad["inclusion_proof"][0] = "00" * 32
    with pytest.raises(AuditIntegrityError, match="inclusion"):
        verify_export(bad)
    with pytest.raises(AuditIntegrityError, match="untrusted"):
        verify_export(b, trusted_key=public_key_hex(Ed25519PrivateKey.generate()))
    with pytest.raises(AuditIntegrityError, match="malformed"):
        verify_export({"entry": {}})


def test_bad_input_is_refused_and_loses_nothing(ledger):
    log = AuditLog(ledger, clock=_clock())
    log.append("note", {"ok": True})
    with pytest.raises(ValueError):
        log.append_many([("note", {"a": 1}), ("note", {"x": float("nan")})])
    with pytest.raises(ValueError):
        log.append("Bad Kind", {})
    with pytest.raises(ValueError):
        log.append("note", {"t": 1}, at=datetime(2026, 1, 1))
    assert log.head()[0] == 1
    assert log.verify().ok
    with pytest.raises(LedgerError, match="signing key"):
        log.checkpoint()


def _worker(url: str, n: int) -> None:
    led = Ledger.open(url, upgrade=False)
    log = AuditLog(led, signing_key=KEY, checkpoint_every=7)
    for i in range(n):
        if i % 5 == 0:
            log.append_many([("span-batch", {"pid": os.getpid(), "i": i, "j": j}) for j in range(3)])
        else:
            log.append("decision", {"pid": os.getpid(), "i": i})
    led.close()


def test_concurrent_writer_processes_never_fork_the_chain(ledger):
    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=_worker, args=(ledger.url, 25)) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    log = AuditLog(ledger, signing_key=KEY)
    rep = log.verify()
    assert rep.ok, rep.problems
    assert rep.entries == 3 * (20 + 5 * 3)
    sizes = [c.tree_size for c in log.checkpoints()]
    assert sizes == sorted(sizes) and len(set(sizes)) == len(sizes)


def test_signing_key_file_is_private(tmp_path):
    p = tmp_path / "home" / "audit_ed25519.pem"
    k = load_or_create_key(p)
    assert stat.S_IMODE(p.stat().st_mode) == 0o600
    assert public_key_hex(load_or_create_key(p)) == public_key_hex(k)
    p.chmod(0o644)
    with pytest.raises(ConfigError, match="0600"):
        load_or_create_key(p)
    with pytest.raises(ConfigError):
        load_or_create_key(tmp_path / "missing.pem", create=False)


# -- tampering --------------------------------------------------------------------------------
N = 12


def _rehash_from(conn: sa.Connection, start: int) -> None:
    """What a capable attacker does after editing: recompute every later hash and the head row."""
    rows = conn.execute(audit_entries.select().order_by(audit_entries.c.seq)).all()
    prev = chain.GENESIS
    f = chain.MerkleFrontier()
    for r in rows:
        if r.seq >= start:
            h = chain.entry_hash(prev, r.seq, r.kind, chain.format_at(r.at), r.payload)
            conn.execute(
                audit_entries.update().where(audit_entries.c.seq == r.seq).values(prev_hash=prev.hex(), hash=h.hex())
            )
        else:
            h = bytes.fromhex(r.hash)
        f.push(h)
        prev = h
    conn.execute(
        audit_head.update().values(
            seq=rows[-1].seq if rows else 0,
            hash=prev.hex(),
            frontier=json.dumps([[a, b.hex()] for a, b in f.stack]),
        )
    )


def tamper(conn: sa.Connection, how: str, i: int, j: int, rehash: bool) -> None:
    e = audit_entries
    if how == "edit":
        conn.execute(e.update().where(e.c.seq == i).values(payload='{"i":-1,"outcome":"allow"}'))
    elif how == "edit-kind":
        conn.execute(e.update().where(e.c.seq == i).values(kind="approval"))
    elif how == "edit-time":
        conn.execute(e.update().where(e.c.seq == i).values(at=T0 - timedelta(days=1)))
    elif how == "delete":
        conn.execute(e.delete().where(e.c.seq == i))
        if rehash:  # close the gap
            for s in range(i + 1, N + 1):
                conn.execute(e.update().where(e.c.seq == s).values(seq=s - 1))
    elif how == "insert":
        for s in range(N, i - 1, -1):
            conn.execute(e.update().where(e.c.seq == s).values(seq=s + 1))
        prev = conn.execute(sa.select(e.c.hash).where(e.c.seq == i - 1)).scalar() or "0" * 64
        at = T0 + timedelta(seconds=1)
        payload = '{"forged":true}'
        h = chain.entry_hash(bytes.fromhex(prev), i, "approval", chain.format_at(at), payload).hex()
        conn.execute(e.insert().values(seq=i, kind="approval", at=at, payload=payload, prev_hash=prev, hash=h))
    elif how == "reorder":
        a = conn.execute(e.select().where(e.c.seq == i)).one()
        b = conn.execute(e.select().where(e.c.seq == j)).one()
        if a.payload == b.payload and a.kind == b.kind:
            conn.execute(e.update().where(e.c.seq == i).values(payload='{"swapped":1}'))
        else:
            conn.execute(e.update().where(e.c.seq == i).values(kind=b.kind, payload=b.payload, at=b.at))
            conn.execute(e.update().where(e.c.seq == j).values(kind=a.kind, payload=a.payload, at=a.at))
    elif how == "truncate":
        conn.execute(e.delete().where(e.c.seq >= i))
    if rehash:
        _rehash_from(conn, 1)


@pytest.fixture(scope="module")
def base_db(tmp_path_factory):
    """A chain of N entries with checkpoints at 4, 8 and 12, built once and copied per example."""
    d = tmp_path_factory.mktemp("audit")
    url = f"sqlite:///{d / 'base.db'}"
    led = Ledger.open(url)
    log = AuditLog(led, signing_key=KEY, checkpoint_every=4, clock=_clock())
    for k in range(N):
        log.append("decision", {"i": k, "outcome": "veto" if k % 3 else "allow"})
    assert [c.tree_size for c in log.checkpoints()] == [4, 8, 12]
    led.close()
    return d / "base.db"


def _copy(base, tmp_path_factory) -> Ledger:
    d = tmp_path_factory.mktemp("t")
    shutil.copy(base, d / "l.db")
    return Ledger.open(f"sqlite:///{d / 'l.db'}", upgrade=False)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    how=st.sampled_from(["edit", "edit-kind", "edit-time", "delete", "insert", "reorder", "truncate"]),
    i=st.integers(min_value=1, max_value=N),
    gap=st.integers(min_value=1, max_value=N - 1),
    rehash=st.booleans(),
)
def test_every_kind_of_tampering_is_detected(base_db, tmp_path_factory, how, i, gap, rehash):
    j = min(N, i + gap)
    if how == "reorder" and i == j:
        i = j - 1
    led = _copy(base_db, tmp_path_factory)
    try:
        with led.write() as conn:
            tamper(conn, how, i, j, rehash)
        rep = AuditLog(led, signing_key=KEY).verify()
        assert not rep.ok, (how, i, j, rehash)
        if not rehash and how == "insert":
            # a well-linked forged entry shows where the chain breaks right after it, or where the
            # checkpoint that covers it stops matching (the range since the previous checkpoint)
            assert rep.first_bad_seq is not None and rep.first_bad_seq <= i + 1, (how, i, rep.problems)
        elif not rehash and how != "truncate":
            # a naive edit is pinned to the first entry touched
            assert rep.first_bad_seq == i, (how, i, rep.problems)
        assert rep.first_bad_seq is not None and rep.first_bad_seq <= i + 1
    finally:
        led.close()


@pytest.mark.parametrize("forgery", ["other-key", "bad-signature", "moved-root", "broken-link", "dropped"])
def test_forged_checkpoints_are_detected(base_db, tmp_path_factory, forgery):
    led = _copy(base_db, tmp_path_factory)
    c = audit_checkpoints
    other = Ed25519PrivateKey.generate()
    with led.write() as conn:
        cp = conn.execute(c.select().where(c.c.tree_size == 8)).one()
        if forgery == "other-key":
            msg = chain.checkpoint_message(
                8, bytes.fromhex(cp.root), 4, bytes.fromhex(cp.prev_root), chain.format_at(cp.at)
            )
            conn.execute(
                c.update()
                .where(c.c.tree_size == 8)
                .values(public_key=public_key_hex(other), signature=other.sign(msg).hex())
            )
        elif forgery == "bad-signature":
            sig = bytearray(bytes.fromhex(cp.signature))
            sig[0] ^= 1
            conn.execute(c.update().where(c.c.tree_size == 8).values(signature=sig.hex()))
        elif forgery == "moved-root":  # re-signed by the real key over a root that is not the entries'
            root = chain.merkle_root([b"\x00" * 32] * 8)
            msg = chain.checkpoint_message(8, root, 4, bytes.fromhex(cp.prev_root), chain.format_at(cp.at))
            conn.execute(c.update().where(c.c.tree_size == 8).values(root=root.hex(), signature=KEY.sign(msg).hex()))
        elif forgery == "broken-link":
            msg = chain.checkpoint_message(8, bytes.fromhex(cp.root), 0, chain.merkle_root([]), chain.format_at(cp.at))
            conn.execute(
                c.update()
                .where(c.c.tree_size == 8)
                .values(prev_tree_size=0, prev_root=chain.merkle_root([]).hex(), signature=KEY.sign(msg).hex())
            )
        elif forgery == "dropped":
            conn.execute(c.delete().where(c.c.tree_size == 4))
    rep = AuditLog(led, signing_key=KEY).verify()
    led.close()
    assert not rep.ok
    assert any("checkpoint" in p for p in rep.problems)


@pytest.mark.parametrize("how", ["edit", "truncate"])
def test_tampering_detected_on_both_backends(ledger, how):
    log = AuditLog(ledger, signing_key=KEY, checkpoint_every=4, clock=_clock())
    for k in range(N):
        log.append("decision", {"i": k})
    with ledger.write() as conn:
        tamper(conn, how, 6, 7, rehash=True)
    rep = log.verify()
    assert not rep.ok
    with pytest.raises(AuditIntegrityError):
        log.verify_or_raise()


def test_span_batches_and_factor_snapshots_are_recorded(ledger):
    from carbontrail.provenance import ComponentEnergy
    from carbontrail.span import SpanRecord

    recs = [
        SpanRecord(
            span_id=f"{i:032x}",
            run_id="r",
            name="s",
            kind="train",
            started_at=T0,
            ended_at=T0,
            duration_s=1.0,
            energy_j=10.0 * i,
            components=[ComponentEnergy("cpu", 10.0 * i, "rapl", 0.05)],
            buckets=[],
        ).with_emissions(0.5 * i, 100.0, {"zone": "FR"})
        for i in range(1, 4)
    ]
    log = AuditLog(ledger, clock=_clock())
    e = log.append_span_batch(recs)
    assert e.kind == "span-batch" and e.payload["energy_j"] == 60.0 and e.payload["emissions_g"] == 3.0
    assert len(e.payload["span_ids"]) == 3 and len(e.payload["records_digest"]) == 64
    f = log.append_factor_snapshot(
        {"snapshot_id": "s1", "zone": "FR", "source": "static-factors", "vintage": "2023", "data": {"value": 56.0}}
    )
    assert f.payload["zone"] == "FR" and f.payload["data_digest"]
    assert log.verify().ok


def _endless_writer(url: str) -> None:
    led = Ledger.open(url, upgrade=False)
    log = AuditLog(led, signing_key=KEY, checkpoint_every=50)
    i = 0
    while True:
        log.append_many([("span-batch", {"i": i, "j": j}) for j in range(20)])
        i += 1


def test_a_writer_killed_mid_append_leaves_a_chain_that_verifies(ledger):
    import signal
    import time

    ctx = mp.get_context("fork")
    p = ctx.Process(target=_endless_writer, args=(ledger.url,))
    p.start()
    log = AuditLog(ledger, signing_key=KEY)
    deadline = time.monotonic() + 60
    while log.head()[0] < 200 and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(p.pid, signal.SIGKILL)
    p.join(30)
    rep = log.verify()
    assert rep.ok, rep.problems
    assert rep.entries % 20 == 0 and rep.entries >= 200  # whole batches only
    log.append("note", {"after": "kill"})  # the chain goes on
    assert log.verify().ok


def test_consistency_proofs_between_checkpoints(ledger):
    from carbontrail.audit import verify_consistency_bundle

    log = AuditLog(ledger, signing_key=KEY, checkpoint_every=3, clock=_clock())
    for k in range(10):
        log.append("note", {"k": k})
    sizes = [c.tree_size for c in log.checkpoints()]
    assert sizes == [3, 6, 9]
    kept_root = log.checkpoints()[0].root  # what an auditor kept from an earlier visit
    b = log.prove_consistency(3)
    assert b["new"]["tree_size"] == 9
    assert verify_consistency_bundle(json.loads(json.dumps(b)), old_root=kept_root, trusted_key=public_key_hex(KEY))
    with pytest.raises(AuditIntegrityError, match="kept"):
        verify_consistency_bundle(b, old_root="00" * 32)
    bad = json.loads(json.dumps(b))
    bad["consistency_proof"][0] = "11" * 32
    with pytest.raises(AuditIntegrityError, match="extend"):
        verify_consistency_bundle(bad)
    assert verify_consistency_bundle(log.prove_consistency(6, 6))
    with pytest.raises(LedgerError):
        log.prove_consistency(4)
