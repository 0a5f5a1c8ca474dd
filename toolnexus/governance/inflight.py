"""The calls running in this process, so a kill switch can stop them.

The invocation pipeline registers each call's runtime stage here (:meth:`InFlightCalls.add`) with the
cancel scope it runs in; a kill switch stops the ones it matches, from any thread. Each invoker (each
Nexus) has its own registry, watched by the kill switches of its own state store.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable

import anyio
import anyio.from_thread
import anyio.lowlevel


class InFlight:
    """One running call: its id, tool and tenant, and the cancel scope of its runtime stage. ``stopped`` says
    why it was stopped (None while it was not)."""

    __slots__ = ("call_id", "scope", "stopped", "tenant", "thread", "token", "tool")

    def __init__(self, call_id: str, tool: str, tenant: str | None, scope: anyio.CancelScope) -> None:
        self.call_id = call_id
        self.tool = tool
        self.tenant = tenant
        self.scope = scope
        # Where the scope lives: cancelling it from another thread goes through its event loop.
        self.thread = threading.get_ident()
        self.token = anyio.lowlevel.current_token()
        self.stopped: str | None = None

    def stop(self, reason: str) -> None:
        """Cancel the call (from any thread), recording ``reason``; the runtime kills what it started."""
        self.stopped = reason
        if threading.get_ident() == self.thread:
            self.scope.cancel()
            return
        # Handed to a thread of its own: the caller may be another event loop, which must not block on this one
        # (two loops stopping each other's calls would wait for each other forever). Stops are rare.
        threading.Thread(target=self._cancel_from_thread, name="toolnexus-stop-call", daemon=True).start()

    def _cancel_from_thread(self) -> None:
        with contextlib.suppress(RuntimeError):  # the event loop is gone, and the call with it
            anyio.from_thread.run_sync(self.scope.cancel, token=self.token)

    def __repr__(self) -> str:
        return f"InFlight({self.call_id!r}, {self.tool!r}, tenant={self.tenant!r}, stopped={self.stopped!r})"


class InFlightCalls:
    """The running calls of this process. Adding and removing one costs about a microsecond: every call does."""

    def __init__(self) -> None:
        self._calls: dict[int, InFlight] = {}
        self._lock = threading.Lock()
        self.busy = threading.Event()
        """Set while a call runs: a watcher sleeps on it instead of polling an idle process."""

    def add(self, call_id: str, tool: str, tenant: str | None, scope: anyio.CancelScope) -> InFlight:
        """Register a call whose runtime stage runs in ``scope`` (entered in this thread's event loop);
        :meth:`remove` it when the stage is over."""
        flight = InFlight(call_id, tool, tenant, scope)
        with self._lock:
            if not self._calls:
                self.busy.set()
            # By object: a call id may run twice at once (a retried step racing its first attempt).
            self._calls[id(flight)] = flight
        return flight

    def remove(self, flight: InFlight) -> None:
        """The call of ``flight`` is over."""
        with self._lock:
            del self._calls[id(flight)]
            if not self._calls:
                self.busy.clear()

    def calls(self) -> list[InFlight]:
        """The calls running now."""
        with self._lock:
            return list(self._calls.values())

    def stop(self, matches: Callable[[InFlight], str | None]) -> list[InFlight]:
        """Stop every running call not yet stopped for which ``matches`` gives a reason; the calls stopped."""
        stopped = []
        for flight in self.calls():
            if flight.stopped is None and (reason := matches(flight)) is not None:
                flight.stop(reason)
                stopped.append(flight)
        return stopped

    def __len__(self) -> int:
        return len(self._calls)

