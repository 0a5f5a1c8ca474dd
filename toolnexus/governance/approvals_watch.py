"""One look at the database for every call waiting for an approval in an event loop, however many wait.

A waiting call registers its ticket with the loop's :class:`Watcher` and waits. One of the waiting calls at a
time — the leader — looks at ``PRAGMA data_version`` every :data:`POLL` seconds; when the database moved, it
asks in one query which of the waiting tickets were decided, and wakes the waiting calls only if any was.
When the leader stops waiting (its ticket decided, its deadline near, cancelled), it wakes the others and
one of them leads. So 500 parked calls cost one look per poll, not 500 (and no task of its own to manage).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import anyio
import anyio.lowlevel

from toolnexus.store.approvals import ApprovalsTable

POLL = 0.025
"""Seconds between two looks at the database while calls wait (a look costs about a microsecond)."""


class Watcher:
    """The calls waiting for a decision in one event loop, and the connection that watches for them."""

    def __init__(self, table: ApprovalsTable) -> None:
        self.table = table
        self.watch = table.store.change_watch()
        self.watch.changed()  # the version from which changes count
        self.waiting: set[str] = set()
        self.ready: set[str] = set()  # waiting tickets seen decided
        self.leading = False
        self._woken = anyio.Event()

    async def until_decided(self, ticket: str, timeout: float) -> bool:
        """Wait until ``ticket`` may have been decided (True) or ``timeout`` seconds pass (False)."""
        with anyio.move_on_after(timeout):
            while ticket not in self.ready:
                if self.leading:
                    await self._woken.wait()
                else:
                    await self._lead(ticket)
        return ticket in self.ready

    async def _lead(self, ticket: str) -> None:
        """Look at the database for everyone until ``ticket`` is decided; then (or when cancelled) hand over."""
        self.leading = True
        try:
            while ticket not in self.ready:
                await anyio.sleep(POLL)
                if self.watch.changed():
                    self.look()
        finally:
            self.leading = False
            self._wake()  # the others look again, and one of them leads

    def look(self) -> None:
        """Find the waiting tickets decided since the last look; wake their calls."""
        decided = self.table.decided_among(self.waiting - self.ready, self.watch.conn)
        if decided:
            self.ready |= decided
            self._wake()

    def _wake(self) -> None:
        self._woken.set()
        self._woken = anyio.Event()

    def close(self) -> None:
        """Close the watching connection."""
        self.watch.close()


class Watchers:
    """A :class:`Watcher` per event loop (a Nexus may be used from several threads), while calls wait in it."""

    def __init__(self, table: ApprovalsTable) -> None:
        self.table = table
        self._by_loop: dict[object, Watcher] = {}
        self._lock = threading.Lock()

    @contextmanager
    def waiting(self, ticket: str) -> Iterator[Watcher]:
        """Register ``ticket`` as waiting in the current event loop for the block; its loop's watcher."""
        loop = anyio.lowlevel.current_token()
        with self._lock:
            watcher = self._by_loop.get(loop)
            if watcher is None:
                watcher = self._by_loop[loop] = Watcher(self.table)
            watcher.waiting.add(ticket)
        try:
            yield watcher
        finally:
            with self._lock:
                watcher.waiting.discard(ticket)
                watcher.ready.discard(ticket)
                if not watcher.waiting:
                    del self._by_loop[loop]
                    watcher.close()
