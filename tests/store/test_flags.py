"""The flags table: one row a flag (its definition as JSON, who set it, when); setting replaces, unsetting deletes;
a database of an older toolnexus gains the table (migration 5) with nothing else lost."""

from __future__ import annotations

from contextlib import closing
from pathlib import Path

from tests.store.legacy_schema import database_at
from toolnexus.store.flags import FlagTable
from toolnexus.store.schema import SCHEMA_VERSION
from toolnexus.store.sqlite import StateStore, data_version


def test_flags_are_set_replaced_listed_and_unset(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.db")
    table = FlagTable(store)
    row, previous = table.set("new-search", {"default": True}, "ann")
    assert previous is None
    assert (row.name, row.value, row.by) == ("new-search", {"default": True}, "ann") and row.at > 0
    table.set("beta", {"default": False, "rules": [{"tenants": ["acme"], "value": True}]}, "ann")

    replaced, previous = table.set("new-search", {"default": False}, "bob")
    assert previous is not None and previous.value == {"default": True} and previous.by == "ann"
    assert (replaced.value, replaced.by) == ({"default": False}, "bob")
    assert [r.name for r in table.list()] == ["beta", "new-search"]
    got = table.get("new-search")
    assert got is not None and got.value == {"default": False}

    removed = table.unset("new-search")
    assert removed is not None and removed.value == {"default": False}
    assert table.unset("new-search") is None and table.get("new-search") is None
    assert [r.name for r in table.list()] == ["beta"]
    store.close()


def test_a_row_that_is_not_a_json_object_reads_as_an_empty_definition(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.db")
    with store.write() as conn:
        conn.execute("INSERT INTO flags (name, value, by, at) VALUES ('odd', 'not json', NULL, 1.0)")
        conn.execute("INSERT INTO flags (name, value, by, at) VALUES ('list', '[1, 2]', NULL, 1.0)")
    assert [(r.name, r.value) for r in FlagTable(store).list()] == [("list", {}), ("odd", {})]
    store.close()


def test_setting_a_flag_changes_the_data_version_another_connection_sees(tmp_path: Path) -> None:
    reader, writer = StateStore(tmp_path / "state.db"), StateStore(tmp_path / "state.db")
    before = data_version(reader.connection())
    FlagTable(writer).set("beta", {"default": True}, "ann")
    assert data_version(reader.connection()) != before
    reader.close()
    writer.close()


def test_a_version_4_database_gains_the_flags_table_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with closing(database_at(path, 4)) as conn:
        conn.execute("INSERT INTO kill_switches (scope, target, reason, at)"
                     " VALUES ('tool', 'files.write', 'leak', 1.0)")
    store = StateStore(path)
    try:
        conn = store.connection()
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION >= 5
        assert [tuple(r) for r in conn.execute("SELECT target FROM kill_switches")] == [("files.write",)]
        assert FlagTable(store).list() == []
    finally:
        store.close()
