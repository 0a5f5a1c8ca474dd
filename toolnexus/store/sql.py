"""SQL the state store writes the same way for SQLite and PostgreSQL: both take ``INSERT … ON CONFLICT … DO
UPDATE`` with ``excluded`` (SQLite since 3.24), ``RETURNING`` (SQLite since 3.35) and ``LIKE … ESCAPE``; the
SQLite-only ``INSERT OR REPLACE`` and ``lastrowid`` are not used."""

from __future__ import annotations

from functools import cache


@cache
def upsert(table: str, columns: tuple[str, ...], key: tuple[str, ...]) -> str:
    """``INSERT INTO table (columns) VALUES (?, …)``, updating the other columns of a row whose ``key`` is
    taken already (the row is the one given: as ``INSERT OR REPLACE`` left it, in either database)."""
    names = ", ".join(columns)
    marks = ", ".join("?" for _ in columns)
    updates = ", ".join(f"{name} = excluded.{name}" for name in columns if name not in key)
    action = f"DO UPDATE SET {updates}" if updates else "DO NOTHING"
    return f"INSERT INTO {table} ({names}) VALUES ({marks}) ON CONFLICT ({', '.join(key)}) {action}"


def like_literal(text: str) -> str:
    """``text`` for a LIKE pattern with a backslash escape, matched literally (``_`` and ``%`` no wildcards)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
