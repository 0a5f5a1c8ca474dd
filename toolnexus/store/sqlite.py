"""The embedded state store: runs, steps, the result cache and standalone calls, in SQLite.

WAL mode and a busy timeout make it safe for a kernel and a Jupyter server (two processes) at once;
each thread gets its own connection. Steps are committed as they finish, so a run killed with
SIGKILL loses nothing that completed and can be resumed.

Checkpoints (copying the write-ahead log into the database, with an fsync) are taken off the
writing thread: SQLite's automatic checkpoint would stall every few hundred commits in the middle of
a run. A background thread checkpoints instead (:mod:`toolnexus.store.checkpoints`), after every
``CHECKPOINT_EVERY`` commits and at the end of each run; the last connection to close checkpoints
too. A commit is in the WAL file either way, so a killed process loses nothing.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from toolnexus.core.call import ToolResult
from toolnexus.core.errors import ToolError
from toolnexus.core.events import CallFinished, Event, RunFinished, RunStarted, StepFinished
from toolnexus.core.run import RunResult, RunStatus, StepRecord, StepStatus
from toolnexus.store.background import DeferredWriter
from toolnexus.store.checkpoints import request_checkpoint

CHECKPOINT_EVERY = 500
"""Commits (of this store) between background WAL checkpoints."""

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
  run_id TEXT PRIMARY KEY, mission TEXT NOT NULL, mission_version TEXT, status TEXT NOT NULL,
  plan_hash TEXT, inputs TEXT, plan TEXT, source TEXT, source_path TEXT, resumed_from TEXT,
  started_at TEXT, finished_at TEXT, duration REAL, cost REAL, currency TEXT, error TEXT, outputs TEXT,
  pid INTEGER, host TEXT
);
CREATE INDEX IF NOT EXISTS runs_by_mission ON runs (mission, started_at);
CREATE TABLE IF NOT EXISTS steps (
  run_id TEXT NOT NULL, step_id TEXT NOT NULL, record TEXT NOT NULL, status TEXT NOT NULL,
  PRIMARY KEY (run_id, step_id)
);
CREATE TABLE IF NOT EXISTS cache (
  key TEXT PRIMARY KEY, tool TEXT NOT NULL, version TEXT NOT NULL, output TEXT, cost REAL, created_at TEXT
);
CREATE TABLE IF NOT EXISTS calls (
  call_id TEXT PRIMARY KEY, tool TEXT, version TEXT, origin TEXT, arguments TEXT, result TEXT, at TEXT
);
"""


class StoredRun:
    """A run as the store holds it: what is needed to show, compare and resume it."""

    def __init__(self, row: sqlite3.Row, steps: dict[str, StepRecord]) -> None:
        self.run_id: str = row["run_id"]
        self.mission: str = row["mission"]
        self.status = RunStatus(row["status"])
        self.plan_hash: str | None = row["plan_hash"]
        self.inputs: dict[str, Any] = json.loads(row["inputs"] or "{}")
        self.plan: dict[str, Any] | None = json.loads(row["plan"]) if row["plan"] else None
        self.source: str | None = row["source"]
        self.source_path: str | None = row["source_path"]
        self.resumed_from: str | None = row["resumed_from"]
        self.started_at: str | None = row["started_at"]
        self.finished_at: str | None = row["finished_at"]
        self.duration: float | None = row["duration"]
        self.cost: float | None = row["cost"]
        self.outputs: dict[str, Any] = json.loads(row["outputs"] or "{}")
        self.error = ToolError.model_validate_json(row["error"]) if row["error"] else None
        self.pid: int | None = row["pid"]
        self.host: str | None = row["host"]
        # Steps in plan order (the order `toolnexus plan` shows), not the order they finished in.
        order = {s["id"]: i for i, s in enumerate((self.plan or {}).get("steps", []))}
        self.steps = dict(sorted(steps.items(), key=lambda kv: order.get(kv[0], len(order))))

    @property
    def process_alive(self) -> bool:
        """Whether the process that ran it is still running (only knowable on the same host)."""
        if self.status != RunStatus.RUNNING or self.pid is None or self.host != socket.gethostname():
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def to_result(self) -> RunResult:
        return RunResult(run_id=self.run_id, mission=self.mission, status=self.status, outputs=self.outputs,
                         steps=self.steps, inputs=self.inputs, cost=self.cost or 0.0,
                         duration=self.duration or 0.0, error=self.error, resumed_from=self.resumed_from,
                         started_at=datetime.fromisoformat(self.started_at) if self.started_at else None,
                         finished_at=datetime.fromisoformat(self.finished_at) if self.finished_at else None)


class StateStore:
    """SQLite state under ``.toolnexus/state.db``; also an event sink that records runs as they happen."""

    # The events this sink records (the bus does not build the others for it).
    event_types = (RunStarted, StepFinished, RunFinished, CallFinished)

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        # Records already written by save_step, so the run's end rewrites only what changed.
        self._saved: dict[str, dict[str, StepRecord]] = {}
        self._opened: list[sqlite3.Connection] = []
        self._opened_lock = threading.Lock()
        self._commits = 0  # since the last checkpoint was asked for
        # Calls made outside a run are written just after the caller's answer, many to a commit under load.
        self._calls = DeferredWriter[CallFinished](self._write_calls, name="toolnexus-store-calls")
        with self._conn() as conn:
            conn.executescript(SCHEMA)

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=30000")
            conn.execute("PRAGMA wal_autocheckpoint=0")  # checkpoints are taken in the background
            self._local.conn = conn
            with self._opened_lock:
                self._opened.append(conn)
        return conn

    # -- checkpoints --------------------------------------------------------------------------

    def _committed(self, commits: int = 1) -> None:
        self._commits += commits
        if self._commits >= CHECKPOINT_EVERY:
            self._commits = 0
            request_checkpoint(self.path)

    def flush(self) -> None:
        """Write the calls recorded so far (on an event loop they are written a moment after the call)."""
        self._calls.flush()

    def close(self) -> None:
        """Write what is pending and close every thread's connection (a thread using the store afterwards
        opens a new one)."""
        self._calls.close()
        with self._opened_lock:
            opened, self._opened = self._opened, []
        for conn in opened:
            conn.close()
        self._local = threading.local()
        # Records already written by save_step, so the run's end rewrites only what changed.
        self._saved: dict[str, dict[str, StepRecord]] = {}

    # -- the event sink ----------------------------------------------------------------------

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Everything this thread writes inside is one transaction, committed on the way out.

        The engine records the steps that finish in the same turn of its event loop this way: one
        commit for all of them. Nothing inside may wait (the write lock is held throughout).
        """
        conn = self._conn()
        if conn.in_transaction:  # nested: the outer batch commits
            yield
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            if conn.in_transaction:
                conn.execute("COMMIT")

    def __call__(self, event: Event) -> None:
        if isinstance(event, StepFinished):
            self.save_step(event.run_id or "", event.record)
        elif isinstance(event, RunStarted):
            self._run_started(event)
        elif isinstance(event, RunFinished):
            self._run_finished(event.result)
        elif isinstance(event, CallFinished) and event.call.run_id is None:
            self._call(event)

    def _run_started(self, event: RunStarted) -> None:
        self._conn().execute(
            "INSERT OR REPLACE INTO runs (run_id, mission, mission_version, status, plan_hash, inputs, plan,"
            " source, source_path, resumed_from, started_at, pid, host) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (event.run_id, event.mission, event.mission_version, RunStatus.RUNNING.value, event.plan_hash,
             json.dumps(event.inputs, default=str), json.dumps(event.plan) if event.plan else None, event.source,
             event.source_path, event.resumed_from, event.at.isoformat(), os.getpid(), socket.gethostname()))
        self._committed()

    def save_step(self, run_id: str, record: StepRecord) -> None:
        # Committed as each step finishes: a run killed mid-way keeps every step that completed.
        self._conn().execute(
            "INSERT OR REPLACE INTO steps (run_id, step_id, record, status) VALUES (?,?,?,?)",
            (run_id, record.step_id, record.model_dump_json(), record.status.value))
        self._saved.setdefault(run_id, {})[record.step_id] = record
        self._committed()

    def _run_finished(self, result: RunResult) -> None:
        conn = self._conn()
        # The result's records are the final word: they include the steps kept from a resumed run
        # and those that never started, which no step_finished event announced.
        saved = self._saved.pop(result.run_id, {})
        conn.executemany(
            "INSERT OR REPLACE INTO steps (run_id, step_id, record, status) VALUES (?,?,?,?)",
            [(result.run_id, r.step_id, r.model_dump_json(), r.status.value) for r in result.steps.values()
             if saved.get(r.step_id) is not r])
        conn.execute(
            "UPDATE runs SET status=?, finished_at=?, duration=?, cost=?, currency=?, error=?, outputs=?"
            " WHERE run_id=?",
            (result.status.value, (result.finished_at or result.started_at).isoformat(), result.duration,
             result.cost, result.currency, result.error.model_dump_json() if result.error else None,
             json.dumps(result.outputs, default=str), result.run_id))
        self._commits = 0
        request_checkpoint(self.path)  # between runs: the log of this one goes into the database

    def _call(self, event: CallFinished) -> None:
        self._calls.add(event)

    def _write_calls(self, events: list[CallFinished]) -> None:
        """One transaction for a batch of calls (see :class:`~toolnexus.store.background.DeferredWriter`)."""
        rows = []
        for event in events:
            result: ToolResult = event.result
            rows.append((event.call.id, result.tool, result.version, event.call.origin,
                         json.dumps(event.call.arguments, default=str), result.model_dump_json(), event.at.isoformat()))
        with self.batch():
            self._conn().executemany(
                "INSERT OR REPLACE INTO calls (call_id, tool, version, origin, arguments, result, at)"
                " VALUES (?,?,?,?,?,?,?)", rows)
        self._committed()

    # -- reading -----------------------------------------------------------------------------

    def get_run(self, run_id: str) -> StoredRun | None:
        conn = self._conn()
        row = conn.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        if row is None:
            # A prefix, matched literally: `_` and `%` in it are not wildcards.
            pattern = run_id.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            rows = conn.execute("SELECT * FROM runs WHERE run_id LIKE ? ESCAPE '\\' ORDER BY started_at DESC LIMIT 2",
                                (pattern,)).fetchall()
            if len(rows) != 1:
                return None
            row = rows[0]
        return StoredRun(row, self.steps(row["run_id"]))

    def steps(self, run_id: str) -> dict[str, StepRecord]:
        rows = self._conn().execute("SELECT record FROM steps WHERE run_id = ?", (run_id,)).fetchall()
        return {r.step_id: r for r in (StepRecord.model_validate_json(row["record"]) for row in rows)}

    def list_runs(self, limit: int = 20, mission: str | None = None) -> list[StoredRun]:
        query = "SELECT * FROM runs" + (" WHERE mission = ?" if mission else "") + " ORDER BY started_at DESC LIMIT ?"
        rows = self._conn().execute(query, ((mission, limit) if mission else (limit,))).fetchall()
        return [StoredRun(row, {}) for row in rows]

    def mark_interrupted(self, run_id: str) -> None:
        """Record a run whose process died (SIGKILL, power loss) as cancelled."""
        self._conn().execute("UPDATE runs SET status=? WHERE run_id=? AND status=?",
                             (RunStatus.CANCELLED.value, run_id, RunStatus.RUNNING.value))
        self._committed()

    # -- the result cache --------------------------------------------------------------------

    def cache_get(self, key: str) -> tuple[Any, float] | None:
        row = self._conn().execute("SELECT output, cost FROM cache WHERE key = ?", (key,)).fetchone()
        return (json.loads(row["output"]), row["cost"] or 0.0) if row else None

    def cache_put(self, key: str, tool: str, version: str, output: Any, cost: float) -> None:
        self._conn().execute(
            "INSERT OR REPLACE INTO cache (key, tool, version, output, cost, created_at)"
            " VALUES (?,?,?,?,?,datetime('now'))",
            (key, tool, version, json.dumps(output, default=str), cost))
        self._committed()

    def step_status(self, run_id: str) -> dict[str, StepStatus]:
        rows = self._conn().execute("SELECT step_id, status FROM steps WHERE run_id = ?", (run_id,)).fetchall()
        return {row["step_id"]: StepStatus(row["status"]) for row in rows}
