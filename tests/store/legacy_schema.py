"""The state store's schema as older toolnexus versions made it, before Alembic: the SQL each ``PRAGMA
user_version`` step ran. Tests build databases "made by an older toolnexus" from it, to check that
:func:`toolnexus.store.schema.migrate` upgrades them in place with nothing lost."""

from __future__ import annotations

import sqlite3
from pathlib import Path

MIGRATIONS: dict[int, list[str]] = {
    # Version 1: the tables as they were before the schema had a version. IF NOT EXISTS: a database
    # made then is at version 0 and already has them.
    1: [
        """CREATE TABLE IF NOT EXISTS runs (
  run_id TEXT PRIMARY KEY, mission TEXT NOT NULL, mission_version TEXT, status TEXT NOT NULL,
  plan_hash TEXT, inputs TEXT, plan TEXT, source TEXT, source_path TEXT, resumed_from TEXT,
  started_at TEXT, finished_at TEXT, duration REAL, cost REAL, currency TEXT, error TEXT, outputs TEXT,
  pid INTEGER, host TEXT)""",
        "CREATE INDEX IF NOT EXISTS runs_by_mission ON runs (mission, started_at)",
        """CREATE TABLE IF NOT EXISTS steps (
  run_id TEXT NOT NULL, step_id TEXT NOT NULL, record TEXT NOT NULL, status TEXT NOT NULL,
  PRIMARY KEY (run_id, step_id))""",
        """CREATE TABLE IF NOT EXISTS cache (
  key TEXT PRIMARY KEY, tool TEXT NOT NULL, version TEXT NOT NULL, output TEXT, cost REAL, created_at TEXT)""",
        """CREATE TABLE IF NOT EXISTS calls (
  call_id TEXT PRIMARY KEY, tool TEXT, version TEXT, origin TEXT, arguments TEXT, result TEXT, at TEXT)""",
    ],
    # Version 2: runs name their owner (and when its process started); owners keep a heartbeat.
    2: [
        "ALTER TABLE runs ADD COLUMN owner TEXT",
        "ALTER TABLE runs ADD COLUMN process_start TEXT",
        "CREATE TABLE IF NOT EXISTS owners (owner TEXT PRIMARY KEY, heartbeat REAL NOT NULL, interval REAL NOT NULL)",
        # Only running runs are in it: what close() asks ("has this owner runs going?") stays cheap.
        "CREATE INDEX IF NOT EXISTS runs_running ON runs (owner) WHERE status = 'running'",
    ],
    # Version 3: who made each call and started each run (a Caller as JSON: principal, tenant, surface), and the
    # correlation id that ties a call to its retries and sub-calls, a run to its steps' calls.
    3: [
        "ALTER TABLE calls ADD COLUMN caller TEXT",
        "ALTER TABLE calls ADD COLUMN correlation_id TEXT",
        "ALTER TABLE runs ADD COLUMN caller TEXT",
        "ALTER TABLE runs ADD COLUMN correlation_id TEXT",
    ],
    # Version 4: the governance tables (approvals, kill switches, the audit log). IF NOT EXISTS: before they
    # were versioned, each was made by its module on first use, so a database at version 3 may have them.
    4: [
        """CREATE TABLE IF NOT EXISTS approvals (
  ticket TEXT PRIMARY KEY, status TEXT NOT NULL,
  tool TEXT NOT NULL, version TEXT, arguments TEXT,
  principal TEXT, tenant TEXT, surface TEXT, correlation_id TEXT, run_id TEXT, step_id TEXT,
  rule TEXT, reason TEXT, digest TEXT NOT NULL, policy_version TEXT,
  four_eyes INTEGER NOT NULL DEFAULT 0, approvers TEXT, channels TEXT,
  requested_at REAL NOT NULL, deadline REAL NOT NULL,
  decided_by TEXT, decided_at REAL, decision_reason TEXT, channel TEXT,
  scope TEXT, pattern TEXT, grant_until REAL, uses_left INTEGER)""",
        # What `approvals list` and the expiry sweep read: the open requests, by deadline.
        "CREATE INDEX IF NOT EXISTS approvals_by_status ON approvals (status, deadline)",
        # Where a new call looks for a live grant covering it.
        "CREATE INDEX IF NOT EXISTS approvals_grants ON approvals (tool, status) WHERE status = 'granted'",
        """CREATE TABLE IF NOT EXISTS kill_switches (
  id INTEGER PRIMARY KEY AUTOINCREMENT, scope TEXT NOT NULL, target TEXT NOT NULL, reason TEXT NOT NULL,
  by TEXT, at REAL NOT NULL, active INTEGER NOT NULL DEFAULT 1, lifted_by TEXT, lifted_at REAL)""",
        # What every check reads: the active switches (a handful), never the history.
        "CREATE INDEX IF NOT EXISTS kill_switches_active ON kill_switches (scope, target) WHERE active = 1",
        """CREATE TABLE IF NOT EXISTS audit_records (
  seq INTEGER PRIMARY KEY, at TEXT NOT NULL, kind TEXT NOT NULL, body TEXT NOT NULL,
  prev TEXT NOT NULL, hash TEXT NOT NULL)""",
        "CREATE INDEX IF NOT EXISTS audit_records_by_time ON audit_records (at)",
        """CREATE TABLE IF NOT EXISTS audit_checkpoints (
  seq INTEGER PRIMARY KEY, head TEXT NOT NULL, at TEXT NOT NULL, signature TEXT, key_id TEXT)""",
    ],
    # Version 5: rollout flags set in the store (`toolnexus flags set`), layered over [flags] of toolnexus.toml:
    # one row a flag, its definition as JSON; who changed it is also in the audit log.
    5: [
        "CREATE TABLE IF NOT EXISTS flags (name TEXT PRIMARY KEY, value TEXT NOT NULL, by TEXT, at REAL NOT NULL)",
    ],
}


def database_at(path: Path, version: int) -> sqlite3.Connection:
    """A database as a toolnexus at schema ``version`` left it (autocommit connection)."""
    conn = sqlite3.connect(path, isolation_level=None)
    for target in range(1, version + 1):
        for statement in MIGRATIONS[target]:
            conn.execute(statement)
    conn.execute(f"PRAGMA user_version = {version}")
    return conn
