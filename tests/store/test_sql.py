"""The store's SQL that both databases take: an upsert leaves the row given (as INSERT OR REPLACE did on SQLite)
and a LIKE pattern matches a prefix literally — on SQLite and on a real PostgreSQL server alike."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import closing
from typing import Any

import psycopg
import pytest

from tests.fixtures.postgres import PostgresServer, postgres_server  # noqa: F401 (a fixture pytest registers)
from toolnexus.store.sql import like_literal, upsert

Run = Callable[[str, tuple[Any, ...]], list[tuple[Any, ...]]]
UPSERT = upsert("probe", ("k", "a", "b"), ("k",))


def exercise(run: Run) -> None:
    run("CREATE TABLE probe (k TEXT PRIMARY KEY, a TEXT, b TEXT)", ())
    run(UPSERT, ("x_1%", "first", "one"))
    run(UPSERT, ("x_1%", "second", None))  # the same key: the row becomes the one given
    run(UPSERT, ("xa1b", "other", "two"))
    assert run("SELECT k, a, b FROM probe ORDER BY k", ()) == [("x_1%", "second", None), ("xa1b", "other", "two")]
    prefix = like_literal("x_1") + "%"  # `_` must not match the `a` of xa1b
    assert run("SELECT k FROM probe WHERE k LIKE ? ESCAPE '\\'", (prefix,)) == [("x_1%",)]


def test_an_upsert_and_a_literal_prefix_on_sqlite(tmp_path: Any) -> None:
    with closing(sqlite3.connect(tmp_path / "probe.db", isolation_level=None)) as conn:
        exercise(lambda sql, params: [tuple(row) for row in conn.execute(sql, params).fetchall()])


@pytest.mark.slow
def test_the_same_sql_on_postgresql(postgres_server: PostgresServer) -> None:  # noqa: F811
    with psycopg.connect(postgres_server.dsn, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS probe")

        def run(sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
            cursor = conn.execute(sql.replace("?", "%s"), params)  # (psycopg's placeholder)
            return [tuple(row) for row in cursor.fetchall()] if cursor.description else []

        exercise(run)
