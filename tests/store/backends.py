"""Helpers for tests that hold on both state store backends (the ``store`` fixture of conftest.py): another
store on the same database, a statement run there, and the source that opens it in another process."""

from __future__ import annotations

from typing import Any

from toolnexus.store import StateStore


def reopen(store: StateStore) -> StateStore:
    """Another store on the same database (another process's, or another host's)."""
    url = getattr(store, "url", None)
    if url is None:
        return StateStore(store.path)
    from toolnexus.store.postgres import PostgresStateStore

    return PostgresStateStore(url)


def execute(store: StateStore, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Run ``sql`` on a connection of the store's database of its own (committed at once)."""
    other = reopen(store)
    try:
        with other.write() as conn:
            cursor = conn.execute(sql, params)
            return [tuple(row) for row in cursor.fetchall()] if cursor.description else []
    finally:
        other.close()



def opener(store: StateStore) -> str:
    """Python source that opens, in another process, a store on ``store``'s database (as ``store``)."""
    url = getattr(store, "url", None)
    if url is None:
        return f"from toolnexus.store.sqlite import StateStore\nstore = StateStore({str(store.path)!r})\n"
    return f"from toolnexus.store.postgres import PostgresStateStore\nstore = PostgresStateStore({url!r})\n"
