"""The state store's tables, once, as SQLAlchemy metadata: what the Alembic migrations
(:mod:`toolnexus.store.migrations`) bring every database to, SQLite or PostgreSQL.

Types are chosen so that SQLite gets exactly the declarations its databases have always had (``TEXT``,
``REAL``, ``INTEGER``), and PostgreSQL what holds the same values: ``DOUBLE PRECISION`` for the times kept as
seconds (``REAL`` there is 4 bytes: it would lose the seconds of today's time), ``BYTEA`` for the compressed
plans and mission texts, ``BIGINT`` for the audit sequence.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

TEXT = sa.Text()
REAL = sa.REAL().with_variant(postgresql.DOUBLE_PRECISION(), "postgresql")
INTEGER = sa.Integer()
BIG = sa.Integer().with_variant(sa.BigInteger(), "postgresql")
PACKED = sa.Text().with_variant(postgresql.BYTEA(), "postgresql")  # zlib-compressed text (bytes)

metadata = sa.MetaData()


def _columns(*names: str, type_: sa.types.TypeEngine = TEXT) -> list[sa.Column]:  # type: ignore[type-arg]
    return [sa.Column(name, type_) for name in names]


runs = sa.Table(
    "runs", metadata,
    sa.Column("run_id", TEXT, primary_key=True),
    sa.Column("mission", TEXT, nullable=False),
    sa.Column("mission_version", TEXT),
    sa.Column("status", TEXT, nullable=False),
    sa.Column("plan_hash", TEXT),
    sa.Column("inputs", TEXT),
    sa.Column("plan", PACKED),
    sa.Column("source", PACKED),
    *_columns("source_path", "resumed_from", "started_at", "finished_at"),
    sa.Column("duration", REAL),
    sa.Column("cost", REAL),
    *_columns("currency", "error", "outputs"),
    sa.Column("pid", INTEGER),
    *_columns("host", "owner", "process_start", "caller", "correlation_id"),
    sa.Index("runs_by_mission", "mission", "started_at"),
    # Only running runs are in it: what close() asks ("has this owner runs going?") stays cheap.
    sa.Index("runs_running", "owner", sqlite_where=sa.text("status = 'running'"),
             postgresql_where=sa.text("status = 'running'")),
)

steps = sa.Table(
    "steps", metadata,
    sa.Column("run_id", TEXT, primary_key=True),
    sa.Column("step_id", TEXT, primary_key=True),
    sa.Column("record", TEXT, nullable=False),
    sa.Column("status", TEXT, nullable=False),
)

cache = sa.Table(
    "cache", metadata,
    sa.Column("key", TEXT, primary_key=True),
    sa.Column("tool", TEXT, nullable=False),
    sa.Column("version", TEXT, nullable=False),
    sa.Column("output", TEXT),
    sa.Column("cost", REAL),
    sa.Column("created_at", TEXT),
)

calls = sa.Table(
    "calls", metadata,
    sa.Column("call_id", TEXT, primary_key=True),
    *_columns("tool", "version", "origin", "arguments", "result", "at", "caller", "correlation_id"),
)

owners = sa.Table(
    "owners", metadata,
    sa.Column("owner", TEXT, primary_key=True),
    sa.Column("heartbeat", REAL, nullable=False),
    sa.Column("interval", REAL, nullable=False),
)

approvals = sa.Table(
    "approvals", metadata,
    sa.Column("ticket", TEXT, primary_key=True),
    sa.Column("status", TEXT, nullable=False),
    sa.Column("tool", TEXT, nullable=False),
    *_columns("version", "arguments", "principal", "tenant", "surface", "correlation_id", "run_id", "step_id",
              "rule", "reason"),
    sa.Column("digest", TEXT, nullable=False),
    sa.Column("policy_version", TEXT),
    sa.Column("four_eyes", INTEGER, nullable=False, server_default=sa.text("0")),
    *_columns("approvers", "channels"),
    sa.Column("requested_at", REAL, nullable=False),
    sa.Column("deadline", REAL, nullable=False),
    sa.Column("decided_by", TEXT),
    sa.Column("decided_at", REAL),
    *_columns("decision_reason", "channel", "scope", "pattern"),
    sa.Column("grant_until", REAL),
    sa.Column("uses_left", INTEGER),
    # What `approvals list` and the expiry sweep read: the open requests, by deadline.
    sa.Index("approvals_by_status", "status", "deadline"),
    # Where a new call looks for a live grant covering it.
    sa.Index("approvals_grants", "tool", "status", sqlite_where=sa.text("status = 'granted'"),
             postgresql_where=sa.text("status = 'granted'")),
)

kill_switches = sa.Table(
    "kill_switches", metadata,
    sa.Column("id", INTEGER, primary_key=True, autoincrement=True),
    sa.Column("scope", TEXT, nullable=False),
    sa.Column("target", TEXT, nullable=False),
    sa.Column("reason", TEXT, nullable=False),
    sa.Column("by", TEXT),
    sa.Column("at", REAL, nullable=False),
    sa.Column("active", INTEGER, nullable=False, server_default=sa.text("1")),
    sa.Column("lifted_by", TEXT),
    sa.Column("lifted_at", REAL),
    # What every check reads: the active switches (a handful), never the history.
    sa.Index("kill_switches_active", "scope", "target", sqlite_where=sa.text("active = 1"),
             postgresql_where=sa.text("active = 1")),
    sqlite_autoincrement=True,
)

audit_records = sa.Table(
    "audit_records", metadata,
    sa.Column("seq", BIG, primary_key=True, autoincrement=False),
    sa.Column("at", TEXT, nullable=False),
    sa.Column("kind", TEXT, nullable=False),
    sa.Column("body", TEXT, nullable=False),
    sa.Column("prev", TEXT, nullable=False),
    sa.Column("hash", TEXT, nullable=False),
    # No index on `at` (since version 6): it cost every record's commit a page; a `since` query scans.
)

audit_checkpoints = sa.Table(
    "audit_checkpoints", metadata,
    sa.Column("seq", BIG, primary_key=True, autoincrement=False),
    sa.Column("head", TEXT, nullable=False),
    sa.Column("at", TEXT, nullable=False),
    sa.Column("signature", TEXT),
    sa.Column("key_id", TEXT),
)

flags = sa.Table(
    "flags", metadata,
    sa.Column("name", TEXT, primary_key=True),
    sa.Column("value", TEXT, nullable=False),
    sa.Column("by", TEXT),
    sa.Column("at", REAL, nullable=False),
)
