"""The in-process runtime: trusted tools called directly, async ones on the loop, sync ones in a thread."""

from __future__ import annotations

from typing import Any

import anyio

from toolnexus.core.call import ToolCall
from toolnexus.core.context import ToolContext, reset_context, use_context
from toolnexus.core.errors import ErrorKind, ToolError, error_from_exception
from toolnexus.core.runtime import RuntimeOutcome
from toolnexus.core.spec import Limits, ToolSpec


class InProcessRuntime:
    """Fast and unisolated: for trusted Python tools. Cancellation interrupts async tools at their next
    await; a sync tool's thread cannot be killed, so it is abandoned (its result discarded)."""

    name = "inprocess"

    def __init__(self, context: ToolContext | None = None) -> None:
        self.context = context or ToolContext()

    async def invoke(self, spec: ToolSpec, call: ToolCall, limits: Limits) -> RuntimeOutcome:
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
                    output = await fn.acall(call.arguments)
                finally:
                    reset_context(token)
            else:
                output = await anyio.to_thread.run_sync(_in_context, ctx, fn, call.arguments,
                                                        abandon_on_cancel=True)
        except Exception as exc:
            return RuntimeOutcome(error=error_from_exception(exc))
        return RuntimeOutcome(output=output)

    async def aclose(self) -> None:
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


def _in_context(ctx: ToolContext, fn: Any, arguments: dict[str, Any]) -> Any:
    token = use_context(ctx)
    try:
        return fn(arguments)
    finally:
        reset_context(token)
