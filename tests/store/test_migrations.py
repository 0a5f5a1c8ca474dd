"""The schema's Alembic migrations bring a new database, and one of every older version, to exactly the tables
of toolnexus.store.tables — on SQLite (the embedded store) and on a real PostgreSQL server alike."""

from __future__ import annotations

from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from tests.fixtures.postgres import PostgresServer, postgres_server  # noqa: F401 (a fixture pytest registers)
from tests.store.legacy_schema import database_at
from toolnexus.store.schema import SCHEMA_VERSION, revision_of, upgrade
from toolnexus.store.sqlite import StateStore
from toolnexus.store.tables import metadata


def differences(connection: Any, *, legacy: bool = False) -> list[Any]:
    """What the database lacks or has beyond the metadata (tables, columns, types, indexes). ``legacy``: a
    SQLite table made by an older toolnexus declared ``TEXT PRIMARY KEY``, which SQLite leaves nullable (its
    quirk); that alone is not counted."""
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    found = [d for d in compare_metadata(context, metadata) if not _alembic_own(d)]
    return [d for d in found if not (legacy and _nullable_key(d))]


def _nullable_key(difference: Any) -> bool:
    if not (isinstance(difference, list) and len(difference) == 1 and difference[0][0] == "modify_nullable"):
        return False
    _, _, table, column, *_ = difference[0]
    return column in {c.name for c in metadata.tables[table].primary_key.columns}


def _alembic_own(difference: Any) -> bool:
    return isinstance(difference, tuple) and difference[0] == "remove_table" and \
        difference[1].name == "alembic_version"


def sqlite_state(path: Path, *, legacy: bool = False) -> tuple[list[Any], str, int]:
    engine = sa.create_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as connection:
            revision = connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
            version = connection.exec_driver_sql("PRAGMA user_version").scalar()
            return differences(connection, legacy=legacy), str(revision), int(version or 0)
    finally:
        engine.dispose()


def test_a_new_sqlite_database_gets_every_table_of_the_metadata(tmp_path: Path) -> None:
    StateStore(tmp_path / "state.db").close()
    assert sqlite_state(tmp_path / "state.db") == ([], revision_of(SCHEMA_VERSION), SCHEMA_VERSION)


@pytest.mark.parametrize("version", [1, 2, 3, 4])
def test_a_database_of_an_older_toolnexus_is_upgraded_in_place(tmp_path: Path, version: int) -> None:
    path = tmp_path / "state.db"
    with closing(database_at(path, version)) as conn:
        conn.execute("INSERT INTO runs (run_id, mission, status) VALUES ('run-old', 'm', 'succeeded')")
    store = StateStore(path)
    try:
        assert store.get_run("run-old") is not None  # kept
    finally:
        store.close()
    assert sqlite_state(path, legacy=True) == ([], revision_of(SCHEMA_VERSION), SCHEMA_VERSION)


def test_a_database_made_before_the_schema_had_a_version_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with closing(database_at(path, 1)) as conn:
        conn.execute("PRAGMA user_version = 0")  # as the first toolnexus left it: tables, no version
    StateStore(path).close()
    assert sqlite_state(path, legacy=True) == ([], revision_of(SCHEMA_VERSION), SCHEMA_VERSION)


@pytest.mark.slow
def test_the_same_migrations_bring_a_postgresql_database_to_the_same_tables(
        postgres_server: PostgresServer) -> None:  # noqa: F811
    engine = sa.create_engine(postgres_server.url)
    try:
        with engine.begin() as connection:
            for table in [*metadata.sorted_tables, sa.table("alembic_version")]:
                connection.exec_driver_sql(f'DROP TABLE IF EXISTS "{table.name}"')  # (the session's server)
            upgrade(connection)
            upgrade(connection)  # at the head already: nothing to do
        with engine.connect() as connection:
            assert differences(connection) == []
            assert connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == \
                revision_of(SCHEMA_VERSION)
            types = {c["name"]: str(c["type"]) for c in sa.inspect(connection).get_columns("owners")}
    finally:
        engine.dispose()
    assert types["heartbeat"] == "DOUBLE PRECISION"  # seconds since 1970 keep their fractions there


def test_a_version_5_database_loses_the_audit_time_index_and_keeps_its_records(tmp_path: Path) -> None:
    from alembic import command
    from alembic.config import Config

    from toolnexus.store.schema import SCRIPTS

    path = tmp_path / "state.db"
    engine = sa.create_engine(f"sqlite:///{path}")
    try:
        with engine.begin() as connection:  # the database as the toolnexus of schema 5 left it
            config = Config()
            config.set_main_option("script_location", SCRIPTS)
            config.attributes["connection"] = connection
            command.upgrade(config, revision_of(5))
            connection.exec_driver_sql("PRAGMA user_version = 5")
            connection.exec_driver_sql("INSERT INTO audit_records VALUES (1, 'at', 'decision.allow', '{}', 'p', 'h')")
            assert "audit_records_by_time" in {i["name"] for i in sa.inspect(connection).get_indexes("audit_records")}
    finally:
        engine.dispose()
    store = StateStore(path)
    try:
        conn = store.connection()
        assert [tuple(row) for row in conn.execute("SELECT seq, hash FROM audit_records")] == [(1, "h")]
        assert not conn.execute("PRAGMA index_list(audit_records)").fetchall()
    finally:
        store.close()
    assert sqlite_state(path) == ([], revision_of(SCHEMA_VERSION), SCHEMA_VERSION)
