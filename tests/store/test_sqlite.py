"""What only the SQLite store does: its database in WAL mode, and two processes writing one database file at once
without losing anything (what every backend does is in test_conformance.py)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.store.writer import write
from toolnexus.core.run import RunStatus
from toolnexus.store import StateStore

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "state" / "state.db"


@pytest.fixture
def store(db: Path) -> Iterator[StateStore]:
    state = StateStore(db)
    yield state
    state.close()


def test_the_database_is_in_wal_mode(store: StateStore) -> None:
    store.list_runs()
    with sqlite3.connect(store.path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_two_processes_writing_one_database_lose_nothing(db: Path, tmp_path: Path) -> None:
    go = tmp_path / "go"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    count = 60
    writers = [subprocess.Popen([sys.executable, "-m", "tests.store.writer", str(db), name, str(count), str(go)],
                                env=env, stderr=subprocess.PIPE) for name in ("p1", "p2")]
    try:
        go.write_text("")  # both start writing together (each waits for this file)
        write(str(db), "p0", count, str(go))  # and this process writes at the same time
        for proc in writers:
            _, err = proc.communicate(timeout=60)
            assert proc.returncode == 0, err.decode()
    finally:
        for proc in writers:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    store = StateStore(db)
    try:
        runs = store.list_runs(limit=10_000)
        assert len(runs) == 3 * count
        assert all(r.status == RunStatus.SUCCEEDED for r in runs)
        for name in ("p0", "p1", "p2"):
            assert len(store.list_runs(limit=10_000, mission=f"mission-{name}")) == count
            last = store.get_run(f"run-{name}-{count - 1:04d}")
            assert last is not None and set(last.steps) == {"a", "b"}
            assert store.cache_get(f"{name}-{count - 1}") == ({"i": count - 1}, 0.0)
        with sqlite3.connect(db) as conn:
            assert conn.execute("SELECT count(*) FROM steps").fetchone()[0] == 3 * count * 2
            assert conn.execute("SELECT count(*) FROM cache").fetchone()[0] == 3 * count
    finally:
        store.close()


