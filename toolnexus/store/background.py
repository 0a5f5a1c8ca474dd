"""Records written by a thread of their own, a batch per transaction: the calls made outside a run.

A tool called on its own (over MCP, from the CLI or Python) is recorded in the state store, and that
commit took a tenth of a millisecond or more of the caller's thread — on an MCP server, the event loop
that answers every client. :class:`BackgroundWriter` takes the record and returns; its thread writes
whatever has queued up since its last commit in one transaction, so under load many calls share a
commit. :meth:`BackgroundWriter.flush` waits until everything queued so far is written (the store's
``flush`` and ``close`` do, and every writer is flushed when the interpreter exits).

Runs are not written this way: a step counts as done only once its commit is made (see the engine).
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import weakref
from collections.abc import Callable
from typing import Generic, TypeVar

log = logging.getLogger("toolnexus.store")

T = TypeVar("T")

_writers: weakref.WeakSet[BackgroundWriter[object]] = weakref.WeakSet()


class BackgroundWriter(Generic[T]):
    """Hands items to ``write`` (a list at a time) on a daemon thread started by the first item."""

    def __init__(self, write: Callable[[list[T]], None], name: str) -> None:
        self._write = write
        self._name = name
        self._reset()
        _writers.add(self)  # type: ignore[arg-type]

    def _reset(self) -> None:
        self._cond = threading.Condition()
        self._pending: list[T] = []
        self._queued = 0  # items ever queued
        self._done = 0  # items written (or given up on: a failed batch is logged, not retried)
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._pid = os.getpid()

    def add(self, item: T) -> None:
        """Queue ``item``; it is written soon, on the writer's thread."""
        if self._pid != os.getpid():  # a forked child has none of the parent's thread (or its lock's state)
            self._reset()
        with self._cond:
            self._pending.append(item)
            self._queued += 1
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
            self._cond.notify()

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until everything queued before this call is written; False if ``timeout`` ran out first."""
        if self._pid != os.getpid():
            return True
        with self._cond:
            target = self._queued
            return self._cond.wait_for(lambda: self._done >= target or self._thread is None, timeout)

    def close(self, timeout: float = 30.0) -> None:
        """Write what is queued and stop the thread (the next item starts a new one)."""
        if self._pid != os.getpid():
            return
        with self._cond:
            thread = self._thread
            if thread is None:
                return
            self._stopping = True
            self._cond.notify()
        thread.join(timeout)
        with self._cond:
            self._thread = None
            self._stopping = False

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._pending or self._stopping)
                batch, self._pending = self._pending, []
                if not batch:  # stopping, and nothing left
                    return
            try:
                self._write(batch)
            except Exception:  # a full disk, a database locked for too long: say so, keep serving
                log.exception("%s: could not write %d record(s)", self._name, len(batch))
            with self._cond:
                self._done += len(batch)
                self._cond.notify_all()


@atexit.register
def _flush_all() -> None:
    # Daemon threads still run while atexit handlers do: what was queued is written before the exit.
    for writer in list(_writers):
        writer.flush(timeout=10.0)
