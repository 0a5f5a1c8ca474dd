"""One daemon thread that calls functions later, for every live run view of the process.

A ``threading.Timer`` per delayed render would start a thread each time (and ``Thread.start`` waits for it
to run: a hand-over of the GIL in the middle of the run being shown); this thread is started once and
told of a new deadline by a condition variable.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger("toolnexus.notebook")


class Ticker:
    """Calls each function handed to :meth:`call_later` once its wait is over, on a thread of its own."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._due: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()  # equal deadlines keep their order (and functions are never compared)
        self._thread: threading.Thread | None = None

    def call_later(self, wait: float, fn: Callable[[], None]) -> None:
        """Call ``fn`` in ``wait`` seconds (from the ticker's thread; an exception is logged, not raised)."""
        with self._cond:
            heapq.heappush(self._due, (time.monotonic() + wait, next(self._order), fn))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="toolnexus-ticker", daemon=True)
                self._thread.start()
            elif self._due[0][2] is fn:  # the earliest now: wake the thread to wait less
                self._cond.notify()

    def _next(self) -> Callable[[], None]:
        with self._cond:
            while True:
                wait = self._due[0][0] - time.monotonic() if self._due else None
                if wait is not None and wait <= 0:
                    return heapq.heappop(self._due)[2]
                self._cond.wait(wait)

    def _run(self) -> None:
        while True:
            fn = self._next()
            try:
                fn()
            except Exception:  # a view's bug must not stop the others' renders
                log.exception("a delayed call of the live run view failed")


ticker = Ticker()
