"""The store's versioned schema: every table, the governance ones included, comes from the migrations, and a
database of an older toolnexus is upgraded in place with nothing lost."""

from __future__ import annotations

from contextlib import closing
from pathlib import Path

from tests.store.legacy_schema import MIGRATIONS, database_at
from toolnexus.store.schema import SCHEMA_VERSION
from toolnexus.store.sqlite import StateStore

GOVERNANCE_TABLES = {"approvals", "kill_switches", "audit_records", "audit_checkpoints"}


def _tables(store: StateStore) -> set[str]:
    rows = store.connection().execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    return {row[0] for row in rows}


def test_a_new_store_has_every_table_at_the_latest_version(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.db")
    try:
        assert GOVERNANCE_TABLES | {"runs", "steps", "calls", "cache", "owners"} <= _tables(store)
        assert store.connection().execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    finally:
        store.close()


def test_a_version_3_database_without_governance_tables_gains_them(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with closing(database_at(path, 3)) as conn:
        assert not GOVERNANCE_TABLES & {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    store = StateStore(path)
    try:
        assert _tables(store) >= GOVERNANCE_TABLES
    finally:
        store.close()


def test_governance_rows_made_before_the_tables_were_versioned_are_kept(tmp_path: Path) -> None:
    # Before version 4 each governance module made its table on first use, so a version-3 database may hold them.
    path = tmp_path / "state.db"
    with closing(database_at(path, 3)) as conn:
        for statement in MIGRATIONS[4]:
            conn.execute(statement)
        conn.execute("INSERT INTO kill_switches (scope, target, reason, at)"
                     " VALUES ('tool', 'files.write', 'leak', 1.0)")
        conn.execute("INSERT INTO audit_records (seq, at, kind, body, prev, hash) VALUES (1, 't', 'k', '{}', 'p', 'h')")
    store = StateStore(path)
    try:
        conn = store.connection()
        kills = conn.execute("SELECT target, reason FROM kill_switches")
        assert [tuple(row) for row in kills] == [("files.write", "leak")]
        assert [tuple(row) for row in conn.execute("SELECT seq, hash FROM audit_records")] == [(1, "h")]
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    finally:
        store.close()
