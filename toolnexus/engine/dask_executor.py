"""The Dask executor: each call's runtime runs on a Dask distributed worker; the engine stays the scheduler.

``executor = "dask"`` (or ``Nexus(executor="dask")``, ``toolnexus run --executor dask``) starts a
``distributed.LocalCluster`` of worker processes for the run and closes it with the run (with the last run
holding it); ``dask://host:8786`` uses a running cluster (dask-kubernetes, dask-gateway, Coiled — anything a
``distributed.Client`` connects to) and leaves it running.

Only the runtime stage moves: the engine on this side resolves the tool, validates the arguments, chooses the
runtime, asks the gate, and then — instead of awaiting the runtime here — submits a task
(:func:`toolnexus.engine.dask_worker.run_call`) and awaits its future; the outcome comes back as data and the
engine checks, records, tracks and audits it as for a local call. So governance, budgets, retries, caching,
``foreach`` and resume behave the same with either executor. Calls to remote MCP servers stay here (their
connections live in this process).

Cancelling the awaiting task (Ctrl-C, a notebook's Cancel, a kill switch, a timeout) cancels the future and
tells the workers to stop the call (:func:`~toolnexus.engine.dask_worker.cancel_calls`): its runtime kills what
it started there. A worker lost mid-call: Dask starts the call again on another worker, unless the tool has
side effects and is not declared idempotent (it then fails clearly rather than running twice); when Dask gives
up on it (``KilledWorker``), the call fails with a retryable error, so the step's ``retry`` decides.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import importlib.util
import itertools
import logging
import os
import sys
import threading
from collections.abc import AsyncIterator
from typing import Any

import anyio
import anyio.to_thread

from toolnexus.core.call import ToolCall
from toolnexus.core.errors import ErrorKind, ToolError
from toolnexus.core.remote import RemoteValue, is_remote, note_remote, remote_refs, remote_seen, resolve_remote
from toolnexus.core.runtime import Runtime, RuntimeOutcome
from toolnexus.core.spec import REMOTE_RUNTIMES, Limits, ToolSpec
from toolnexus.engine.dask_worker import STARTED_PREFIX, Job, Profile, Reply, cancel_calls, run_call
from toolnexus.engine.executor import ExecutorOptions
from toolnexus.errors import Unavailable

log = logging.getLogger("toolnexus.engine")

LOCAL_RUNTIMES = REMOTE_RUNTIMES  # runtimes whose calls stay in this process (their connections live here)


class DaskExecutor:
    """Runs each call's runtime on a Dask worker (see the module's docstring)."""

    name = "dask"

    def __init__(self, options: ExecutorOptions | None = None) -> None:
        if importlib.util.find_spec("distributed") is None:
            raise ValueError("the dask executor needs Dask distributed: pip install 'toolnexus[dask]'")
        self.options = options or ExecutorOptions()
        self.address = self.options.address
        self._lock = threading.Lock()
        self._client: Any = None
        self._cluster: Any = None
        self._sessions = 0
        self._keys = itertools.count()
        self._prefix = f"toolnexus-{os.getpid()}-{id(self):x}-"
        self._canceller = _Canceller(self)
        self._borrowed = False  # the client is the caller's (from_client): never closed here
        self._profile: Profile | None = None  # what the workers build runtimes from (made on first use)
        self._kept: dict[str | None, list[str]] = {}  # the outputs kept on the workers, by the run that made them

    @classmethod
    def from_client(cls, client: Any, options: ExecutorOptions | None = None) -> DaskExecutor:
        """An executor on the cluster ``client`` is connected to (a dask-gateway or Coiled cluster's client,
        made with its credentials); the client stays the caller's: closing the executor leaves it open."""
        executor = cls(options)
        executor._client, executor._borrowed = client, True
        return executor

    def bind(self, settings: Any, context: Any) -> None:
        """Take the Nexus's settings and tool context, when it was made without them (``from_client``): the
        workers build their runtimes from them."""
        if self.options.settings is None:
            self.options = ExecutorOptions(self.address, settings, context)
            self._profile = None

    # -- the cluster ------------------------------------------------------------------------------

    @property
    def client(self) -> Any:
        """The ``distributed.Client`` (connected, or its cluster started, on first need)."""
        with self._lock:
            if self._client is None:
                self._client = self._connect()
            return self._client

    def _connect(self) -> Any:
        from distributed import Client, LocalCluster

        if self.address is not None:
            address = self.address if "://" in self.address else f"tcp://{self.address}"
            return Client(address, set_as_default=False)
        dask = getattr(self.options.settings, "dask", None)
        spawnable_main()
        self._cluster = LocalCluster(
            n_workers=getattr(dask, "workers", None), threads_per_worker=getattr(dask, "threads_per_worker", 1),
            processes=True, dashboard_address=":0", silence_logs=logging.WARNING)
        return Client(self._cluster, set_as_default=False)

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[None]:
        """Held by the engine around each run: a cluster this executor started closes when the last run
        holding it ends, its worker processes gone before the run returns (a cluster given by address stays
        up, and so does the connection to it)."""
        with self._lock:
            self._sessions += 1
        try:
            yield
        finally:
            with self._lock:
                self._sessions -= 1
                last = self._sessions == 0 and self._cluster is not None
            if last:
                with anyio.CancelScope(shield=True):
                    await anyio.to_thread.run_sync(self.close)

    def _make_profile(self) -> Profile:
        """The settings and tool context the workers build runtimes from, named once."""
        self._profile = Profile.of(self.options.settings, self.options.context)
        return self._profile

    def close(self) -> None:
        """Disconnect; close the cluster this executor started."""
        with self._lock:
            kept = [ref for refs in self._kept.values() for ref in refs]
            self._kept.clear()
            client = self._client
        if client is not None:  # outputs still kept (those of direct calls) are let go of first
            _unpublish(client, kept)
        with self._lock:
            if self._borrowed:
                return
            client, cluster = self._client, self._cluster
            self._client = self._cluster = None
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()

    # -- calls ------------------------------------------------------------------------------------

    async def submit(self, runtime: Runtime, spec: ToolSpec, call: ToolCall, limits: Limits) -> RuntimeOutcome:
        """Run ``call`` on a worker (or here, for a runtime whose connections live here); its outcome."""
        refs = remote_refs(call.arguments) if remote_seen() else set()
        if runtime.name in LOCAL_RUNTIMES and not refs:
            return await runtime.invoke(spec, call, limits)
        client = self._client or await anyio.to_thread.run_sync(lambda: self.client)
        if runtime.name in LOCAL_RUNTIMES:  # its connections live here: the remote values it takes come here too
            values = await anyio.to_thread.run_sync(self._fetch, client, refs)
            call = call.model_copy(update={"arguments": resolve_remote(call.arguments, values.__getitem__)})
            return await runtime.invoke(spec, call, limits)
        try:
            kept = await anyio.to_thread.run_sync(self._datasets, client, refs) if refs else None
        except RemoteGone as gone:
            return RuntimeOutcome(error=ToolError(
                kind=ErrorKind.RUNTIME_ERROR, message=f"{spec.ref}: the output {gone} it takes, kept on the Dask "
                "workers, is gone (its cluster was closed): run the step that made it again"))
        profile = self._profile or self._make_profile()
        key = f"{self._prefix}{next(self._keys)}"
        job = Job(key=key, runtime=runtime.name, spec=spec, call=call, limits=limits, profile=profile,
                  fn=spec.callable, once=not spec.is_idempotent, large_output=self._large_output)
        future = client.submit(run_call, job, kept, key=key, pure=False)
        try:
            reply: Reply = await _result(future)
        except anyio.get_cancelled_exc_class():
            self._canceller.add(future, key)
            raise
        except Exception as exc:  # the task failed in Dask itself: its worker lost too often, the cluster gone
            return RuntimeOutcome(error=_dask_error(spec, exc))
        finally:
            if job.once:  # its future is settled or cancelled: Dask starts it no more, its mark can go
                self._canceller.unmark(key)
        if is_remote(reply.output):
            self._kept_by(call.run_id, reply.output)
        return reply.outcome()

    # -- large outputs kept on the workers ------------------------------------------------------------

    @property
    def _large_output(self) -> int | None:
        dask = getattr(self.options.settings, "dask", None)
        return getattr(dask, "large_output", None)

    def _kept_by(self, run_id: str | None, value: RemoteValue) -> None:
        note_remote()
        with self._lock:
            self._kept.setdefault(run_id, []).append(value.ref)

    @staticmethod
    def _datasets(client: Any, refs: set[str]) -> dict[str, Any]:
        """Futures of the kept outputs ``refs``: handed to ``submit``, Dask brings their values to the worker
        (from the worker that holds them, not through here)."""
        try:
            return {ref: client.get_dataset(ref) for ref in refs}
        except KeyError as exc:
            raise RemoteGone(exc.args[0] if exc.args else str(exc)) from None

    @staticmethod
    def _fetch(client: Any, refs: set[str]) -> dict[str, Any]:
        """The values of the kept outputs ``refs``, brought here."""
        return dict(zip(refs, client.gather([client.get_dataset(ref) for ref in refs]), strict=True))

    async def release(self, run_id: str | None) -> None:
        """Let go of the outputs the run ``run_id`` kept on the workers (its run is over): gone when this
        returns."""
        with self._lock:
            refs = self._kept.pop(run_id, [])
            client = self._client
        if refs and client is not None:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(_unpublish, client, refs)


class RemoteGone(Unavailable, LookupError):
    """A kept output a call takes is no longer in the cluster (its cluster was closed, or restarted)."""


class _Canceller:
    """Stops cancelled calls, and clears the started marks of calls that are over, from a thread of its own and
    in batches: a cancelled run's thousand steps make one message to the workers, the scheduler keeps no mark
    of a finished call, and the engine's loop never waits for the cluster."""

    def __init__(self, executor: DaskExecutor) -> None:
        self.executor = executor
        self._lock = threading.Lock()
        self._batch: list[tuple[Any, str]] = []
        self._marks: list[str] = []
        self._thread: threading.Thread | None = None

    def add(self, future: Any, key: str) -> None:
        """Cancel ``future``, and the call ``key`` on whichever worker runs it."""
        with self._lock:
            self._batch.append((future, key))
            self._start()

    def unmark(self, key: str) -> None:
        """Clear the started mark of the call ``key`` (a set Dask event stays on the scheduler until cleared)."""
        with self._lock:
            self._marks.append(key)
            self._start()

    def _start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="toolnexus-dask-housekeeping", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        from distributed import Event

        while True:
            with self._lock:
                batch, self._batch = self._batch, []
                marks, self._marks = self._marks, []
                if not batch and not marks:
                    self._thread = None
                    return
            client = self.executor._client
            if client is None:
                continue  # closed meanwhile: its workers are gone, and the calls and marks with them
            try:
                if batch:
                    client.cancel([future for future, _ in batch])
                    client.run(cancel_calls, [key for _, key in batch], wait=False)
                for key in marks:
                    Event(STARTED_PREFIX + key, client=client).clear()
            except Exception:  # the cluster is gone: so are the calls and the marks
                log.debug("cancelling %d Dask calls or clearing %d marks failed", len(batch), len(marks),
                          exc_info=True)


def spawnable_main() -> None:
    """Worker processes are spawned, and spawning reads ``__main__.__spec__``: a ``__main__`` replaced by an
    embedding program (a test runner's, a notebook front end's) may lack it. None is what IPython sets."""
    main = sys.modules.get("__main__")
    if main is not None and not hasattr(main, "__spec__"):
        with contextlib.suppress(AttributeError, TypeError):
            main.__spec__ = None


def _unpublish(client: Any, refs: list[str]) -> None:
    """Drop the kept outputs ``refs`` from the cluster (those already gone with it are no matter)."""
    for ref in refs:
        with contextlib.suppress(Exception):
            client.unpublish_dataset(ref)


async def _result(future: Any) -> Reply:
    """Await a Dask future of a synchronous client from any event loop. Dask calls a future's done callbacks
    on a thread of its own, where the (blocking) ``result()`` is read and handed to a concurrent future this
    loop awaits: the loop never waits for the client's thread."""
    done: concurrent.futures.Future[Reply] = concurrent.futures.Future()

    def settle(finished: Any) -> None:
        if done.done():
            return
        try:
            done.set_result(finished.result())
        except BaseException as exc:  # the task's error (or its cancellation), for the awaiting call
            done.set_exception(exc if isinstance(exc, Exception) else RuntimeError(repr(exc)))

    future.add_done_callback(settle)
    return await asyncio.wrap_future(done)


def _dask_error(spec: ToolSpec, exc: BaseException) -> ToolError:
    """A failed Dask task as the call's error: a lost worker is retryable (the step's retry decides)."""
    lost = type(exc).__name__ == "KilledWorker"
    what = "its Dask worker was lost" if lost else f"Dask could not run it: {type(exc).__name__}: {exc}"
    return ToolError(kind=ErrorKind.RUNTIME_ERROR, retryable=lost and spec.is_idempotent,
                     message=f"{spec.ref}: {what}", details={"executor": "dask"})
