"""Slots: a run's concurrency limit, taken without a trip through the event loop when one is free."""

from __future__ import annotations

from collections import deque
from types import TracebackType

import anyio


class Slots:
    """A first-come, first-served counting semaphore for tasks of one event loop.

    anyio's ``CapacityLimiter`` always yields to the event loop on acquire, even with capacity to
    spare; for a no-op step that yield was a tenth of the engine's cost. Here a free slot is a
    counter decrement (the engine yields once per step anyway, between steps). Waiters are served in
    arrival order: a released slot goes straight to the longest waiter, so a late-comer that finds
    a slot free cannot jump the queue. A waiter cancelled after being handed a slot passes it on.
    """

    def __init__(self, total: int) -> None:
        if total < 1:
            raise ValueError(f"need at least one slot, got {total}")
        self.total = total
        self.free = total
        self._waiters: deque[anyio.Event] = deque()

    @property
    def in_use(self) -> int:
        """How many slots are taken."""
        return self.total - self.free

    async def acquire(self) -> None:
        """Take a slot: at once if one is free, else after the waiters before this one."""
        if self.free > 0:  # free slots and waiters never coexist: release hands slots to waiters
            self.free -= 1
            return
        handed = anyio.Event()
        self._waiters.append(handed)
        try:
            await handed.wait()
        except BaseException:
            if handed.is_set():
                self.release()  # given a slot as we were cancelled: it is the next waiter's
            else:
                self._waiters.remove(handed)
            raise

    def release(self) -> None:
        """Give a slot back: to the longest waiter, if any."""
        if self._waiters:
            self._waiters.popleft().set()
        else:
            self.free += 1

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        self.release()
