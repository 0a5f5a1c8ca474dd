"""The approvals table (on both backends): records round-trip, tickets are found by prefix or tail, a decision is
made once (the first process wins), single-use grants are used once, and a change committed by another
process is seen by a watcher."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import pytest

from tests.store.backends import opener
from toolnexus.store.approvals import ApprovalRecord, ApprovalsTable
from toolnexus.store.sqlite import StateStore


@pytest.fixture
def table(store: StateStore) -> ApprovalsTable:
    return ApprovalsTable(store)


def _record(ticket: str, **fields: object) -> ApprovalRecord:
    values: dict[str, object] = {"tool": "files.write", "digest": "d" * 64, "requested_at": 100.0,
                                 "deadline": 200.0, **fields}
    return ApprovalRecord(ticket=ticket, **values)  # type: ignore[arg-type]


def test_a_record_round_trips_with_its_json_and_flags(table: ApprovalsTable) -> None:
    record = _record("apr-1", arguments={"path": "out/x", "api_token": "***"}, four_eyes=True,
                     approvers=["alice"], channels=["cli", "rest"], rule="writes", principal="bob")
    table.add(record)
    assert table.get("apr-1") == record
    assert table.get("apr-2") is None


def test_tickets_are_found_by_id_prefix_or_tail_literally(table: ApprovalsTable) -> None:
    table.add(_record("apr-19a-aaa111"))
    table.add(_record("apr-19a-bbb222", requested_at=101.0))
    assert [r.ticket for r in table.matching("apr-19a-aaa111")] == ["apr-19a-aaa111"]
    assert [r.ticket for r in table.matching("bbb222")] == ["apr-19a-bbb222"]
    assert [r.ticket for r in table.matching("apr-19a")] == ["apr-19a-bbb222", "apr-19a-aaa111"]  # ambiguous
    assert table.matching("apr_19a") == [] and table.matching("%") == []


def test_a_ticket_is_decided_once(table: ApprovalsTable) -> None:
    table.add(_record("apr-1"))
    granted = table.settle("apr-1", "granted", decided_by="alice", decided_at=150.0, channel="cli", scope="pattern",
                           pattern={"path": "out/*"}, uses_left=None)
    assert granted is not None and (granted.status, granted.pattern) == ("granted", {"path": "out/*"})
    assert table.settle("apr-1", "denied", decided_by="bob", decided_at=151.0) is None
    assert table.get("apr-1") == granted


def test_a_single_use_grant_is_used_once(table: ApprovalsTable) -> None:
    table.add(_record("apr-1"))
    table.settle("apr-1", "granted", decided_by="alice", decided_at=150.0, scope="call", uses_left=1)
    assert table.grants_for("files.write", now=160.0)
    assert table.consume("apr-1") and not table.consume("apr-1")
    assert table.grants_for("files.write", now=160.0) == []


def test_live_grants_exclude_ended_ones_and_open_tickets(table: ApprovalsTable) -> None:
    table.add(_record("apr-open"))
    table.add(_record("apr-ends"))
    table.settle("apr-ends", "granted", decided_by="alice", decided_at=150.0, scope="run", grant_until=170.0)
    assert [g.ticket for g in table.grants_for("files.write", now=160.0)] == ["apr-ends"]
    assert table.grants_for("files.write", now=170.0) == []
    assert table.grants_for("files.read", now=160.0) == []


def test_overdue_tickets_are_the_open_ones_past_their_deadline(table: ApprovalsTable) -> None:
    table.add(_record("apr-late", deadline=150.0))
    table.add(_record("apr-fine", deadline=250.0))
    table.add(_record("apr-done", deadline=150.0))
    table.settle("apr-done", "denied", decided_by="alice", decided_at=120.0, decision_reason="no")
    assert [r.ticket for r in table.overdue(now=200.0)] == ["apr-late"]
    assert [r.ticket for r in table.recent("denied")] == ["apr-done"]


def test_a_watcher_sees_commits_of_this_process_and_of_another(table: ApprovalsTable) -> None:
    with table.watch() as watch:
        assert watch.changed()  # the first look
        assert not watch.changed()
        table.add(_record("apr-here"))  # this process's store: another connection
        assert watch.changed()
        script = opener(table.store) + textwrap.dedent("""
            from toolnexus.store.approvals import ApprovalsTable
            table = ApprovalsTable(store)
            table.settle("apr-here", "granted", decided_by="elsewhere", decided_at=1.0)
            store.close()
        """)
        subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
        deadline = time.monotonic() + 10  # (a PostgreSQL store hears of it by notification, a moment later)
        while not watch.changed():
            assert time.monotonic() < deadline, "the other process's commit was never seen"
            time.sleep(0.005)
        record = table.get("apr-here", watch.conn)
        assert record is not None and record.decided_by == "elsewhere"


def test_a_decision_names_only_columns_of_the_table(table: ApprovalsTable) -> None:
    table.add(_record("apr-1"))
    with pytest.raises(ValueError, match="no such approvals column: approved_by"):
        table.settle("apr-1", "granted", approved_by="alice")
    assert table.get("apr-1") == _record("apr-1")
