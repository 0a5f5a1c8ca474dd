"""WAL checkpoints in the background: one daemon thread serves every state store of the process.

SQLite's automatic checkpoint runs inside whichever commit crosses the threshold, so every few
hundred steps a run stood still while the log was copied into the database and synced. The stores
turn it off and ask for a checkpoint here instead; the thread is started once, on the first request
(starting a thread per checkpoint cost milliseconds of the requesting thread's time).
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
from pathlib import Path

log = logging.getLogger("toolnexus.store")

_requests: queue.SimpleQueue[Path] = queue.SimpleQueue()
_pending: set[Path] = set()
_lock = threading.Lock()
_worker: threading.Thread | None = None


def request_checkpoint(path: Path) -> None:
    """Checkpoint the database at ``path`` soon, off the calling thread (requests already queued merge)."""
    global _worker
    with _lock:
        if path in _pending:
            return
        _pending.add(path)
        if _worker is None or not _worker.is_alive():
            _worker = threading.Thread(target=_serve, name="toolnexus-store-checkpoints", daemon=True)
            _worker.start()
    _requests.put(path)


def checkpoint(path: Path) -> bool:
    """A PASSIVE checkpoint of ``path`` now: it never blocks readers or writers, in this process or
    another (what a reader still needs stays in the log for the next one). False if it could not run."""
    try:
        # mode=rw: a database deleted meanwhile (a test's temporary directory) is not created again.
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=rw", uri=True, timeout=30, isolation_level=None)
        try:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        finally:
            conn.close()
    except sqlite3.Error as exc:  # the next checkpoint will do; a commit is in the log meanwhile
        log.debug("checkpoint of %s failed: %s", path, exc)
        return False
    return True


def _serve() -> None:
    while True:
        path = _requests.get()
        with _lock:
            _pending.discard(path)
        checkpoint(path)
