"""RunControl: a handle to cancel a run from anywhere (a signal handler, a widget, another thread), and to see
which of its steps are running now without taking an event per step."""

from __future__ import annotations

import contextlib
import threading

import anyio
import anyio.from_thread
import anyio.lowlevel

from toolnexus.core.run import StepRecord


class RunControl:
    """Cancel a running mission. Safe to call from the run's own event loop or from another thread.

    ``live=True``: the engine also keeps, for this run, which steps are running (:meth:`running`) and lets
    the control read the steps recorded so far (:meth:`recorded`), so a view can show them by looking now
    and then instead of taking two events for every step (the live run view's largest cost beside a fast run).
    """

    def __init__(self, *, live: bool = False) -> None:
        self.live = live
        # The run's running steps (step id → attempt, foreach items started), kept by the engine while it runs.
        self._running: dict[str, tuple[int, int]] | None = None
        self._records: dict[str, StepRecord] | None = None  # the run's recorded steps, in the order recorded
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

    def _follow(self, running: dict[str, tuple[int, int]], records: dict[str, StepRecord]) -> None:
        """The engine's maps of the run's running and recorded steps (live controls only)."""
        self._running, self._records = running, records

    def running(self) -> dict[str, tuple[int, int]]:
        """The steps running now, each as (attempt, foreach items started so far): a copy, safe from any
        thread. Empty unless the control is ``live`` and its run going."""
        running = self._running
        return running.copy() if running is not None else {}  # one step of the interpreter: no lock needed

    def recorded(self, start: int = 0) -> list[StepRecord]:
        """The run's steps recorded (committed by the state store) so far, in the order they were, from the
        ``start``-th on: a copy, safe from any thread. Empty unless the control is ``live`` and its run going
        (the run's result then has them all)."""
        records = self._records
        return list(records.values())[start:] if records is not None else []  # list(): one interpreter step

    def _detach(self) -> None:
        """The run is over: later cancels have nothing to stop (and its event loop may be gone)."""
        with self._lock:
            self._scope = self._token = self._thread = None
            self._running = self._records = None

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
