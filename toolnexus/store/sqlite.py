"""The embedded state store: runs, steps, the result cache and standalone calls, in SQLite.

WAL mode and a busy timeout make it safe for a kernel and a Jupyter server (two processes) at once;
each thread gets its own connection. Steps are committed as they finish, so a run killed with
SIGKILL loses nothing that completed and can be resumed; its owner (:mod:`toolnexus.store.owner`)
stops beating, and the run reads as ``interrupted``.

Checkpoints (copying the write-ahead log into the database, with an fsync) are taken off the
writing thread: SQLite's automatic checkpoint would stall every few hundred commits in the middle of
a run. A background thread checkpoints instead, at the end of each run and whenever the log passes
half its limit (:mod:`toolnexus.store.checkpoints`); a store that wrote truncates the log when it
closes. A commit is in the WAL file either way, so a killed process loses nothing.

The schema is versioned with Alembic (and ``PRAGMA user_version``, the one number a store reads when it opens a
current database): :mod:`toolnexus.store.schema` brings an older database up to date when a store opens it.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from functools import cached_property, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from toolnexus.core.call import ToolResult
from toolnexus.core.caller import Caller
from toolnexus.core.errors import ToolError
from toolnexus.core.events import CallFinished, Event, RunFinished, RunStarted, StepFinished
from toolnexus.core.run import RunResult, RunStatus, StepRecord, StepStatus, utcnow
from toolnexus.store.background import DeferredWriter
from toolnexus.store.checkpoints import WalLimit, checkpoint, request_checkpoint, wal_size
from toolnexus.store.owner import Heartbeat, Owner, owner_gone
from toolnexus.store.records import model_json
from toolnexus.store.schema import SCHEMA_VERSION, migrate
from toolnexus.store.sql import like_literal, upsert

log = logging.getLogger("toolnexus.store")

if TYPE_CHECKING:
    from toolnexus.store.approvals import ChangeWatch

__all__ = ["SCHEMA_VERSION", "StateStore", "StoredRun", "data_version", "migrate"]

HEARTBEAT_INTERVAL = 5.0
"""Seconds between the heartbeats of a process with runs going (``store.heartbeat_interval``)."""

WAL_MAX_BYTES = 64 * 2**20
"""The write-ahead log is kept under this size (``store.wal_max_mb``)."""

CLOSE_WAIT = 2.0
"""Seconds ``close()`` waits for readers (other processes) to let it truncate the log."""

Companion = Callable[[Sequence[Event]], None]
"""Writes alongside the store's records of outcomes, in their transaction (see :meth:`StateStore.join`)."""

# A run read back with its owner's heartbeat.
_SELECT_RUNS = ("SELECT runs.*, owners.heartbeat AS heartbeat, owners.interval AS heartbeat_interval"
                " FROM runs LEFT JOIN owners ON owners.owner = runs.owner")
_RUN_STARTED = upsert("runs", ("run_id", "mission", "mission_version", "status", "plan_hash", "inputs", "plan",
                               "source", "source_path", "resumed_from", "started_at", "pid", "host", "owner",
                               "process_start", "caller", "correlation_id"), ("run_id",))
_STEP = upsert("steps", ("run_id", "step_id", "record", "status"), ("run_id", "step_id"))
_CALL = upsert("calls", ("call_id", "tool", "version", "origin", "arguments", "result", "at", "caller",
                         "correlation_id"), ("call_id",))
_CACHED = upsert("cache", ("key", "tool", "version", "output", "cost", "created_at"), ("key",))


def _pack(text: str | None) -> bytes | None:
    """A run's plan or mission text as stored: compressed. A 100,000-step plan is 26 MB of JSON, written
    in one commit (the log cannot be checkpointed within it) and again with every update of its row; it
    compresses 40 times, at level 1 in a fraction of a millisecond per thousand steps."""
    return None if text is None else zlib.compress(text.encode(), 1)


def _unpack(value: bytes | str | None) -> str | None:
    # Text: written before plans were compressed.
    return zlib.decompress(value).decode() if isinstance(value, bytes) else value


@lru_cache(maxsize=256)
def _caller_json(caller: Caller | None) -> str | None:
    """A caller as the store keeps it: JSON (principal, tenant, surface), or NULL when the call named none.
    Cached: a surface calls as a handful of callers, and serialising one per call cost a microsecond."""
    return None if caller is None else caller.model_dump_json()


def data_version(conn: Any) -> int:
    """SQLite's ``data_version`` of ``conn``: it changes when another connection commits to the database,
    so a reader (the kill switches, a parked call's approval) knows in a microsecond whether to read again.
    (A PostgreSQL store's connection answers with the commits it was notified of.)"""
    if not isinstance(conn, sqlite3.Connection):
        return int(conn.data_version())
    (version,) = conn.execute("PRAGMA data_version").fetchone()
    return int(version)


class StoredRun:
    """A run as the store holds it: what is needed to show, compare and resume it."""

    def __init__(self, row: sqlite3.Row, steps: dict[str, StepRecord]) -> None:
        self.run_id: str = row["run_id"]
        self.mission: str = row["mission"]
        self.status = RunStatus(row["status"])
        self.plan_hash: str | None = row["plan_hash"]
        self.inputs: dict[str, Any] = json.loads(row["inputs"] or "{}")
        self._plan = row["plan"]
        self.source: str | None = _unpack(row["source"])
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
        self.owner: str | None = row["owner"]
        self.caller: Caller | None = Caller.model_validate_json(row["caller"]) if row["caller"] else None
        self.correlation_id: str | None = row["correlation_id"]
        self.heartbeat: float | None = row["heartbeat"]
        # What the store says; ``status`` is what is true: a running run whose owner is gone was interrupted.
        self.recorded_status = self.status
        if self.status == RunStatus.RUNNING and owner_gone(self.host, self.pid, row["process_start"], self.heartbeat,
                                                           row["heartbeat_interval"], time.time()):
            self.status = RunStatus.INTERRUPTED
        # Steps in plan order (the order `toolnexus plan` shows), not the order they finished in.
        order = {s["id"]: i for i, s in enumerate((self.plan or {}).get("steps", []))} if steps else {}
        self.steps = dict(sorted(steps.items(), key=lambda kv: order.get(kv[0], len(order))))

    @cached_property
    def plan(self) -> dict[str, Any] | None:
        """The compiled plan it ran (read when asked for: a big one takes a while to parse)."""
        text = _unpack(self._plan)
        return json.loads(text) if text else None

    @property
    def process_alive(self) -> bool:
        """Whether the run is still going: recorded as running, and its owner is not known to be gone."""
        return self.status == RunStatus.RUNNING

    def to_result(self) -> RunResult:
        """The stored run as the :class:`RunResult` its run returned (or would return, were it still going)."""
        return RunResult(run_id=self.run_id, mission=self.mission, status=self.status, outputs=self.outputs,
                         steps=self.steps, inputs=self.inputs, cost=self.cost or 0.0,
                         duration=self.duration or 0.0, error=self.error, resumed_from=self.resumed_from,
                         started_at=datetime.fromisoformat(self.started_at) if self.started_at else None,
                         finished_at=datetime.fromisoformat(self.finished_at) if self.finished_at else None)


class StateStore:
    """SQLite state under ``.toolnexus/state.db``; also an event sink that records runs as they happen."""

    # The events this sink records (the bus does not build the others for it).
    event_types = (RunStarted, StepFinished, RunFinished, CallFinished)
    dialect = "sqlite"  # the SQL a query that differs between databases is written in

    def __init__(self, path: str | Path, *, heartbeat_interval: float = HEARTBEAT_INTERVAL,
                 wal_max_bytes: int = WAL_MAX_BYTES) -> None:
        self.path = Path(path)
        self._prepare()
        self._local = threading.local()
        # Records already written by save_step, so the run's end rewrites only what changed.
        self._saved: dict[str, dict[str, StepRecord]] = {}
        self._opened: list[sqlite3.Connection] = []
        self._opened_lock = threading.Lock()
        self._wal = WalLimit(self.path, wal_max_bytes)
        self._wrote = False  # close() truncates the log only if this store wrote to it
        self._heartbeat = Heartbeat(self._beat, heartbeat_interval)
        # Calls made outside a run are written just after the caller's answer, many to a commit under load.
        self._calls = DeferredWriter[CallFinished](self._write_calls, name="toolnexus-store-calls")
        self._companions: list[Companion] = []
        self._migrate()

    # -- the database (what another backend replaces: toolnexus.store.postgres) -------------------

    def _prepare(self) -> None:
        """Make the database's folder."""
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def _migrate(self) -> None:
        """Bring the database's schema up to date (toolnexus.store.schema)."""
        migrate(self._conn())

    def _open(self) -> sqlite3.Connection:
        """A new connection for this thread."""
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=30000")
        conn.execute("PRAGMA wal_autocheckpoint=0")  # checkpoints are taken in the background
        # When the log starts over, its file is cut back to this size (it is never shrunk otherwise).
        conn.execute(f"PRAGMA journal_size_limit={self._wal.max_bytes // 4}")
        return conn

    def _after_run(self, run_id: str) -> None:
        """A run's end is committed: its heartbeat stops, and its log is checkpointed."""
        self._heartbeat.ended(run_id)
        # Between runs: the log of this one goes into the database, and starts over once it is big.
        big = wal_size(self.path) >= self._wal.max_bytes // 8
        request_checkpoint(self.path, "RESTART" if big else "PASSIVE")

    def _finish_closing(self) -> None:
        """The store is closed: truncate the log if this store wrote to it."""
        if self._wrote:
            self._wrote = False
            if not checkpoint(self.path, "TRUNCATE", wait=CLOSE_WAIT) and wal_size(self.path):
                log.debug("%s: the log could not be truncated (another process is reading it)", self.path)

    @property
    def where(self) -> str:
        """Where the state is, as a message names it (the database file)."""
        return str(self.path)

    def change_watch(self) -> ChangeWatch:
        """A watch telling when any connection (of any process) committed to the database since the last look."""
        from toolnexus.store.approvals import ChangeWatch

        return ChangeWatch(self.path)

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._open()
            with self._opened_lock:
                self._opened.append(conn)
        return conn

    def connection(self) -> sqlite3.Connection:
        """This thread's connection (autocommit; ``BEGIN IMMEDIATE`` for a write transaction), for the
        governance tables that live in the same database (audit, approvals, kill switches)."""
        return self._conn()

    @contextmanager
    def write(self, payload: int = 0) -> Iterator[sqlite3.Connection]:
        """A write transaction on this thread's connection: committed when the block ends, rolled back if it
        raises; ``payload`` (bytes, roughly) counts towards the write-ahead log's checkpoints. Inside a
        :meth:`batch` (or another write) of this thread, it joins that transaction: the outer one commits."""
        conn = self._conn()
        if conn.in_transaction:
            yield conn
            self._committed(payload)  # counted now: the outer transaction's commit does not know of it
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        self._committed(payload)

    @contextmanager
    def atomic(self) -> Iterator[sqlite3.Connection]:
        """All or nothing: a write transaction, or — inside one already open on this thread (a :meth:`batch`) —
        a savepoint of it, so a failure undoes only this block's writes and the batch goes on."""
        conn = self._conn()
        if not conn.in_transaction:
            with self.write() as conn:
                yield conn
            return
        conn.execute("SAVEPOINT atomic")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK TO atomic")
            conn.execute("RELEASE atomic")
            raise
        conn.execute("RELEASE atomic")

    # -- checkpoints --------------------------------------------------------------------------

    def _committed(self, payload: int = 0) -> None:
        """A commit of about ``payload`` bytes was made (or a write inside a batch, committed with it)."""
        self._wrote = True
        self._wal.wrote(self._conn(), payload)

    def flush(self) -> None:
        """Write the calls recorded so far (on an event loop they are written a moment after the call)."""
        self._calls.flush()

    def close(self) -> None:
        """Write what is pending, stop the heartbeat, close every thread's connection (a thread using the
        store afterwards opens a new one) and truncate the log if this store wrote to it."""
        self._heartbeat.stop()
        self._calls.close()
        if self._wrote:
            self._forget_owner()
        with self._opened_lock:
            opened, self._opened = self._opened, []
        for conn in opened:
            conn.close()
        self._local = threading.local()
        # Records already written by save_step, so the run's end rewrites only what changed.
        self._saved: dict[str, dict[str, StepRecord]] = {}
        self._finish_closing()

    # -- owners --------------------------------------------------------------------------------

    def _beat(self) -> None:
        owner = Owner.current()
        self._conn().execute(
            "INSERT INTO owners (owner, heartbeat, interval) VALUES (?,?,?)"
            " ON CONFLICT (owner) DO UPDATE SET heartbeat = excluded.heartbeat, interval = excluded.interval",
            (owner.id, time.time(), self._heartbeat.interval))
        self._committed()

    def _forget_owner(self) -> None:
        # Once none of its runs is going, an owner's row says nothing any more.
        owner = Owner.current().id
        try:
            self._conn().execute(
                "DELETE FROM owners WHERE owner = ? AND NOT EXISTS"
                " (SELECT 1 FROM runs WHERE owner = ? AND status = 'running')", (owner, owner))
        except Exception as exc:  # locked for too long, or the server gone: a stale row only costs a few bytes
            log.debug("could not remove owner %s: %s", owner, exc)

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
                self._wal.committed(conn)

    def join(self, companion: Companion) -> Callable[[], None]:
        """Have ``companion`` write alongside every record of an outcome: it is called with the events being
        recorded (finished steps, runs and direct calls) inside the very transaction that records them, so
        what it writes (the audit log's records) commits with them or not at all. Returns how to leave."""
        self._companions.append(companion)

        def leave() -> None:
            if companion in self._companions:
                self._companions.remove(companion)

        return leave

    def _along(self, events: Sequence[Event]) -> None:
        for companion in self._companions:
            companion(events)

    def __call__(self, event: Event) -> None:
        """Record ``event`` as it happens: a run's start and end, each finished step, and each direct call."""
        if isinstance(event, StepFinished):
            if not self._companions:
                self.save_step(event.run_id or "", event.record)
                return
            with self.atomic():  # the step and what its companions write, or neither
                self.save_step(event.run_id or "", event.record)
                self._along([event])
        elif isinstance(event, RunStarted):
            self._run_started(event)
        elif isinstance(event, RunFinished):
            with self.atomic():
                self._run_finished(event.result)
                self._along([event])
            self._after_run(event.result.run_id)
        elif isinstance(event, CallFinished) and event.call.run_id is None:
            self._call(event)

    def _run_started(self, event: RunStarted) -> None:
        owner = Owner.current()
        plan = _pack(json.dumps(event.plan)) if event.plan else None
        source = _pack(event.source)
        with self.batch():  # the run and its owner's first heartbeat together
            self._beat()
            self._conn().execute(
                _RUN_STARTED,
                (event.run_id, event.mission, event.mission_version, RunStatus.RUNNING.value, event.plan_hash,
                 json.dumps(event.inputs, default=str), plan, source, event.source_path, event.resumed_from,
                 event.at.isoformat(), owner.pid, owner.host, owner.id, owner.started, _caller_json(event.caller),
                 event.correlation_id or event.run_id))
            self._committed(len(plan or b"") + len(source or b""))
        self._heartbeat.started(event.run_id or "")

    def save_step(self, run_id: str, record: StepRecord) -> None:
        """Store ``record`` as the latest state of its step of ``run_id``, committed at once."""
        # Committed as each step finishes: a run killed mid-way keeps every step that completed.
        text = model_json(record)
        self._conn().execute(_STEP, (run_id, record.step_id, text, record.status.value))
        self._saved.setdefault(run_id, {})[record.step_id] = record
        self._committed(len(text))

    def _run_finished(self, result: RunResult) -> None:
        conn = self._conn()
        # The result's records are the final word: they include the steps kept from a resumed run
        # and those that never started, which no step_finished event announced.
        saved = self._saved.pop(result.run_id, {})
        conn.executemany(
            _STEP,
            [(result.run_id, r.step_id, model_json(r), r.status.value) for r in result.steps.values()
             if saved.get(r.step_id) is not r])
        conn.execute(
            "UPDATE runs SET status=?, finished_at=?, duration=?, cost=?, currency=?, error=?, outputs=?"
            " WHERE run_id=?",
            (result.status.value, (result.finished_at or result.started_at).isoformat(), result.duration,
             result.cost, result.currency, result.error.model_dump_json() if result.error else None,
             json.dumps(result.outputs, default=str), result.run_id))
        self._wrote = True


    def _call(self, event: CallFinished) -> None:
        self._calls.add(event)

    def _write_calls(self, events: list[CallFinished]) -> None:
        """One transaction for a batch of calls (see :class:`~toolnexus.store.background.DeferredWriter`)."""
        rows = []
        for event in events:
            result: ToolResult = event.result
            call = event.call
            rows.append((call.id, result.tool, result.version, call.origin, json.dumps(call.arguments, default=str),
                         model_json(result), event.at.isoformat(), _caller_json(call.caller), call.correlation))
        with self.atomic():
            self._conn().executemany(_CALL, rows)
            self._along(events)
            self._committed(sum(len(row[4]) + len(row[5]) for row in rows))

    # -- reading -----------------------------------------------------------------------------

    def get_run(self, run_id: str) -> StoredRun | None:
        """The run ``run_id`` with its steps; a unique prefix of an id will do. None if none (or several) match."""
        conn = self._conn()
        row = conn.execute(f"{_SELECT_RUNS} WHERE run_id = ?", (run_id,)).fetchone()
        if row is None:
            pattern = like_literal(run_id) + "%"  # a prefix, matched literally
            rows = conn.execute(f"{_SELECT_RUNS} WHERE run_id LIKE ? ESCAPE '\\' ORDER BY started_at DESC LIMIT 2",
                                (pattern,)).fetchall()
            if len(rows) != 1:
                return None
            row = rows[0]
        return StoredRun(row, self.steps(row["run_id"]))

    def steps(self, run_id: str) -> dict[str, StepRecord]:
        """The stored record of each step of ``run_id``, by step id."""
        rows = self._conn().execute("SELECT record FROM steps WHERE run_id = ?", (run_id,)).fetchall()
        return {r.step_id: r for r in (StepRecord.model_validate_json(row["record"]) for row in rows)}

    def list_runs(self, limit: int = 20, mission: str | None = None) -> list[StoredRun]:
        """The ``limit`` most recent runs (of ``mission`` only, if given), newest first, without their steps."""
        query = _SELECT_RUNS + (" WHERE mission = ?" if mission else "") + " ORDER BY started_at DESC LIMIT ?"
        rows = self._conn().execute(query, ((mission, limit) if mission else (limit,))).fetchall()
        return [StoredRun(row, {}) for row in rows]

    def mark_interrupted(self, run_id: str) -> None:
        """Record a run whose process died (SIGKILL, power loss) as interrupted (it reads so already; this
        makes it so for every reader, whatever it can tell of the owner)."""
        self._conn().execute("UPDATE runs SET status=? WHERE run_id=? AND status=?",
                             (RunStatus.INTERRUPTED.value, run_id, RunStatus.RUNNING.value))
        self._committed()

    # -- the result cache --------------------------------------------------------------------

    def cache_get(self, key: str) -> tuple[Any, float] | None:
        """The cached output of a call and what it cost, by the call's cache ``key``; None if not cached."""
        row = self._conn().execute("SELECT output, cost FROM cache WHERE key = ?", (key,)).fetchone()
        return (json.loads(row["output"]), row["cost"] or 0.0) if row else None

    def cache_put(self, key: str, tool: str, version: str, output: Any, cost: float) -> None:
        """Keep the ``output`` (and ``cost``) of a successful call of ``tool@version`` under ``key`` for reuse."""
        text = json.dumps(output, default=str)
        self._conn().execute(_CACHED, (key, tool, version, text, cost, utcnow().strftime("%Y-%m-%d %H:%M:%S")))
        self._committed(len(text))

    def step_status(self, run_id: str) -> dict[str, StepStatus]:
        """The committed status of each step of ``run_id``, by step id: cheaper than :meth:`steps` (no records)."""
        rows = self._conn().execute("SELECT step_id, status FROM steps WHERE run_id = ?", (run_id,)).fetchall()
        return {row["step_id"]: StepStatus(row["status"]) for row in rows}
