"""Run owners: a running run whose process is gone reads as interrupted — on the same host by its pid and
start time, from any host by its owner's heartbeat — and older databases are migrated to carry owners."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from tests.engine.support import wait_until
from toolnexus.core.events import RunFinished, RunStarted, StepFinished
from toolnexus.core.run import RunResult, RunStatus, StepRecord, StepStatus
from toolnexus.store import StateStore
from toolnexus.store.owner import MISSED_BEATS, Owner, process_start
from toolnexus.store.sqlite import SCHEMA_VERSION


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StateStore]:
    state = StateStore(tmp_path / "state.db", heartbeat_interval=0.05)
    yield state
    state.close()


def start(store: StateStore, run_id: str) -> None:
    store(RunStarted(run_id=run_id, mission="m", plan_hash="h", step_ids=["a"]))


def finish(store: StateStore, run_id: str) -> None:
    store(RunFinished(run_id=run_id, result=RunResult(run_id=run_id, mission="m", status=RunStatus.SUCCEEDED)))


def edit(store: StateStore, sql: str, *args: object) -> None:
    with closing(sqlite3.connect(store.path)) as conn, conn:
        conn.execute(sql, args)


def heartbeat(store: StateStore) -> float:
    with closing(sqlite3.connect(store.path)) as conn:
        return float(conn.execute("SELECT heartbeat FROM owners WHERE owner = ?", (Owner.current().id,)).fetchone()[0])


def status(store: StateStore, run_id: str) -> RunStatus:
    stored = store.get_run(run_id)
    assert stored is not None
    return stored.status


def test_a_run_names_this_process_as_its_owner_and_reads_as_running(store: StateStore) -> None:
    start(store, "run-1")
    stored = store.get_run("run-1")
    assert stored is not None
    assert stored.status == RunStatus.RUNNING and stored.process_alive
    me = Owner.current()
    assert (stored.owner, stored.pid, stored.host) == (me.id, os.getpid(), me.host)
    assert me.started is not None and me.started == process_start(os.getpid())
    assert stored.heartbeat is not None and time.time() - stored.heartbeat < 60


def test_a_pid_that_now_belongs_to_another_process_means_the_owner_is_gone(store: StateStore) -> None:
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        start(store, "run-1")
        # Our pid's slot taken by a live process that started at another time: a reused pid.
        edit(store, "UPDATE runs SET pid = ? WHERE run_id = 'run-1'", other.pid)
        assert status(store, "run-1") == RunStatus.INTERRUPTED
        # The same live process with its own start time is the owner, alive.
        edit(store, "UPDATE runs SET process_start = ? WHERE run_id = 'run-1'", process_start(other.pid))
        assert status(store, "run-1") == RunStatus.RUNNING
    finally:
        other.kill()
        other.wait()
    assert status(store, "run-1") == RunStatus.INTERRUPTED  # and once it is dead, gone


def test_on_another_host_the_heartbeat_decides(store: StateStore) -> None:
    start(store, "run-1")
    finish(store, "run-1")  # our own heartbeat stops: the row below is left as the test sets it
    wait_until(lambda: not store._heartbeat.beating, within=10, what="the heartbeat thread to end")
    edit(store, "UPDATE runs SET status = 'running', host = 'another-host', pid = 1, process_start = 'x:1'")
    edit(store, "UPDATE owners SET heartbeat = ?, interval = 5", time.time() - 5 * (MISSED_BEATS - 1))
    assert status(store, "run-1") == RunStatus.RUNNING  # a beat or two late: still counted alive
    edit(store, "UPDATE owners SET heartbeat = ?, interval = 5", time.time() - 5 * MISSED_BEATS - 1)
    assert status(store, "run-1") == RunStatus.INTERRUPTED


def test_here_a_live_owner_whose_heartbeat_is_late_is_still_running(store: StateStore) -> None:
    # A call that holds the interpreter for a minute delays the heartbeat thread; the pid says it lives.
    start(store, "run-1")
    finish(store, "run-1")
    wait_until(lambda: not store._heartbeat.beating, within=10, what="the heartbeat thread to end")
    edit(store, "UPDATE runs SET status = 'running'")
    edit(store, "UPDATE owners SET heartbeat = ?", time.time() - 3600)
    assert status(store, "run-1") == RunStatus.RUNNING


def test_the_heartbeat_beats_while_a_run_goes_and_stops_with_it(store: StateStore) -> None:
    start(store, "run-1")
    first = heartbeat(store)
    wait_until(lambda: heartbeat(store) > first, within=10, what="a second heartbeat")
    store(StepFinished(run_id="run-1", record=StepRecord(step_id="a", tool="t", version="1",
                                                         status=StepStatus.SUCCEEDED)))
    finish(store, "run-1")
    wait_until(lambda: not store._heartbeat.beating, within=10, what="the heartbeat thread to end")
    last = heartbeat(store)
    start(store, "run-2")  # a new run starts beating again
    wait_until(lambda: heartbeat(store) > last, within=10, what="a heartbeat of the second run")


def test_close_forgets_an_owner_with_no_run_going(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.db")
    start(store, "run-1")
    finish(store, "run-1")
    start(store, "run-2")  # still going when the store closes: its owner's row stays
    store.close()
    with closing(sqlite3.connect(tmp_path / "state.db")) as conn:
        assert conn.execute("SELECT count(*) FROM owners").fetchone()[0] == 1
    store = StateStore(tmp_path / "state.db")
    finish(store, "run-2")
    store.close()
    with closing(sqlite3.connect(tmp_path / "state.db")) as conn:
        assert conn.execute("SELECT count(*) FROM owners").fetchone()[0] == 0


OLD_SCHEMA = """
CREATE TABLE runs (
  run_id TEXT PRIMARY KEY, mission TEXT NOT NULL, mission_version TEXT, status TEXT NOT NULL,
  plan_hash TEXT, inputs TEXT, plan TEXT, source TEXT, source_path TEXT, resumed_from TEXT,
  started_at TEXT, finished_at TEXT, duration REAL, cost REAL, currency TEXT, error TEXT, outputs TEXT,
  pid INTEGER, host TEXT
);
CREATE INDEX runs_by_mission ON runs (mission, started_at);
CREATE TABLE steps (
  run_id TEXT NOT NULL, step_id TEXT NOT NULL, record TEXT NOT NULL, status TEXT NOT NULL,
  PRIMARY KEY (run_id, step_id)
);
CREATE TABLE cache (
  key TEXT PRIMARY KEY, tool TEXT NOT NULL, version TEXT NOT NULL, output TEXT, cost REAL, created_at TEXT
);
CREATE TABLE calls (
  call_id TEXT PRIMARY KEY, tool TEXT, version TEXT, origin TEXT, arguments TEXT, result TEXT, at TEXT
);
"""


def test_a_database_from_before_owners_is_migrated_and_keeps_its_runs(tmp_path: Path) -> None:
    import socket

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    db = tmp_path / "state.db"
    with closing(sqlite3.connect(db)) as conn, conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.executescript(OLD_SCHEMA)
        for run_id, pid, host in (("run-old-dead", dead.pid, socket.gethostname()), ("run-old-far", 1, "far-away")):
            conn.execute("INSERT INTO runs (run_id, mission, status, started_at, pid, host)"
                         " VALUES (?, 'm', 'running', '2024-01-01T00:00:00+00:00', ?, ?)", (run_id, pid, host))
    store = StateStore(db)
    try:
        with closing(sqlite3.connect(db)) as conn:
            assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
            columns = {row[1] for row in conn.execute("PRAGMA table_info(runs)")}
            assert {"owner", "process_start"} <= columns
        # Written without an owner: judged by the pid on its own host, left as it says elsewhere.
        assert status(store, "run-old-dead") == RunStatus.INTERRUPTED
        assert status(store, "run-old-far") == RunStatus.RUNNING
        start(store, "run-new")
        assert status(store, "run-new") == RunStatus.RUNNING
    finally:
        store.close()
    StateStore(db).close()  # opening a current database again changes nothing
    with closing(sqlite3.connect(db)) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert conn.execute("SELECT count(*) FROM runs").fetchone()[0] == 3
