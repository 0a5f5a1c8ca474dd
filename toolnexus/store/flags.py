"""The rollout-flag table of the state store: flags set at run time (``toolnexus flags set``), over the ones of
``toolnexus.toml``.

One row a flag: its name, its definition as JSON (what a ``[flags.NAME]`` table holds: ``default``,
``description``, ``rules``), who set it and when (seconds since the epoch). Unsetting a flag deletes its row
(the toml flag of that name, if any, applies again); the history of changes is the audit log's. Every process
sharing ``state.db`` reads the table; ``PRAGMA data_version`` tells a reader cheaply whether anyone committed.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from toolnexus.store.sqlite import StateStore

_COLUMNS = "name, value, by, at"


@dataclass(frozen=True, slots=True)
class FlagRow:
    """One flag of the store: its ``name``, its definition (``value``: default, description, rules), who set it
    (``by``) and when (``at``, seconds since the epoch)."""

    name: str
    value: dict[str, Any]
    by: str | None
    at: float

    @classmethod
    def from_row(cls, row: sqlite3.Row | tuple[object, ...]) -> FlagRow:
        """The flag of a row of :data:`_COLUMNS` (a value that is not a JSON object reads as ``{}``)."""
        name, value, by, at = tuple(row)
        try:
            definition = json.loads(str(value))
        except json.JSONDecodeError:
            definition = {}
        return cls(name=str(name), value=definition if isinstance(definition, dict) else {},
                   by=by, at=float(at))  # type: ignore[arg-type]


class FlagTable:
    """The ``flags`` table of a :class:`StateStore` (made by its migrations: :mod:`toolnexus.store.schema`)."""

    def __init__(self, store: StateStore) -> None:
        self.store = store

    def set(self, name: str, value: Mapping[str, Any], by: str | None) -> tuple[FlagRow, FlagRow | None]:
        """Set flag ``name`` to the definition ``value``; returns it and the definition it replaced (None: new)."""
        text = json.dumps(dict(value), sort_keys=True)
        with self.store.write() as conn:
            before = conn.execute(f"SELECT {_COLUMNS} FROM flags WHERE name = ?", (name,)).fetchone()
            conn.execute("INSERT INTO flags (name, value, by, at) VALUES (?, ?, ?, ?) ON CONFLICT (name) DO UPDATE "
                         "SET value = excluded.value, by = excluded.by, at = excluded.at",
                         (name, text, by, time.time()))
            row = conn.execute(f"SELECT {_COLUMNS} FROM flags WHERE name = ?", (name,)).fetchone()
        return FlagRow.from_row(row), None if before is None else FlagRow.from_row(before)

    def unset(self, name: str) -> FlagRow | None:
        """Remove flag ``name`` from the store; returns what it was (None: the store had no such flag)."""
        with self.store.write() as conn:
            row = conn.execute(f"SELECT {_COLUMNS} FROM flags WHERE name = ?", (name,)).fetchone()
            if row is None:
                return None
            conn.execute("DELETE FROM flags WHERE name = ?", (name,))
        return FlagRow.from_row(row)

    def get(self, name: str) -> FlagRow | None:
        """Flag ``name`` as the store has it, or None."""
        row = self.store.connection().execute(f"SELECT {_COLUMNS} FROM flags WHERE name = ?", (name,)).fetchone()
        return None if row is None else FlagRow.from_row(row)

    def list(self, conn: sqlite3.Connection | None = None) -> list[FlagRow]:
        """Every flag of the store, by name (read on ``conn``, default: this thread's connection)."""
        conn = conn or self.store.connection()
        return [FlagRow.from_row(r) for r in conn.execute(f"SELECT {_COLUMNS} FROM flags ORDER BY name")]
