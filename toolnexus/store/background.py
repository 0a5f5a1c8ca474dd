"""Records written a moment after the caller moved on, a batch per transaction: calls made outside a run.

A tool called on its own (over MCP, from the CLI or Python) is recorded in the state store, and that
commit took a tenth of a millisecond or more of the caller's time — on an MCP server, time of the event
loop that answers every client, spent before the answer went out. :class:`DeferredWriter` takes the
record and returns. Called on an event loop, it writes :data:`DELAY` seconds later on that loop: after
the answer has gone out, and in one transaction with every record that came in meanwhile (under load,
many calls share a commit). No thread is involved: a writer thread would take the interpreter lock from
the loop at every call. Called without a running loop (a script, a worker thread) it writes at once.

:meth:`DeferredWriter.flush` writes what is waiting, from any thread; the store's ``flush`` and
``close`` do, and every writer is flushed when the interpreter exits. Runs are not written this way: a
step counts as done only once its commit is made (see the engine).
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import threading
import weakref
from collections.abc import Callable
from typing import Generic, TypeVar

log = logging.getLogger("toolnexus.store")

T = TypeVar("T")

# Seconds a record waits for others to share its commit (and for the answer to go out). A commit costs
# about as much as a no-op MCP call's own work in the store: at a few hundred calls a second, 20 ms puts
# several calls in each; a crash loses at most this much of the record, an orderly exit nothing.
DELAY = 0.02

_writers: weakref.WeakSet[DeferredWriter[object]] = weakref.WeakSet()


class DeferredWriter(Generic[T]):
    """Hands items to ``write`` (a list at a time): soon on the caller's event loop, or at once without one."""

    def __init__(self, write: Callable[[list[T]], None], name: str) -> None:
        self._write = write
        self.name = name
        self._lock = threading.Lock()
        self._pending: list[T] = []
        self._timer: asyncio.TimerHandle | None = None
        self._timer_loop: asyncio.AbstractEventLoop | None = None  # the loop the timer is due on
        self._writing = 0  # batches taken but not yet written (flush waits for them)
        self._written = threading.Condition(self._lock)
        _writers.add(self)  # type: ignore[arg-type]

    def add(self, item: T) -> None:
        """Queue ``item``: written :data:`DELAY` seconds from now on the running loop, or now without one."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        with self._lock:
            self._pending.append(item)
            if loop is not None:
                # One timer per DELAY, not one per record: a timer already due on this loop writes this one too.
                # (A timer due on another loop — one that has ended, whose timer will never fire — does not count.)
                if self._timer is None or self._timer_loop is not loop:
                    self._timer, self._timer_loop = loop.call_later(DELAY, self._drain), loop
                return
        self._drain()

    def flush(self, timeout: float = 30.0) -> bool:
        """Write what is waiting now, and wait for batches other threads are writing; False on timeout."""
        self._drain()
        with self._written:
            return self._written.wait_for(lambda: self._writing == 0, timeout)

    def take(self) -> list[T]:
        """The items waiting, handed to the caller instead of written (it writes them in a transaction of its
        own choosing, e.g. together with the records they belong with)."""
        with self._lock:
            # The timer stays due: the records added next are written by it (a mission step takes the decisions
            # waiting, and its next call adds one: a new timer each time cost a loop callback per step).
            taken, self._pending = self._pending, []
            return taken

    def close(self) -> None:
        """Write what is waiting (the writer stays usable)."""
        self.flush()

    def _drain(self) -> None:
        with self._lock:
            batch, self._pending = self._pending, []
            # A timer still due finds nothing to write (cancelling it from another thread would not be safe).
            self._timer = None
            if not batch:
                return
            self._writing += 1
        try:
            self._write(batch)
        except Exception:  # a full disk, a database locked for too long: say so, keep serving
            log.exception("%s: could not write %d record(s)", self.name, len(batch))
        finally:
            with self._written:
                self._writing -= 1
                self._written.notify_all()


def flush_all(timeout: float = 10.0) -> None:
    """Write what every writer holds. For a caller whose event loop has ended (``anyio.run`` returned): the
    writes it timed on that loop would otherwise wait for the next record, or the interpreter's exit."""
    for writer in list(_writers):
        writer.flush(timeout=timeout)


atexit.register(flush_all)
