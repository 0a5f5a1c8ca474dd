"""The kill-switch table of the state store: who stopped what (a tool, a namespace, a tenant, everything),
why and when, and who lifted it again.

A switch is never deleted: lifting it records who lifted it and when, so the table is also the history.
Every process sharing ``state.db`` reads the active switches; ``PRAGMA data_version`` tells a reader
cheaply whether anyone committed since it last looked.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from typing import Literal

from toolnexus.store.sqlite import StateStore

KillScope = Literal["tool", "namespace", "tenant", "all"]
SCOPES: tuple[KillScope, ...] = ("tool", "namespace", "tenant", "all")

_COLUMNS = "id, scope, target, reason, by, at, active, lifted_by, lifted_at"


@dataclass(frozen=True, slots=True)
class KillRecord:
    """One kill switch: what it stops (``scope``, ``target``: a name or a glob), why, who set it and when
    (``at``, seconds since the epoch), and — once lifted — who lifted it and when."""

    id: int
    scope: KillScope
    target: str
    reason: str
    by: str | None
    at: float
    active: bool = True
    lifted_by: str | None = None
    lifted_at: float | None = None

    @classmethod
    def from_row(cls, row: sqlite3.Row | tuple[object, ...]) -> KillRecord:
        """The record of a row of :data:`_COLUMNS`."""
        id_, scope, target, reason, by, at, active, lifted_by, lifted_at = tuple(row)
        return cls(id=int(id_), scope=scope, target=str(target), reason=str(reason),  # type: ignore[arg-type]
                   by=by, at=float(at), active=bool(active), lifted_by=lifted_by,  # type: ignore[arg-type]
                   lifted_at=lifted_at)  # type: ignore[arg-type]


class KillTable:
    """The ``kill_switches`` table of a :class:`StateStore`."""

    def __init__(self, store: StateStore) -> None:
        self.store = store  # the table is made by the store's migrations (toolnexus.store.schema)

    def add(self, scope: KillScope, target: str, reason: str, by: str | None) -> tuple[KillRecord, bool]:
        """Set a switch; returns it and whether it is new. A switch already active on ``scope``/``target``
        stays as it was set (the first reason and setter are the ones that count)."""
        with self.store.write() as conn:
            row = conn.execute(f"SELECT {_COLUMNS} FROM kill_switches WHERE active = 1 AND scope = ? AND target = ?",
                               (scope, target)).fetchone()
            if row is not None:
                return KillRecord.from_row(row), False
            (row,) = conn.execute("INSERT INTO kill_switches (scope, target, reason, by, at) VALUES (?, ?, ?, ?, ?)"
                                  f" RETURNING {_COLUMNS}", (scope, target, reason, by, time.time())).fetchall()
        return KillRecord.from_row(row), True

    def lift(self, target: str, by: str | None, scope: KillScope | None = None) -> list[KillRecord]:
        """Lift the active switches on ``target`` (of ``scope``, or of any scope); the ones lifted."""
        where, params = "active = 1 AND target = ?", [target]
        if scope is not None:
            where += " AND scope = ?"
            params.append(scope)
        with self.store.write() as conn:
            ids = [r[0] for r in conn.execute(f"SELECT id FROM kill_switches WHERE {where}", params)]
            if not ids:
                return []
            marks = ",".join("?" * len(ids))
            conn.execute(f"UPDATE kill_switches SET active = 0, lifted_by = ?, lifted_at = ? WHERE id IN ({marks})",
                         [by, time.time(), *ids])
            rows = conn.execute(f"SELECT {_COLUMNS} FROM kill_switches WHERE id IN ({marks}) ORDER BY id",
                                ids).fetchall()
        return [KillRecord.from_row(r) for r in rows]

    def active(self, conn: sqlite3.Connection | None = None) -> list[KillRecord]:
        """The switches in force, oldest first (read on ``conn``, default: this thread's connection)."""
        conn = conn or self.store.connection()
        rows = conn.execute(f"SELECT {_COLUMNS} FROM kill_switches WHERE active = 1 ORDER BY id").fetchall()
        return [KillRecord.from_row(r) for r in rows]

    def history(self, limit: int = 100) -> list[KillRecord]:
        """The most recent switches, lifted ones included, newest first."""
        rows = self.store.connection().execute(
            f"SELECT {_COLUMNS} FROM kill_switches ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
        return [KillRecord.from_row(r) for r in rows]
