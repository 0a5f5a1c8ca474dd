"""The audit tables of the state store: created once whoever opens them, linked rows in, filtered queries out."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from toolnexus.store import StateStore
from toolnexus.store.audit import GENESIS, AuditRow, AuditStore, CheckpointRow, RecordFilter


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StateStore]:
    state = StateStore(tmp_path / "state.db")
    yield state
    state.close()


def _row(seq: int, kind: str = "decision.allow", body: str = '{"tool":"files.read"}', at: str = "") -> AuditRow:
    return AuditRow(seq, at or f"2026-01-01T00:00:{seq:02d}.000000Z", kind, body, f"p{seq}", f"h{seq}")


def test_the_tables_are_made_once_and_a_second_opener_finds_them(store: StateStore) -> None:
    AuditStore(store)
    AuditStore(store)  # IF NOT EXISTS: a second process (or object) opening them changes nothing
    names = {r[0] for r in sqlite3.connect(store.path).execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"audit_records", "audit_checkpoints"} <= names


def test_the_head_of_an_empty_log_is_the_genesis_and_then_the_last_row(store: StateStore) -> None:
    audit = AuditStore(store)
    with store.write() as conn:
        assert AuditStore.head(conn) == (0, GENESIS)
        AuditStore.insert(conn, [_row(1), _row(2)])
        AuditStore.insert_checkpoints(conn, [CheckpointRow(2, "h2", "2026-01-01T00:00:02.000000Z")])
    with store.write() as conn:
        assert AuditStore.head(conn) == (2, "h2")
    assert [r.seq for r in audit.records()] == [1, 2]
    assert [r.seq for r in audit.records(after=1)] == [2]
    assert audit.checkpoints() == [CheckpointRow(2, "h2", "2026-01-01T00:00:02.000000Z")]
    assert audit.count() == 2


def test_a_seq_taken_twice_is_refused(store: StateStore) -> None:
    AuditStore(store)
    with store.write() as conn:
        AuditStore.insert(conn, [_row(1)])
    with pytest.raises(sqlite3.IntegrityError), store.write() as conn:
        AuditStore.insert(conn, [_row(1)])


def test_queries_filter_by_tool_glob_kind_family_time_and_principal(store: StateStore) -> None:
    audit = AuditStore(store)
    with store.write() as conn:
        AuditStore.insert(conn, [
            _row(1, body='{"principal":"alice","tool":"files.read"}'),
            _row(2, "decision.deny", '{"principal":"bob","tool":"files.write"}'),
            _row(3, "governance.kill", '{"principal":"ops","target":"http.fetch"}'),
            _row(4, "decision.allow", '{"principal":"bob","tool":"http.fetch"}'),
            _row(5, "decisions", '{"tool":"x[1]"}'),
        ])

    def seqs(**where: str) -> list[int]:
        return [r.seq for r in audit.query(RecordFilter(**where))]

    assert seqs(tool="files.*") == [1, 2]
    assert seqs(tool="http.fetch") == [3, 4]  # a change's target counts as its tool
    assert seqs(kind="decision") == [1, 2, 4]  # the family, not "decisions"
    assert seqs(kind="decision.deny") == [2]
    assert seqs(principal="bob") == [2, 4]
    assert seqs(since="2026-01-01T00:00:03.000000Z") == [3, 4, 5]
    assert seqs(principal="bob", kind="decision.allow") == [4]
    assert [r.seq for r in audit.query(RecordFilter(), limit=2, newest=True)] == [4, 5]
    assert [r.seq for r in audit.query(RecordFilter(), limit=2)] == [1, 2]


def test_since_finds_every_later_record_even_one_appended_out_of_time_order(store: StateStore) -> None:
    # Records are appended in about `at` order, not exactly (a decision written a moment late, two processes
    # appending at once): with no index on `at`, `since` still finds them all, in seq order.
    with store.write() as conn:
        AuditStore.insert(conn, [_row(1, at="2026-01-01T00:00:05.000000Z"), _row(2, at="2026-01-01T00:00:01.000000Z"),
                                 _row(3, at="2026-01-01T00:00:09.000000Z"), _row(4, at="2026-01-01T00:00:04.000000Z")])
    found = AuditStore(store).query(RecordFilter(since="2026-01-01T00:00:04.000000Z"))
    assert [r.seq for r in found] == [1, 3, 4]


def test_the_audit_records_have_no_index_on_time(store: StateStore) -> None:
    # Each record's commit would write the index's page too (schema version 6 dropped it).
    indexes = {row[1] for row in store.connection().execute("PRAGMA index_list(audit_records)")}
    assert "audit_records_by_time" not in indexes
