"""The approvals queue's table in ``state.db``: parked calls waiting for a person, and the grants they got.

One row per ticket. A ticket is ``requested`` while its call waits, then ``granted``, ``denied``,
``expired`` (nobody decided before its deadline) or ``withdrawn`` (the waiting call was cancelled).
A granted row is also the grant: its ``scope`` (``call``, ``run`` or ``pattern``), ``pattern``,
``grant_until`` and ``uses_left`` say which later calls it lets through (see
:mod:`toolnexus.governance.approvals`). Times are Unix seconds (``REAL``).

Every process sharing the store sees every change: a waiting call notices a decision made elsewhere by
watching ``PRAGMA data_version`` on a connection of its own (:class:`ChangeWatch`), a read of shared memory
that costs about a microsecond, and reads the rows of the waiting tickets only when it moved.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from toolnexus.store.sql import like_literal
from toolnexus.store.sqlite import data_version

if TYPE_CHECKING:
    from toolnexus.store.sqlite import StateStore

ApprovalStatus = Literal["requested", "granted", "denied", "expired", "withdrawn"]
GrantScope = Literal["call", "run", "pattern"]

_JSON_COLUMNS = ("arguments", "approvers", "channels", "pattern")
_CHUNK = 500  # tickets per query (SQLite limits the parameters of a statement)


@dataclass(frozen=True, slots=True)
class ApprovalRecord:
    """One ticket of the approvals queue, as stored (its arguments already scrubbed of secrets)."""

    ticket: str
    tool: str
    digest: str
    requested_at: float
    deadline: float
    status: ApprovalStatus = "requested"
    version: str | None = None
    arguments: dict[str, Any] = field(default_factory=dict)
    principal: str | None = None
    tenant: str | None = None
    surface: str | None = None
    correlation_id: str | None = None
    run_id: str | None = None
    step_id: str | None = None
    rule: str | None = None
    reason: str = ""
    policy_version: str | None = None
    four_eyes: bool = False
    approvers: list[str] | None = None
    channels: list[str] | None = None
    decided_by: str | None = None
    decided_at: float | None = None
    decision_reason: str | None = None
    channel: str | None = None
    scope: GrantScope | None = None
    pattern: dict[str, str] | None = None
    grant_until: float | None = None
    uses_left: int | None = None

    @property
    def open(self) -> bool:
        """Whether the ticket still waits for a decision."""
        return self.status == "requested"

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> ApprovalRecord:
        """The record of a row of the ``approvals`` table."""
        values = dict(row)
        for name in _JSON_COLUMNS:
            if values[name] is not None:
                values[name] = json.loads(values[name])
        values["arguments"] = values["arguments"] or {}
        values["four_eyes"] = bool(values["four_eyes"])
        values["reason"] = values["reason"] or ""
        return cls(**values)

    def to_row(self) -> dict[str, Any]:
        """The column values of this record."""
        return {column: _stored(column, value) for column, value in asdict(self).items()}

    def to_dict(self) -> dict[str, Any]:
        """This record as plain JSON-able data (for ``--json`` and REST)."""
        return asdict(self)

    def with_status(self, status: ApprovalStatus, **changes: Any) -> ApprovalRecord:
        """A copy in ``status`` with ``changes``."""
        return replace(self, status=status, **changes)


def _stored(column: str, value: Any) -> Any:
    """``value`` of ``column`` as SQLite stores it: JSON text for structures, 0/1 for the flag."""
    if column in _JSON_COLUMNS and value is not None:
        return json.dumps(value, sort_keys=True, default=str)
    return int(value) if column == "four_eyes" else value


_COLUMNS = tuple(f.name for f in fields(ApprovalRecord))
_INSERT = (f"INSERT INTO approvals ({', '.join(_COLUMNS)}) "
           f"VALUES ({', '.join(':' + c for c in _COLUMNS)})")


class ApprovalsTable:
    """The ``approvals`` table of a :class:`~toolnexus.store.sqlite.StateStore`.

    Every change is a conditional update (``WHERE status = 'requested'``), so two processes deciding the
    same ticket at once cannot both win: the loser is told (its method returns None).
    """

    def __init__(self, store: StateStore) -> None:
        self.store = store  # the table is made by the store's migrations (toolnexus.store.schema)

    @property
    def path(self) -> Path:
        """The database file."""
        return self.store.path

    def add(self, record: ApprovalRecord) -> None:
        """Record a new ticket."""
        with self.store.write() as conn:
            conn.execute(_INSERT, record.to_row())

    def get(self, ticket: str, conn: sqlite3.Connection | None = None) -> ApprovalRecord | None:
        """The ticket ``ticket`` (read on ``conn`` if given), or None."""
        conn = conn or self.store.connection()
        row = conn.execute("SELECT * FROM approvals WHERE ticket = ?", (ticket,)).fetchone()
        return None if row is None else ApprovalRecord.from_row(row)

    def matching(self, text: str, limit: int = 2) -> list[ApprovalRecord]:
        """Tickets that are ``text``, start with it or end with it (the random tail), at most ``limit``."""
        exact = self.get(text)
        if exact is not None:
            return [exact]
        literal = like_literal(text)
        rows = self.store.connection().execute(
            "SELECT * FROM approvals WHERE ticket LIKE ? ESCAPE '\\' OR ticket LIKE ? ESCAPE '\\' "
            "ORDER BY requested_at DESC LIMIT ?", (f"{literal}%", f"%{literal}", limit)).fetchall()
        return [ApprovalRecord.from_row(row) for row in rows]

    def recent(self, status: ApprovalStatus | None = None, limit: int = 100) -> list[ApprovalRecord]:
        """The most recent tickets (of ``status``), newest first."""
        if status is None:
            sql, params = "SELECT * FROM approvals ORDER BY requested_at DESC LIMIT ?", (limit,)
        else:
            sql = "SELECT * FROM approvals WHERE status = ? ORDER BY requested_at DESC LIMIT ?"
            params = (status, limit)  # type: ignore[assignment]
        return [ApprovalRecord.from_row(row) for row in self.store.connection().execute(sql, params)]

    def settle(self, ticket: str, status: ApprovalStatus, **changes: Any) -> ApprovalRecord | None:
        """Move the open ticket ``ticket`` to ``status`` with ``changes`` (columns); the updated record, or
        None when it was no longer open (someone else decided first)."""
        unknown = set(changes) - set(_COLUMNS)
        if unknown:
            raise ValueError(f"no such approvals column: {', '.join(sorted(unknown))}")
        values = {column: _stored(column, value) for column, value in changes.items()}
        assignments = ", ".join(f"{column} = :{column}" for column in ["status", *changes])
        with self.store.write() as conn:
            updated = conn.execute(
                f"UPDATE approvals SET {assignments} WHERE ticket = :ticket AND status = 'requested'",
                {**values, "status": status, "ticket": ticket}).rowcount
            return self.get(ticket, conn) if updated else None

    def consume(self, ticket: str) -> bool:
        """Use a granted ticket once (when it has a count of uses); whether it could still be used."""
        with self.store.write() as conn:
            return bool(conn.execute(
                "UPDATE approvals SET uses_left = uses_left - 1 WHERE ticket = ? AND status = 'granted' "
                "AND uses_left > 0", (ticket,)).rowcount)

    def grants_for(self, tool: str, now: float) -> list[ApprovalRecord]:
        """The live grants for ``tool``: granted, not past their ``grant_until``, with uses left."""
        rows = self.store.connection().execute(
            "SELECT * FROM approvals WHERE tool = ? AND status = 'granted' "
            "AND (grant_until IS NULL OR grant_until > ?) AND (uses_left IS NULL OR uses_left > 0) "
            "ORDER BY decided_at DESC", (tool, now)).fetchall()
        return [ApprovalRecord.from_row(row) for row in rows]

    def decided_among(self, tickets: Iterable[str], conn: sqlite3.Connection | None = None) -> set[str]:
        """Those of ``tickets`` that are no longer open (read on ``conn`` if given)."""
        conn = conn or self.store.connection()
        wanted = list(tickets)
        decided: set[str] = set()
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start:start + _CHUNK]
            rows = conn.execute(f"SELECT ticket FROM approvals WHERE status != 'requested' AND ticket IN "
                                f"({', '.join('?' * len(chunk))})", chunk).fetchall()
            decided.update(row[0] for row in rows)
        return decided

    def overdue(self, now: float) -> list[ApprovalRecord]:
        """Open tickets whose deadline has passed."""
        rows = self.store.connection().execute(
            "SELECT * FROM approvals WHERE status = 'requested' AND deadline <= ?", (now,)).fetchall()
        return [ApprovalRecord.from_row(row) for row in rows]

    @contextmanager
    def watch(self) -> Iterator[ChangeWatch]:
        """A :class:`ChangeWatch` on this database, closed when the block ends."""
        watch = self.store.change_watch()
        try:
            yield watch
        finally:
            watch.close()


class ChangeWatch:
    """Tells when any connection (of any process) has committed to the database since the last look.

    It has its own connection, so that commits of this process's store (another connection) count too:
    ``PRAGMA data_version`` changes for commits of *other* connections only.
    """

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        self.conn.row_factory = sqlite3.Row
        self._version: int | None = None

    def changed(self) -> bool:
        """Whether the database changed since the last call (always true the first time)."""
        version = data_version(self.conn)
        moved = version != self._version
        self._version = version
        return moved

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()
