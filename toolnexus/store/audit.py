"""The audit tables of the state store: the hash-chained records and their checkpoints.

This module only keeps rows; what a record's hash is and what a checkpoint signs is the governance
audit log's (:mod:`toolnexus.governance.audit`). A record is appended in one write transaction that reads
the head and inserts after it (``BEGIN IMMEDIATE`` takes the write lock first), so processes appending at
once still make one chain.

``audit_records``: ``seq`` (1, 2, … with no gap), ``at`` (UTC, ISO 8601), ``kind``, ``body`` (the RFC 8785
canonical JSON of the record), ``prev`` (the hash of record ``seq - 1``) and ``hash``.
``audit_checkpoints``: ``seq`` (the number of records it covers: the last one's seq), ``head`` (that
record's hash), ``at``, and the optional Ed25519 ``signature`` (hex) with the ``key_id`` of its key.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from toolnexus.store.sql import like_literal
from toolnexus.store.sqlite import StateStore

GENESIS = "0" * 64
"""The ``prev`` of the first record: there is none before it."""


@dataclass(frozen=True, slots=True)
class AuditRow:
    """One audit record as stored."""

    seq: int
    at: str
    kind: str
    body: str
    prev: str
    hash: str


@dataclass(frozen=True, slots=True)
class CheckpointRow:
    """One checkpoint as stored: ``seq`` records, the last one's hash ``head``, and an optional signature."""

    seq: int
    head: str
    at: str
    signature: str | None = None
    key_id: str | None = None


@dataclass(frozen=True, slots=True)
class RecordFilter:
    """Which records a query returns: all of them when every field is None.

    ``tool`` is a glob (``files.*``) on the record's ``tool`` (a decision) or ``target`` (a governance
    change); ``kind`` matches the kind itself or its family (``decision`` matches ``decision.deny``);
    ``since`` is an ``at`` (records at or after it); ``principal`` the caller (or who made a change).
    """

    tool: str | None = None
    since: str | None = None
    kind: str | None = None
    principal: str | None = None

    def where(self, dialect: str = "sqlite") -> tuple[str, list[Any]]:
        """The SQL condition and its parameters, for the store's ``dialect`` (``sqlite`` or ``postgresql``)."""
        sqlite = dialect == "sqlite"
        terms: list[str] = []
        params: list[Any] = []
        if self.tool is not None:
            terms.append("COALESCE(json_extract(body, '$.tool'), json_extract(body, '$.target')) GLOB ?" if sqlite
                         else "COALESCE(body::jsonb ->> 'tool', body::jsonb ->> 'target') ~ ?")
            params.append(self.tool if sqlite else glob_regex(self.tool))
        if self.since is not None:
            terms.append("at >= ?")
            params.append(self.since)
        if self.kind is not None:
            terms.append("(kind = ? OR kind LIKE ? ESCAPE '\\')")
            params += [self.kind, like_literal(self.kind) + ".%"]
        if self.principal is not None:
            terms.append("json_extract(body, '$.principal') = ?" if sqlite else "body::jsonb ->> 'principal' = ?")
            params.append(self.principal)
        return (" WHERE " + " AND ".join(terms)) if terms else "", params


def glob_regex(pattern: str) -> str:
    """A glob (``*``, ``?``, ``[…]``, as SQLite's GLOB takes it) as an anchored POSIX regular expression."""
    out, i = ["^"], 0
    while i < len(pattern):
        c = pattern[i]
        end = pattern.find("]", i + 2) if c == "[" else -1
        if c == "*":
            out.append(".*")
        elif c == "?":
            out.append(".")
        elif end != -1:
            out.append(pattern[i:end + 1])
            i = end
        else:
            out.append("\\" + c if c in ".^$|()+{}\\[]" else c)
        i += 1
    return "".join(out) + "$"


class AuditStore:
    """The audit tables in ``store``'s database."""

    def __init__(self, store: StateStore) -> None:
        self.store = store  # the tables are made by the store's migrations (toolnexus.store.schema)

    # -- writing (inside the caller's write transaction) ---------------------------------------

    @staticmethod
    def head(conn: sqlite3.Connection) -> tuple[int, str]:
        """The last record's seq and hash (0 and :data:`GENESIS` for an empty log)."""
        row = conn.execute("SELECT seq, hash FROM audit_records ORDER BY seq DESC LIMIT 1").fetchone()
        return (0, GENESIS) if row is None else (int(row[0]), str(row[1]))

    @staticmethod
    def insert(conn: sqlite3.Connection, rows: Sequence[AuditRow]) -> None:
        """Insert ``rows`` (already linked to the head)."""
        sql = "INSERT INTO audit_records (seq, at, kind, body, prev, hash) VALUES (?, ?, ?, ?, ?, ?)"
        values = [(r.seq, r.at, r.kind, r.body, r.prev, r.hash) for r in rows]
        if len(values) == 1:  # the common case on a step's commit: execute is quicker than executemany
            conn.execute(sql, values[0])
        else:
            conn.executemany(sql, values)

    @staticmethod
    def insert_checkpoints(conn: sqlite3.Connection, checkpoints: Iterable[CheckpointRow]) -> None:
        """Insert ``checkpoints``."""
        conn.executemany("INSERT INTO audit_checkpoints (seq, head, at, signature, key_id) VALUES (?, ?, ?, ?, ?)",
                         [(c.seq, c.head, c.at, c.signature, c.key_id) for c in checkpoints])

    # -- reading ----------------------------------------------------------------------------------

    def records(self, after: int = 0) -> Iterator[AuditRow]:
        """Every record with a seq above ``after``, in seq order (read as it is iterated)."""
        cursor = self.store.connection().execute(
            "SELECT seq, at, kind, body, prev, hash FROM audit_records WHERE seq > ? ORDER BY seq", (after,))
        for row in cursor:
            yield AuditRow(*row)

    def query(self, where: RecordFilter, limit: int | None = None, newest: bool = False) -> list[AuditRow]:
        """The records ``where`` selects, in seq order: the first ``limit`` — the last ones when ``newest``."""
        condition, params = where.where(getattr(self.store, "dialect", "sqlite"))
        order = "DESC" if newest else "ASC"
        sql = f"SELECT seq, at, kind, body, prev, hash FROM audit_records{condition} ORDER BY seq {order}"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        rows = [AuditRow(*row) for row in self.store.connection().execute(sql, params)]
        return rows[::-1] if newest else rows

    def checkpoints(self) -> list[CheckpointRow]:
        """Every checkpoint, oldest first."""
        cursor = self.store.connection().execute(
            "SELECT seq, head, at, signature, key_id FROM audit_checkpoints ORDER BY seq")
        return [CheckpointRow(*row) for row in cursor]

    def count(self) -> int:
        """How many records the log holds (its last seq, when nothing was removed)."""
        (count,) = self.store.connection().execute("SELECT COUNT(*) FROM audit_records").fetchone()
        return int(count)
