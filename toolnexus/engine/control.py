"""RunControl: a handle to cancel a run from anywhere (a signal handler, a widget, another thread)."""

from __future__ import annotations

import contextlib
import threading

import anyio
import anyio.from_thread
import anyio.lowlevel


class RunControl:
    """Cancel a running mission. Safe to call from the run's own event loop or from another thread."""

    def __init__(self) -> None:
        self._scope: anyio.CancelScope | None = None
        self._token: anyio.lowlevel.EventLoopToken | None = None
        self._thread: int | None = None
        self.reason: str | None = None
        self._lock = threading.Lock()

    def _attach(self, scope: anyio.CancelScope) -> None:
        with self._lock:
            self._scope = scope
            self._token = anyio.lowlevel.current_token()
            self._thread = threading.get_ident()
            pending = self.reason is not None
        if pending:
            scope.cancel()

    def _detach(self) -> None:
        """The run is over: later cancels have nothing to stop (and its event loop may be gone)."""
        with self._lock:
            self._scope = self._token = self._thread = None

    @property
    def cancelled(self) -> bool:
        """Whether the run was asked to stop (its ``reason`` says why), whether or not it has stopped yet."""
        return self.reason is not None

    def cancel(self, reason: str = "cancelled by the user") -> None:
        """Stop the run, for ``reason`` (the first reason given stands); it returns a ``cancelled`` result.

        Cancelling before the run starts stops it as it starts; after it ends, stops nothing. From another
        thread, the run's own event loop does the cancelling.
        """
        with self._lock:
            if self.reason is None:
                self.reason = reason
            scope, token, thread = self._scope, self._token, self._thread
        if scope is None:
            return  # not started yet: the run cancels itself as it attaches
        if thread == threading.get_ident():
            scope.cancel()
        else:
            # The run may end (and its loop with it) while we are cancelling it.
            with contextlib.suppress(anyio.RunFinishedError):
                anyio.from_thread.run_sync(scope.cancel, token=token)
