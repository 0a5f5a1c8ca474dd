"""Debouncing for widgets: run a function once input has been quiet for a while (on the kernel's loop)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any, Protocol

DEBOUNCE_SECONDS = 0.2


class Handle(Protocol):
    """A scheduled call that can be cancelled (a timer or an event-loop handle)."""

    def cancel(self) -> Any:
        """Keep the call from running."""
        ...


Scheduler = Callable[[float, Callable[[], None]], Handle]


def default_scheduler(delay: float, callback: Callable[[], None]) -> Handle:
    """Run ``callback`` after ``delay`` seconds: on the kernel's event loop when there is one, else a timer."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        timer = threading.Timer(delay, callback)
        timer.daemon = True
        timer.start()
        return timer
    return loop.call_later(delay, callback)


class Debouncer:
    """Calls a function once input has been quiet for ``delay`` seconds (each new call restarts the wait)."""

    def __init__(self, function: Callable[[], None], delay: float = DEBOUNCE_SECONDS,
                 scheduler: Scheduler = default_scheduler) -> None:
        self.function = function
        self.delay = delay
        self.scheduler = scheduler
        self._pending: Handle | None = None
        self._lock = threading.Lock()

    def __call__(self) -> None:
        """Schedule the function ``delay`` seconds from now, cancelling a call still waiting."""
        with self._lock:
            if self._pending is not None:
                self._pending.cancel()
            self._pending = self.scheduler(self.delay, self._fire)

    def _fire(self) -> None:
        with self._lock:
            self._pending = None
        self.function()

    @property
    def pending(self) -> bool:
        """Whether a call is scheduled and has not run yet."""
        return self._pending is not None

    def flush(self) -> None:
        """Run a pending call now (for tests and for "press Enter")."""
        with self._lock:
            pending, self._pending = self._pending, None
        if pending is not None:
            pending.cancel()
            self.function()
