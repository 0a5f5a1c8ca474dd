"""The calls running in this process, so a kill switch can stop them.

The invocation pipeline registers each call's runtime stage here (:meth:`InFlightCalls.running`) with a
``stop`` callable that cancels it; a kill switch stops the ones it matches, from any thread. The
registry is process-wide (:data:`IN_FLIGHT`): a switch stops the calls of every Nexus of the process.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import anyio
import anyio.from_thread
import anyio.lowlevel

Stop = Callable[[str], None]
"""Cancels a running call; takes the reason. Safe to call from any thread, more than once."""


@dataclass(slots=True)
class InFlight:
    """One running call: its id, tool and tenant, and how to stop it. ``stopped`` is why it was stopped."""

    call_id: str
    tool: str
    tenant: str | None
    stop: Stop = field(repr=False)
    stopped: str | None = None


class InFlightCalls:
    """The running calls of this process, by call id."""

    def __init__(self) -> None:
        self._calls: dict[int, InFlight] = {}
        self._lock = threading.Lock()
        self.busy = threading.Event()
        """Set while a call runs: a watcher sleeps on it instead of polling an idle process."""

    @contextmanager
    def running(self, call_id: str, tool: str, tenant: str | None, stop: Stop) -> Iterator[InFlight]:
        """Within the block, the call is in flight (a kill switch may stop it; ``stopped`` then says why)."""
        flight = InFlight(call_id, tool, tenant, stop)
        key = id(flight)  # a call id may run twice at once (a retried step racing its first attempt)
        with self._lock:
            self._calls[key] = flight
            self.busy.set()
        try:
            yield flight
        finally:
            with self._lock:
                del self._calls[key]
                if not self._calls:
                    self.busy.clear()

    def calls(self) -> list[InFlight]:
        """The calls running now."""
        with self._lock:
            return list(self._calls.values())

    def stop(self, matches: Callable[[InFlight], str | None]) -> list[InFlight]:
        """Stop every running call for which ``matches`` gives a reason; the calls stopped."""
        stopped = []
        for flight in self.calls():
            reason = matches(flight)
            if reason is not None and flight.stopped is None:
                flight.stopped = reason
                flight.stop(reason)
                stopped.append(flight)
        return stopped

    def __len__(self) -> int:
        return len(self._calls)


IN_FLIGHT = InFlightCalls()
"""This process's running calls (every Invoker registers its calls here)."""


def cancelling(scope: anyio.CancelScope) -> Stop:
    """A :data:`Stop` that cancels ``scope`` (entered in the running event loop) from any thread."""
    loop_thread = threading.get_ident()
    token = anyio.lowlevel.current_token()

    def stop(reason: str) -> None:
        if threading.get_ident() == loop_thread:
            scope.cancel()
            return
        with contextlib.suppress(RuntimeError):  # the event loop is gone, and the call with it
            anyio.from_thread.run_sync(scope.cancel, token=token)

    return stop
