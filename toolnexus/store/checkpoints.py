"""WAL checkpoints: in the background, and from the writer only when the background falls behind.

SQLite's automatic checkpoint runs inside whichever commit crosses the threshold, so every few
hundred steps a run stood still while the log was copied into the database and synced. The stores
turn it off and ask for a checkpoint here instead; one daemon thread serves every state store of the
process, started on the first request (starting a thread per checkpoint cost milliseconds of the
requesting thread's time).

A PASSIVE checkpoint never blocks anyone, but it cannot make the log start over while commits keep
coming: a long run grew a 1 GB ``state.db-wal`` beside a 65 MB database. :class:`WalLimit` watches
the log's size from the writer and asks for a RESTART checkpoint (after a PASSIVE one has copied the
bulk without blocking, it holds the write lock only for the tail) when the log passes half its limit;
the next commit then writes from the log's start, and ``journal_size_limit`` truncates the file. Past
three quarters the writer restarts the log itself rather than let it grow (a background thread starved
of the interpreter by a busy writer can fall that far behind). A reader that keeps a snapshot open
(another process) can hold a restart off; it is tried again at the next check.

Two checkpoints of one database never run at once: SQLite refuses the second at once (without its busy
handler), so the writer's would fail whenever the background's is under way. In this process they take
turns on a lock per database.
"""

from __future__ import annotations

import logging
import os
import queue
import sqlite3
import threading
from pathlib import Path
from typing import Literal

log = logging.getLogger("toolnexus.store")

Mode = Literal["PASSIVE", "RESTART", "TRUNCATE"]

RESTART_WAIT = 0.1
"""Seconds a RESTART waits for the write lock and for readers to leave the log: writers wait meanwhile,
so not long (the next check tries again)."""

PAGE_COST = 3 * 4120
"""WAL bytes a commit writes besides its payload: a table page, an index page and one more, with
their frame headers. An over-estimate, so the log is looked at at least as often as it needs to be."""

_requests: queue.SimpleQueue[tuple[Path, Mode]] = queue.SimpleQueue()
_pending: set[tuple[Path, Mode]] = set()
_lock = threading.Lock()
_worker: threading.Thread | None = None
_turns: dict[Path, threading.Lock] = {}  # one checkpoint of a database at a time, in this process


def _turn(path: Path) -> threading.Lock:
    with _lock:
        return _turns.setdefault(path, threading.Lock())


def request_checkpoint(path: Path, mode: Mode = "PASSIVE") -> None:
    """Checkpoint the database at ``path`` soon, off the calling thread (requests already queued merge)."""
    global _worker
    with _lock:
        if (path, mode) in _pending:
            return
        _pending.add((path, mode))
        if _worker is None or not _worker.is_alive():
            _worker = threading.Thread(target=_serve, name="toolnexus-store-checkpoints", daemon=True)
            _worker.start()
    _requests.put((path, mode))


def checkpoint(path: Path, mode: Mode = "PASSIVE", wait: float = RESTART_WAIT) -> bool:
    """A checkpoint of ``path`` now, on a connection of its own; False if it could not run or finish.

    PASSIVE never blocks readers or writers, in this process or another (what a reader still needs
    stays in the log for the next one). RESTART and TRUNCATE first copy what they can that way, then
    wait up to ``wait`` seconds for the write lock and the readers to copy the rest and start the log over.
    """
    try:
        # mode=rw: a database deleted meanwhile (a test's temporary directory) is not created again.
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=rw", uri=True, timeout=30, isolation_level=None)
        try:
            with _turn(path):
                busy, _, _ = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                if mode != "PASSIVE":
                    conn.execute(f"PRAGMA busy_timeout={int(wait * 1000)}")
                    busy, _, _ = conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
        finally:
            conn.close()
    except sqlite3.Error as exc:  # the next checkpoint will do; a commit is in the log meanwhile
        log.debug("checkpoint of %s failed: %s", path, exc)
        return False
    return not busy


def wal_size(path: Path) -> int:
    """The size of the write-ahead log of the database at ``path`` (0 if there is none)."""
    try:
        return os.stat(f"{path}-wal").st_size
    except OSError:
        return 0


class WalLimit:
    """Keeps the write-ahead log of one database under ``max_bytes`` (see the module's docstring).

    The writer reports what it commits (:meth:`wrote`); every ``max_bytes / 32`` of it, the log's size
    is looked at (one ``stat``): nothing is done below half the limit.
    """

    def __init__(self, path: Path, max_bytes: int) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.check_every = max(max_bytes // 32, 1)
        self._written = 0
        self._deferred = False  # a check inside a transaction wanted the writer to restart the log

    def wrote(self, conn: sqlite3.Connection, payload: int = 0) -> None:
        """A commit of about ``payload`` bytes was made on ``conn`` (the writer's connection), or a write
        of a transaction that will commit it (then call :meth:`committed` after the commit)."""
        self._written += payload + PAGE_COST
        if self._written >= self.check_every:
            self._written = 0
            self._check(conn)

    def committed(self, conn: sqlite3.Connection) -> None:
        """A transaction committed on ``conn``: do what a check inside it could not."""
        if self._deferred:
            self._deferred = False
            self._check(conn)

    def _check(self, conn: sqlite3.Connection) -> None:
        size = wal_size(self.path)
        if size < self.max_bytes // 2:
            return
        if size < self.max_bytes * 3 // 4:
            request_checkpoint(self.path, "RESTART")
        elif conn.in_transaction:  # a checkpoint cannot run inside it
            self._deferred = True
            request_checkpoint(self.path, "RESTART")
        else:
            self._restart_here(conn)

    def _restart_here(self, conn: sqlite3.Connection) -> None:
        # The background checkpoints fell behind (or a reader held them off): this commit waits for one.
        (timeout,) = conn.execute("PRAGMA busy_timeout").fetchone()
        try:
            with _turn(self.path):  # after the background's, if one is under way
                conn.execute(f"PRAGMA busy_timeout={int(RESTART_WAIT * 1000)}")
                conn.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
        except sqlite3.Error as exc:
            log.debug("checkpoint of %s failed: %s", self.path, exc)
        finally:
            conn.execute(f"PRAGMA busy_timeout={timeout}")


def _serve() -> None:
    while True:
        path, mode = _requests.get()
        with _lock:
            _pending.discard((path, mode))
        checkpoint(path, mode)
