"""The kill_switches table: a switch is never deleted — lifting it records who and when, so it is also the history."""

from __future__ import annotations

from pathlib import Path

from toolnexus.store.kills import KillTable
from toolnexus.store.sqlite import StateStore, data_version


def test_switches_are_set_lifted_by_scope_and_kept_as_history(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.db")
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
    store.close()


def test_a_commit_by_another_connection_changes_the_data_version(tmp_path: Path) -> None:
    reader, writer = StateStore(tmp_path / "state.db"), StateStore(tmp_path / "state.db")
    table = KillTable(writer)
    before = data_version(reader.connection())
    assert data_version(reader.connection()) == before  # nothing committed: the same
    table.add("all", "*", "incident", "ann")
    assert data_version(reader.connection()) != before
    reader.close()
    writer.close()
