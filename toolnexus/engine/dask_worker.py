"""The worker side of the Dask executor: a call's runtime, run in a Dask worker process.

A task (:func:`run_call`) is plain data in and plain data out: the call, its tool's spec (and Python callable,
for an in-process tool), the limits, and the settings the runtimes are built from; back comes the runtime's
outcome as a :class:`Reply`. The engine on the client decided, records and tracks the call; the worker only
runs it, in the same sandbox as the local executor would (the runtimes are ours, built from the same settings).

Each worker process keeps one event loop (an anyio blocking portal on a thread of its own) and, in it, one
runtime per kind and configuration, built on first use: a process runtime's warm workers and a wasm runtime's
compiled modules serve every later task there. A task's thread hands the call to that loop and waits.

Cancellation: a Dask future's ``cancel()`` does not stop a task that is running, so the client also runs
:func:`cancel_calls` on the workers (``Client.run``: a direct message to each worker, no task, no polling).
It cancels the call's scope in the loop — the runtime then kills what it started, as it does for a local
cancel — or, for a call not started yet, remembers the key so that the call does not start.

A call that must not run twice (a side-effecting tool not declared idempotent) marks itself started in a Dask
:class:`~distributed.Event` first: if its worker is lost and Dask starts it again elsewhere, the second start
finds the mark and fails with a clear error instead of running it again.
"""

from __future__ import annotations

import hashlib
import pickle
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.from_thread

from toolnexus.core.bounds import json_lower_bound, json_size
from toolnexus.core.call import ToolCall
from toolnexus.core.context import ToolContext
from toolnexus.core.errors import ErrorKind, ToolError
from toolnexus.core.remote import RemoteValue, resolve_remote
from toolnexus.core.runtime import Runtime, RuntimeOutcome
from toolnexus.core.secrets import KNOWN, declare_named_secrets, install_log_scrubbing
from toolnexus.core.spec import Limits, ToolSpec
from toolnexus.core.validation import arguments_error, output_error

OUTPUT_PREFIX = "toolnexus-output-"  # + the dispatch key: the dataset a large output is kept as
STARTED_PREFIX = "toolnexus-started-"  # + the dispatch key: the Event a call that must not run twice sets
CANCELLED_KEPT = 4096  # keys of calls cancelled before they started that a worker remembers (oldest forgotten)


@dataclass(frozen=True, slots=True)
class Profile:
    """What the runtimes are built from: the Nexus's settings and tool context, and a name that changes when
    they do (computed once, by the client), under which a worker keeps the runtimes it built from them."""

    name: str
    settings: Any
    context: ToolContext | None

    @classmethod
    def of(cls, settings: Any, context: ToolContext | None) -> Profile:
        """The profile of ``settings`` and ``context``, named by a digest of both."""
        dumped = (settings.model_dump(mode="json") if settings is not None else None,
                  context.model_dump(mode="json") if context is not None else None)
        return cls(hashlib.sha256(pickle.dumps(dumped)).hexdigest()[:32], settings, context)


@dataclass(slots=True)
class Job:
    """One call for a worker: what to run, where, under which limits, built from which settings."""

    key: str  # the dispatch's key: what cancel_calls names it by, and its started mark
    runtime: str
    spec: ToolSpec
    call: ToolCall
    limits: Limits
    profile: Profile  # the settings the runtimes are built from (~2 KB pickled: sent with every job)
    fn: Callable[..., Any] | None = None  # an in-process tool's callable (cloudpickled by Dask)
    once: bool = False  # the call must not run twice: mark it started, refuse a second start
    large_output: int | None = None  # an output over this many bytes (as JSON) stays in the cluster


@dataclass(slots=True)
class Reply:
    """What a worker hands back: the runtime's outcome as data (its error as a dict), and where it ran."""

    output: Any = None
    error: dict[str, Any] | None = None
    stderr: str | None = None
    worker: str = ""

    def outcome(self) -> RuntimeOutcome:
        """The runtime's outcome, as the local executor would have handed it back."""
        error = ToolError.model_validate(self.error) if self.error is not None else None
        return RuntimeOutcome(output=self.output, error=error, stderr=self.stderr)


class _Host:
    """This worker process's event loop and runtimes (one per process, made on first use)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._portal: anyio.from_thread.BlockingPortal | None = None
        self._runtimes: dict[tuple[str, str], Runtime] = {}
        self.running: dict[str, anyio.CancelScope] = {}  # the calls running now, by dispatch key
        self.cancelled: dict[str, None] = {}  # keys cancelled before their call started (insertion-ordered)

    def cancel(self, key: str) -> bool:
        """Cancel the call ``key``: its scope if it runs here, else remember it so it never starts here."""
        with self._lock:
            scope = self.running.get(key)
            if scope is None:
                self.cancelled[key] = None
                while len(self.cancelled) > CANCELLED_KEPT:
                    del self.cancelled[next(iter(self.cancelled))]
                return False
            portal = self._portal
        if portal is not None:
            try:
                portal.start_task_soon(scope.cancel)  # (no wait: this may run on the worker's own event loop)
            except RuntimeError:  # the loop is gone with its worker
                return False
        return True

    def enter(self, key: str, scope: anyio.CancelScope) -> bool:
        """The call ``key`` starts in ``scope``: False if it was cancelled already (it must not start)."""
        with self._lock:
            if key in self.cancelled:
                del self.cancelled[key]
                return False
            self.running[key] = scope
            return True

    def leave(self, key: str) -> None:
        with self._lock:
            self.running.pop(key, None)

    def portal(self) -> anyio.from_thread.BlockingPortal:
        """The process's event loop, on a daemon thread (a worker closing never waits for it)."""
        with self._lock:
            if self._portal is None:
                ready: queue.Queue[anyio.from_thread.BlockingPortal] = queue.Queue()
                threading.Thread(target=anyio.run, args=(_serve, ready), name="toolnexus-dask-loop",
                                 daemon=True).start()
                self._portal = ready.get()
            return self._portal

    def runtime(self, job: Job) -> Runtime:
        """The runtime ``job`` names, built from its profile's settings once per profile (in the loop's thread:
        a runtime may bind what it makes to the loop it is made in)."""
        key = (job.runtime, job.profile.name)
        with self._lock:
            runtime = self._runtimes.get(key)
        if runtime is None:
            runtime = self.portal().call(_build, job.runtime, job.profile)
            with self._lock:
                runtime = self._runtimes.setdefault(key, runtime)
        return runtime


HOST = _Host()


async def _serve(ready: queue.Queue[anyio.from_thread.BlockingPortal]) -> None:
    async with anyio.from_thread.BlockingPortal() as portal:
        ready.put(portal)
        await portal.sleep_until_stopped()


async def _build(runtime: str, profile: Profile) -> Runtime:
    from toolnexus.sandbox.runtimes import RuntimeRegistry

    # This worker's records hold no secret either: its log records are scrubbed as they are made, of the
    # secrets of its own environment and of the settings' secret-named values (what a Nexus does here).
    install_log_scrubbing()
    KNOWN.refresh_environment()
    if profile.settings is not None:
        declare_named_secrets(profile.settings.model_dump(mode="json"))
    return RuntimeRegistry.from_entry_points().create(runtime, profile.context, profile.settings)


def run_call(job: Job, refs: dict[str, Any] | None = None) -> Reply:
    """The Dask task: run ``job``'s call in its runtime on this worker, stopping it if the client cancels it.
    ``refs``: the values of the remote outputs its arguments name (Dask brought them here)."""
    from distributed import get_worker

    worker = get_worker().address
    if job.once and not _first_start(job.key):
        return _failed(worker, ErrorKind.RUNTIME_ERROR,
                       f"{job.spec.ref}: the Dask worker running this call was lost, and the call was not started "
                       "again: the tool has side effects and is not declared idempotent")
    spec = job.spec if job.fn is None else job.spec.model_copy().bind(job.fn)
    call = job.call
    if refs:  # checked here, where the values are (the engine could not)
        call = call.model_copy(update={"arguments": resolve_remote(call.arguments, refs.__getitem__)})
        invalid = arguments_error(spec, call.arguments)
        if invalid is not None:
            return Reply(error=invalid.model_dump(mode="json"), worker=worker)
    runtime = HOST.runtime(job)
    declare_named_secrets(call.arguments)  # (`api_token: …`: known here too, so this worker's logs hide it)
    outcome = HOST.portal().call(_invoke, job.key, runtime, spec, call, job.limits)
    if outcome is None:
        return _failed(worker, ErrorKind.CANCELLED, "the call was cancelled on its Dask worker")
    error = outcome.error
    if isinstance(error, ToolError):
        error = error.model_dump(mode="json")
    output = outcome.output
    if error is None and job.large_output is not None and json_size(output, job.large_output) is None:
        bad = output_error(spec, output) if spec.output_schema else None  # (the engine cannot check it)
        if bad is not None:
            return Reply(error=bad.model_dump(mode="json"), worker=worker)
        output = _keep(job.key, output)
    return Reply(output=output, error=error, stderr=outcome.stderr, worker=worker)


def _failed(worker: str, kind: ErrorKind, message: str) -> Reply:
    return Reply(error=ToolError(kind=kind, message=message).model_dump(mode="json"), worker=worker)


def _keep(key: str, output: Any) -> RemoteValue:
    """Keep a large output in the cluster, on this worker (a published dataset, so that it outlives the task
    until the engine lets it go); what the engine gets instead."""
    from distributed import get_client, get_worker

    client = get_client()
    name = OUTPUT_PREFIX + key
    # (a mapping's keys name the data: a list given alone would be scattered item by item)
    future = client.scatter({name + "-data": output}, workers=[get_worker().address])[name + "-data"]
    client.publish_dataset(future, name=name)
    return RemoteValue.make(name, json_lower_bound(output, 2**62), output)


async def _invoke(key: str, runtime: Runtime, spec: ToolSpec, call: ToolCall,
                  limits: Limits) -> RuntimeOutcome | None:
    """The runtime's outcome, or None when the client cancelled the call (the runtime stopped it)."""
    with anyio.CancelScope() as scope:
        if not HOST.enter(key, scope):
            return None
        try:
            return await runtime.invoke(spec, call, limits)
        finally:
            HOST.leave(key)
    return None


async def cancel_calls(keys: list[str]) -> int:
    """Run on every worker by the client (``Client.run``, on the worker's event loop: a coroutine, so the client
    need not wait): cancel those of ``keys`` running here, and keep the others from starting here. How many
    were running here."""
    return sum(HOST.cancel(key) for key in keys)


def _first_start(key: str) -> bool:
    """Mark the call ``key`` started; False if it was already (its first worker was lost mid-call)."""
    from distributed import Event

    mark = Event(STARTED_PREFIX + key)
    if mark.is_set():
        return False
    mark.set()
    return True
