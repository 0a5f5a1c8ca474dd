"""The kill_switches table: a switch is never deleted — lifting it records who and when, so it is also the history."""

from __future__ import annotations

import time
from collections.abc import Callable

from tests.store.backends import reopen
from toolnexus.store.kills import KillTable
from toolnexus.store.sqlite import StateStore, data_version


def test_switches_are_set_lifted_by_scope_and_kept_as_history(store: StateStore) -> None:
    table = KillTable(store)
    tool, new = table.add("tool", "http.fetch", "egress", "ann")
    assert new and tool.active and (tool.scope, tool.target, tool.by) == ("tool", "http.fetch", "ann")
    namespace, _ = table.add("namespace", "http.fetch", "odd but allowed", "ann")
    again, new = table.add("tool", "http.fetch", "other reason", "bob")
    assert not new and again == tool

    [lifted] = table.lift("http.fetch", "carl", scope="tool")
    assert (lifted.id, lifted.active, lifted.lifted_by) == (tool.id, False, "carl") and lifted.lifted_at
    assert [r.id for r in table.active()] == [namespace.id]
    assert table.lift("http.fetch", "carl", scope="tool") == []
    assert [r.id for r in table.history()] == [namespace.id, tool.id]


def test_a_commit_by_another_connection_changes_the_data_version(store: StateStore) -> None:
    reader = store
    writer = reopen(store)
    table = KillTable(writer)
    before = data_version(reader.connection())
    assert data_version(reader.connection()) == before  # nothing committed: the same
    table.add("all", "*", "incident", "ann")
    wait_until(lambda: data_version(reader.connection()) != before)  # (over PostgreSQL: once notified)
    writer.close()


def wait_until(condition: Callable[[], bool], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)
