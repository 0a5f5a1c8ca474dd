"""The audit chain proves itself: every kind of tampering, done with real SQL on the state.db file, is caught
by ``verify`` with the first bad record named; an untouched log of 10,000 records verifies."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from toolnexus.core.diagnostics import DiagnosticError
from toolnexus.governance.audit import (
    AuditLog,
    canonical,
    checkpoint_message,
    key_id,
    load_private_key,
    record_hash,
)
from toolnexus.governance.audit.chain import at_text
from toolnexus.store import StateStore

EVERY = 5
RECORDS = 23  # checkpoints after 5, 10, 15 and 20


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StateStore]:
    state = StateStore(tmp_path / "state.db")
    yield state
    state.close()


@pytest.fixture
def audit(store: StateStore, key: Ed25519PrivateKey) -> AuditLog:
    log = AuditLog(store, checkpoint_every=EVERY, key=key)
    for i in range(1, RECORDS + 1):
        log.append("decision.allow", {"tool": "files.read", "arguments": {"path": f"in/{i}.txt"}, "n": i})
    return log


def sql(store: StateStore, statement: str, *params: Any) -> None:
    """Tamper with the database file from outside the store, as an intruder would."""
    with sqlite3.connect(store.path) as conn:
        conn.execute(statement, params)


def row(store: StateStore, seq: int) -> tuple[Any, ...]:
    with sqlite3.connect(store.path) as conn:
        return tuple(conn.execute("SELECT seq, at, kind, body, prev, hash FROM audit_records WHERE seq = ?", (seq,))
                     .fetchone())


def first_bad(audit: AuditLog, **kwargs: Any) -> tuple[int, str]:
    result = audit.verify(**kwargs)
    assert not result.ok, result.summary()
    assert result.problem is not None
    return result.problem.seq, result.problem.what


def test_an_untouched_log_verifies_with_its_last_checkpoint_signed(audit: AuditLog, key: Ed25519PrivateKey) -> None:
    result = audit.verify()
    assert result.ok, result.summary()
    assert result.records == RECORDS
    assert result.checkpoint is not None and result.checkpoint.seq == 20
    assert result.checkpoint.key_id == key_id(key.public_key())
    assert result.summary().startswith(f"ok: {RECORDS} records, head {result.head}, last checkpoint at record 20")
    assert "signature verified" in result.summary()


def test_the_record_hash_is_sha256_of_the_canonical_envelope(audit: AuditLog, store: StateStore) -> None:
    seq, at, kind, body, prev, digest = row(store, 7)
    envelope = {"seq": seq, "at": at, "kind": kind, "prev": prev, "body": json.loads(body)}
    assert digest == hashlib.sha256(rfc8785.dumps(envelope)).hexdigest() == record_hash(seq, at, kind, prev, body)
    assert body.encode() == rfc8785.dumps(json.loads(body))  # the body is stored canonical
    assert prev == row(store, 6)[5]


def test_an_edited_body_is_named(audit: AuditLog, store: StateStore) -> None:
    sql(store, "UPDATE audit_records SET body = replace(body, 'in/12.txt', 'in/99.txt') WHERE seq = 12")
    seq, what = first_bad(audit)
    assert seq == 12 and "edited" in what


def test_an_edited_kind_or_time_is_named(audit: AuditLog, store: StateStore) -> None:
    sql(store, "UPDATE audit_records SET kind = 'decision.deny' WHERE seq = 3")
    assert first_bad(audit)[0] == 3


def test_an_edited_hash_is_named(audit: AuditLog, store: StateStore) -> None:
    sql(store, "UPDATE audit_records SET hash = ? WHERE seq = 8", "ab" * 32)
    seq, what = first_bad(audit)
    assert seq == 8 and "edited" in what


def test_a_deleted_middle_record_is_named(audit: AuditLog, store: StateStore) -> None:
    sql(store, "DELETE FROM audit_records WHERE seq = 9")
    seq, what = first_bad(audit)
    assert seq == 9 and "missing" in what


def test_a_deleted_first_record_is_named(audit: AuditLog, store: StateStore) -> None:
    sql(store, "DELETE FROM audit_records WHERE seq = 1")
    assert first_bad(audit)[0] == 1


def test_a_deleted_and_renumbered_record_breaks_the_link(audit: AuditLog, store: StateStore) -> None:
    sql(store, "DELETE FROM audit_records WHERE seq = 9")
    sql(store, "UPDATE audit_records SET seq = seq - 1 WHERE seq > 9")
    seq, what = first_bad(audit)
    assert seq == 9 and "does not follow record 8" in what


def _make_room(store: StateStore, at: int) -> None:
    # Renumber from the end down, so no seq is ever taken twice.
    with sqlite3.connect(store.path) as conn:
        for (seq,) in conn.execute("SELECT seq FROM audit_records WHERE seq >= ? ORDER BY seq DESC", (at,)).fetchall():
            conn.execute("UPDATE audit_records SET seq = seq + 1 WHERE seq = ?", (seq,))


def test_an_inserted_record_is_named(audit: AuditLog, store: StateStore) -> None:
    _make_room(store, 6)
    _, at, _, _, _, _ = row(store, 5)
    sql(store, "INSERT INTO audit_records VALUES (6, ?, 'decision.allow', '{\"tool\":\"shell.run\"}', ?, ?)",
        at, "cd" * 32, "ef" * 32)
    seq, what = first_bad(audit)
    assert seq == 6 and "does not follow record 5" in what


def test_a_well_forged_insertion_breaks_the_link_after_it(audit: AuditLog, store: StateStore) -> None:
    # The intruder links the record properly (anyone can compute a hash): the record after it no longer follows.
    _make_room(store, 6)
    _, at, _, _, _, prev = row(store, 5)
    body = '{"tool":"shell.run"}'
    sql(store, "INSERT INTO audit_records VALUES (6, ?, 'decision.allow', ?, ?, ?)",
        at, body, prev, record_hash(6, at, "decision.allow", prev, body))
    seq, what = first_bad(audit)
    assert seq == 7 and "does not follow record 6" in what


def test_swapped_records_are_named_at_the_first(audit: AuditLog, store: StateStore) -> None:
    with sqlite3.connect(store.path) as conn:  # swap records 4 and 11, seqs kept
        conn.execute("UPDATE audit_records SET seq = -4 WHERE seq = 4")
        conn.execute("UPDATE audit_records SET seq = 4 WHERE seq = 11")
        conn.execute("UPDATE audit_records SET seq = 11 WHERE seq = -4")
    seq, what = first_bad(audit)
    assert seq == 4 and "does not follow record 3" in what


def test_adjacent_records_swapped_are_named(audit: AuditLog, store: StateStore) -> None:
    with sqlite3.connect(store.path) as conn:
        conn.execute("UPDATE audit_records SET seq = -1 WHERE seq = 16")
        conn.execute("UPDATE audit_records SET seq = 16 WHERE seq = 17")
        conn.execute("UPDATE audit_records SET seq = 17 WHERE seq = -1")
    assert first_bad(audit)[0] == 16


def test_a_tail_cut_off_after_a_checkpoint_is_caught(audit: AuditLog, store: StateStore) -> None:
    sql(store, "DELETE FROM audit_records WHERE seq > 17")  # the checkpoint at 20 still counts 20
    seq, what = first_bad(audit)
    assert seq == 18 and "tail was cut off" in what


def test_a_tail_cut_with_its_checkpoints_is_caught_by_an_external_copy_only(audit: AuditLog,
                                                                            store: StateStore) -> None:
    # Records after the last checkpoint are not covered: cutting them goes unseen (documented).
    sql(store, "DELETE FROM audit_records WHERE seq > 20")
    assert audit.verify().ok


def test_a_forged_checkpoint_signature_is_named(audit: AuditLog, store: StateStore) -> None:
    sql(store, "UPDATE audit_checkpoints SET signature = ? WHERE seq = 10", "00" * 64)
    seq, what = first_bad(audit)
    assert seq == 10 and "signature does not verify" in what


def test_a_removed_signature_is_named(audit: AuditLog, store: StateStore) -> None:
    sql(store, "UPDATE audit_checkpoints SET signature = NULL, key_id = NULL WHERE seq = 15")
    seq, what = first_bad(audit)
    assert seq == 15 and "not signed" in what


def test_a_checkpoint_verified_with_another_key_is_refused(audit: AuditLog) -> None:
    other = Ed25519PrivateKey.generate().public_key()
    seq, what = first_bad(audit, public_key=other)
    assert seq == 5 and "not by the given key" in what


def _rewrite_from(store: StateStore, start: int) -> None:
    """Edit record ``start`` and recompute every hash after it: the chain itself is consistent again."""
    with sqlite3.connect(store.path) as conn:
        rows = conn.execute("SELECT seq, at, kind, body, prev FROM audit_records WHERE seq >= ? ORDER BY seq",
                            (start,)).fetchall()
        prev = rows[0][4]
        for seq, at, kind, body, _ in rows:
            if seq == start:
                body = body.replace("in/", "etc/")
            digest = record_hash(seq, at, kind, prev, body)
            conn.execute("UPDATE audit_records SET body = ?, prev = ?, hash = ? WHERE seq = ?",
                         (body, prev, digest, seq))
            prev = digest


def test_a_rewritten_chain_disagrees_with_its_checkpoint(audit: AuditLog, store: StateStore) -> None:
    _rewrite_from(store, 7)
    seq, what = first_bad(audit)
    assert seq == 10 and "checkpoint" in what


def test_a_rewritten_chain_with_rewritten_checkpoints_fails_their_signatures(audit: AuditLog,
                                                                             store: StateStore) -> None:
    _rewrite_from(store, 7)
    with sqlite3.connect(store.path) as conn:
        for seq, at in conn.execute("SELECT seq, at FROM audit_checkpoints WHERE seq >= 10").fetchall():
            head = conn.execute("SELECT hash FROM audit_records WHERE seq = ?", (seq,)).fetchone()[0]
            conn.execute("UPDATE audit_checkpoints SET head = ? WHERE seq = ?", (head, seq))
            assert checkpoint_message(seq, head, at)  # what the intruder cannot sign without the key
    seq, what = first_bad(audit)
    assert seq == 10 and "signature does not verify" in what


def test_without_a_key_signatures_are_reported_unchecked(store: StateStore, audit: AuditLog) -> None:
    unkeyed = AuditLog(store, checkpoint_every=EVERY)
    result = unkeyed.verify()
    assert result.ok and "not checked" in result.summary()


def test_an_untouched_log_of_10000_records_verifies(store: StateStore) -> None:
    log = AuditLog(store, checkpoint_every=1000, key=Ed25519PrivateKey.generate())
    for batch in range(100):
        log.append_many(("decision.allow", {"tool": "eng.noop", "arguments": {"i": batch * 100 + i}}, None)
                        for i in range(100))
    result = log.verify()
    assert result.ok, result.summary()
    assert result.records == 10_000
    assert result.checkpoint is not None and result.checkpoint.seq == 10_000
    assert len(log.rows.checkpoints()) == 10


def test_a_checkpoint_on_demand_covers_the_head_once(store: StateStore) -> None:
    log = AuditLog(store, checkpoint_every=1000)
    assert log.checkpoint() is None  # nothing to cover
    log.append("governance.kill", {"target": "shell.run"})
    first = log.checkpoint()
    assert first is not None and first.seq == 1 and first.signature is None
    assert log.checkpoint() == first
    sql(store, "DELETE FROM audit_records")
    assert first_bad(log)[0] == 1


def test_checkpoints_are_handed_on_once_committed(store: StateStore) -> None:
    seen: list[int] = []
    log = AuditLog(store, checkpoint_every=2, on_checkpoint=lambda c: seen.append(c.seq))
    log.append_many(("decision.allow", {"n": i}, None) for i in range(5))
    assert seen == [2, 4]


def test_a_failing_checkpoint_copy_leaves_the_log_intact(store: StateStore) -> None:
    def broken(_: object) -> None:
        raise OSError("MLflow is down")

    log = AuditLog(store, checkpoint_every=1, on_checkpoint=broken)
    log.append("decision.allow", {"n": 1})
    assert log.verify().ok


def test_the_key_from_settings_is_read_relative_to_the_workspace(tmp_path: Path, store: StateStore) -> None:
    from cryptography.hazmat.primitives import serialization

    private = Ed25519PrivateKey.generate()
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "audit.pem").write_bytes(private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))

    class Settings:
        audit_key = "keys/audit.pem"
        checkpoint_every = 3

    log = AuditLog.from_settings(Settings(), store, tmp_path)
    assert log.key_id == key_id(private.public_key()) and log.checkpoint_every == 3


def test_a_key_file_that_is_missing_or_not_ed25519_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DiagnosticError, match="cannot read the audit key"):
        load_private_key(tmp_path / "nope.pem")
    (tmp_path / "bad.pem").write_text("not a key")
    with pytest.raises(DiagnosticError, match="is not an Ed25519 private key"):
        load_private_key(tmp_path / "bad.pem")


AWKWARD: list[Any] = [
    {"b": 1, "a": [1.5, "x", None, True, False, {"z": -0.0, "y": 1e21, "x": 1e-7, "w": 123.0, "v": 0.1 + 0.2}]},
    {"\U0001f600": 1, "\uffff": 2, "é": "\x01\x7f\u2028\n\t\"\\", "": ""},  # UTF-16 key order; escapes
    {"big": 2**53 - 1, "neg": -(2**53 - 1), "t": ("a", 1), "e": {}, "l": [[], [{}]]},
    {"text": "naïve 日本 \x00\x1f </script>"},
]


@pytest.mark.parametrize("value", AWKWARD)
def test_the_canonical_form_is_the_rfc8785_reference_text(value: Any) -> None:
    assert canonical(value).encode() == rfc8785.dumps(value)


def test_what_json_cannot_hold_is_refused_and_a_lone_surrogate_is_escaped() -> None:
    for bad in ({"x": 2**60}, {1: 2}, {"f": float("nan")}, {"o": object()}):
        with pytest.raises(rfc8785.CanonicalizationError):
            canonical(bad)
    text = canonical({"name": "file-\udc80.txt"})  # an undecodable file name, as os.listdir gives it
    assert text == '{"name":"file-\\udc80.txt"}' and json.loads(text) == {"name": "file-\udc80.txt"}


def test_times_are_recorded_in_utc_with_a_z() -> None:
    from datetime import UTC, datetime, timedelta, timezone

    paris = datetime(2026, 12, 6, 21, 0, 0, 5, tzinfo=timezone(timedelta(hours=1)))
    assert at_text(paris) == "2026-12-06T20:00:00.000005Z"
    assert at_text(datetime(2026, 12, 6, 20, 0)) == "2026-12-06T20:00:00.000000Z"  # naive: taken as UTC
    assert at_text(datetime(2026, 12, 6, 20, 0, 0, 7, tzinfo=UTC)) == "2026-12-06T20:00:00.000007Z"
