"""WAL checkpoints: stores leave them to one background thread, which copies the log into the
database; a database deleted meanwhile is not created again; the log stays under its configured
limit however long a run writes, and closing a store that wrote truncates it."""

from __future__ import annotations

import sqlite3
import threading
from contextlib import closing
from itertools import pairwise
from pathlib import Path

import toolnexus as tn
from tests.engine.support import wait_until
from tests.engine.tools import noop
from toolnexus.core.events import RunStarted, StepFinished
from toolnexus.core.run import StepRecord, StepStatus
from toolnexus.registry import spec_of
from toolnexus.store import StateStore
from toolnexus.store.checkpoints import checkpoint, request_checkpoint


def database_size(path: Path) -> int:
    """How big the database file is once checkpointed: its pages, as counted through the log."""
    with closing(sqlite3.connect(path)) as conn:
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        return int(pages) * int(conn.execute("PRAGMA page_size").fetchone()[0])


def fill(store: StateStore, steps: int) -> None:
    store(RunStarted(run_id="run-1", mission="m", plan_hash="h"))
    for i in range(steps):
        store(StepFinished(run_id="run-1", record=StepRecord(step_id=f"s{i}", tool="t", version="1",
                                                             status=StepStatus.SUCCEEDED, output="x" * 200)))


def test_commits_stay_in_the_log_until_a_background_checkpoint_copies_them(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    store = StateStore(db)
    try:
        fill(store, 100)
        # No checkpoint inside the commits: the database file has not grown to hold the new pages.
        assert db.stat().st_size < database_size(db)
        request_checkpoint(db)
        wait_until(lambda: db.stat().st_size == database_size(db), within=10, what="the background checkpoint")
        assert len(store.steps("run-1")) == 100
    finally:
        store.close()


def test_a_checkpoint_of_a_deleted_database_does_not_create_it(tmp_path: Path) -> None:
    missing = tmp_path / "gone" / "state.db"
    assert not checkpoint(missing)
    assert not missing.exists()
    (tmp_path / "here").mkdir()
    assert not checkpoint(tmp_path / "here" / "state.db")
    assert not (tmp_path / "here" / "state.db").exists()


def wal_bytes(db: Path) -> int:
    path = db.with_name(db.name + "-wal")
    return path.stat().st_size if path.exists() else 0


def test_the_log_stays_under_its_limit_while_a_store_writes(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    limit = 2**20
    store = StateStore(db, wal_max_bytes=limit)
    try:
        store(RunStarted(run_id="run-1", mission="m", plan_hash="h"))
        sizes = []
        for i in range(3000):  # ~30 MB of log if it were never started over
            store(StepFinished(run_id="run-1", record=StepRecord(step_id=f"s{i}", tool="t", version="1",
                                                                 status=StepStatus.SUCCEEDED, output="x" * 200)))
            sizes.append(wal_bytes(db))
        assert max(sizes) <= limit
        assert sum(1 for a, b in pairwise(sizes) if b < a) >= 1  # the log started over
        assert len(store.steps("run-1")) == 3000
    finally:
        store.close()


def test_steps_written_in_batches_keep_the_log_under_its_limit_too(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    limit = 2**20
    store = StateStore(db, wal_max_bytes=limit)
    try:
        store(RunStarted(run_id="run-1", mission="m", plan_hash="h"))
        peak = 0
        for i in range(600):
            with store.batch():  # a checkpoint cannot run inside one: it runs after the commit
                for j in range(5):
                    store(StepFinished(run_id="run-1", record=StepRecord(
                        step_id=f"s{i}-{j}", tool="t", version="1", status=StepStatus.SUCCEEDED, output="x" * 200)))
            peak = max(peak, wal_bytes(db))
        assert peak <= limit
    finally:
        store.close()


def test_closing_a_store_that_wrote_truncates_the_log(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    store = StateStore(db)
    reader = StateStore(db)  # another store on the database, still open: the log file stays, empty
    try:
        fill(store, 300)
        assert wal_bytes(db) > 1_000_000
        store.close()
        assert wal_bytes(db) == 0
        assert len(reader.steps("run-1")) == 300  # nothing was lost on the way into the database
    finally:
        reader.close()
        store.close()


def test_a_long_run_keeps_the_log_under_the_configured_limit_and_closing_truncates_it(workspace: Path) -> None:
    steps = "\n".join(f"  - id: s{i}\n    uses: eng.noop" + (f"\n    needs: s{i - 1}" if i else "")
                      for i in range(1500))
    nexus = tn.Nexus(workspace, overrides={"store.wal_max_mb": 1})
    nexus.registry.register(spec_of(noop))
    assert nexus.store is not None
    db = nexus.store.path
    peak, done = 0, threading.Event()

    def sample() -> None:  # what another process looking at the file would see, while the run goes
        nonlocal peak
        while not done.wait(0.0005):
            peak = max(peak, wal_bytes(db))

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        result = nexus.run(f"mission: long\nconcurrency: 1\nsteps:\n{steps}\n")  # ~15 MB of log unchecked
    finally:
        done.set()
        sampler.join()
        nexus.close()
    assert result.ok
    assert 0 < peak <= 2**20
    assert wal_bytes(db) == 0
