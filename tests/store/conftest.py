"""The ``store`` fixture of the store's tests that hold on both backends: a new SQLite store, and a PostgreSQL
one on the tests' real server (tests/fixtures/postgres.py). A module with a ``store`` fixture of its own
(SQLite's WAL, its files) keeps that one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.postgres import postgres_database, postgres_server  # noqa: F401 (fixtures pytest registers)
from toolnexus.store import StateStore


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StateStore]:
    """A new store of each backend."""
    if request.param == "sqlite":
        state = StateStore(tmp_path / "state" / "state.db")
    else:
        from toolnexus.store.postgres import PostgresStateStore

        state = PostgresStateStore(request.getfixturevalue("postgres_database"))
    yield state
    state.close()


