"""The in-process runtime: trusted tools called directly, async ones on the loop, sync ones in a thread."""

from __future__ import annotations

import ctypes
import threading
from typing import Any

import anyio

from toolnexus.core.bounds import capping_output, check_output_size, json_size
from toolnexus.core.call import ToolCall
from toolnexus.core.context import ToolContext, reset_context, use_context
from toolnexus.core.errors import ErrorKind, ToolError, error_from_exception
from toolnexus.core.runtime import RuntimeOutcome
from toolnexus.core.spec import Limits, ToolSpec

# How long a cancelled (or timed-out) sync tool gets to stop once interrupted before its thread is abandoned:
# Python code stops at its next bytecode, far sooner; only a long call into C code outlasts it.
STOP_GRACE = 0.5


class InProcessRuntime:
    """Fast and unisolated: for trusted Python tools. Cancellation interrupts async tools at their next
    await and sync tools at their next Python bytecode (an exception raised in their thread); a sync tool
    stuck in C code past :data:`STOP_GRACE` is abandoned (its thread ends when the C call returns, its result
    discarded). Outputs over ``limits.max_output`` (as JSON) are ``limit_exceeded``."""

    name = "inprocess"

    def __init__(self, context: ToolContext | None = None) -> None:
        self.context = context or ToolContext()

    async def invoke(self, spec: ToolSpec, call: ToolCall, limits: Limits) -> RuntimeOutcome:
        """Call the tool's Python callable in this process, with the call's context and output cap."""
        fn: Any = spec.callable
        if fn is None:
            return RuntimeOutcome(error=ToolError(
                kind=ErrorKind.RUNTIME_ERROR,
                message=f"{spec.ref} has no in-process implementation ({spec.entry.kind} tool); "
                        "run it with runtime: process"))
        ctx = _call_context(self.context, call.run_id, call.step_id)
        try:
            if getattr(fn, "is_async", False):
                token = use_context(ctx)
                try:
                    with capping_output(limits.max_output):
                        output = await fn.acall(call.arguments)
                finally:
                    reset_context(token)
                check_output_size(output, limits.max_output)
            else:
                output = await _run_in_thread(_SyncCall(ctx, fn, call.arguments, limits.max_output))
        except Exception as exc:
            return RuntimeOutcome(error=error_from_exception(exc))
        return RuntimeOutcome(output=output)

    async def aclose(self) -> None:
        """Nothing to release: this runtime holds no processes; abandoned threads end on their own."""
        return None


def _call_context(base: ToolContext, run_id: str | None, step_id: str | None) -> ToolContext:
    """``base`` for one call: the same settings, the call's run and step ids.

    What ``base.model_copy(update=...)`` gives (a shallow copy), built directly: a model copy cost more
    than the rest of an in-process call of a no-op tool.
    """
    if base.run_id == run_id and base.step_id == step_id:
        return base  # nothing differs (a context made for this call already)
    if base.__pydantic_extra__ or base.__pydantic_private__:
        return base.model_copy(update={"run_id": run_id, "step_id": step_id})
    ctx = object.__new__(type(base))
    _set = object.__setattr__
    _set(ctx, "__dict__", {**base.__dict__, "run_id": run_id, "step_id": step_id})
    _set(ctx, "__pydantic_fields_set__", base.__pydantic_fields_set__ | _IDS)
    _set(ctx, "__pydantic_extra__", None)
    _set(ctx, "__pydantic_private__", None)
    return ctx


_IDS = frozenset({"run_id", "step_id"})


def _in_context(ctx: ToolContext, fn: Any, arguments: dict[str, Any], max_output: int | None) -> Any:
    token = use_context(ctx)
    try:
        # A @tool's wrapper measures what the tool returns against the call's cap before converting it.
        with capping_output(max_output):
            return fn(arguments)
    finally:
        reset_context(token)


async def _run_in_thread(job: _SyncCall) -> Any:
    """Run ``job`` in a worker thread; if the caller is cancelled, interrupt it and give it a moment to stop."""
    try:
        return await anyio.to_thread.run_sync(job, abandon_on_cancel=True)
    except anyio.get_cancelled_exc_class():
        job.interrupt()
        with anyio.CancelScope(shield=True):
            # Waits in a thread of its own (the job's is busy); bounded, so a job stuck in C is abandoned.
            await anyio.to_thread.run_sync(job.ended.wait, STOP_GRACE)
        raise


_abandoned: set[_SyncCall] = set()  # calls interrupted whose threads have not ended yet
_abandoned_lock = threading.Lock()


def abandoned_calls() -> int:
    """How many cancelled sync calls still hold a thread (stuck in C code, they stop when it returns).

    The interpreter waits for those threads before it exits: a command line that must end now (after a
    Ctrl-C) asks this, and ends its process without waiting once it has recorded what it must.
    """
    with _abandoned_lock:
        return len(_abandoned)


class _Interrupted(BaseException):
    """Raised inside a sync tool's thread to stop it: a BaseException, so ``except Exception`` lets it pass."""


# CPython's way to raise an exception in another thread (at its next bytecode); None where there is none.
_set_async_exc = getattr(getattr(ctypes, "pythonapi", None), "PyThreadState_SetAsyncExc", None)


class _SyncCall:
    """One call of a sync tool, run by a worker thread; :meth:`interrupt` stops it from any other thread.

    The interrupting exception is raised only while the tool runs: ``_lock`` orders :meth:`interrupt`
    against the end of the call, and an interrupt that has not yet struck when the call ends is withdrawn,
    so it can never hit the worker thread after the call (a pooled thread, about to run something else).
    """

    def __init__(self, ctx: ToolContext, fn: Any, arguments: dict[str, Any], max_output: int | None) -> None:
        self.ctx, self.fn, self.arguments, self.max_output = ctx, fn, arguments, max_output
        self.ended = threading.Event()
        self._lock = threading.Lock()
        self._thread: int | None = None  # the worker thread's id while the tool runs
        self._interrupted = False

    def __call__(self) -> Any:
        try:
            try:
                with self._lock:
                    if self._interrupted:
                        return None  # cancelled before a thread picked it up: nobody waits for a result
                    self._thread = threading.get_ident()
                output = _in_context(self.ctx, self.fn, self.arguments, self.max_output)
                # Measured here, in the tool's thread: a huge output is interruptible and keeps the loop free.
                check_output_size(output, self.max_output)
                return output
            finally:
                self._leave()
        except _Interrupted:
            return None  # the caller has gone: the value is discarded
        finally:
            with _abandoned_lock:
                _abandoned.discard(self)
                self.ended.set()

    def _leave(self) -> None:
        with self._lock:
            if self._interrupted and self._thread is not None and _set_async_exc is not None:
                _set_async_exc(ctypes.c_ulong(self._thread), None)  # withdraw an interrupt not yet raised
            self._thread = None

    def interrupt(self) -> None:
        """Stop the tool at its next Python bytecode (or before it starts); until it ends, it counts as
        abandoned (:func:`abandoned_calls`)."""
        with _abandoned_lock:
            if not self.ended.is_set():
                _abandoned.add(self)
        with self._lock:
            if self._interrupted:
                return
            self._interrupted = True
            if self._thread is not None and _set_async_exc is not None:
                _set_async_exc(ctypes.c_ulong(self._thread), ctypes.py_object(_Interrupted))


__all__ = ["STOP_GRACE", "InProcessRuntime", "abandoned_calls", "json_size"]
