"""The in-process runtime: sync tools in a thread, async ones on the loop, exceptions as ToolErrors."""

from __future__ import annotations

import threading
from pathlib import Path

import anyio
import pytest

from toolnexus import ErrorKind, Limits, ToolCall, ToolContext, ToolFailure, current_context, tool
from toolnexus.core.runtime import Runtime
from toolnexus.core.spec import ToolEntry, ToolSpec
from toolnexus.registry import spec_of
from toolnexus.sandbox import InProcessRuntime

pytestmark = pytest.mark.anyio


@tool(name="ip.where", register=False)
def where() -> dict:
    """Where a sync tool runs: its thread and its context."""
    ctx = current_context()
    return {"thread": threading.get_ident(), "workspace": ctx.workspace, "run": ctx.run_id, "step": ctx.step_id}


@tool(name="ip.awhere", register=False)
async def awhere() -> dict:
    """Where an async tool runs."""
    ctx = current_context()
    return {"thread": threading.get_ident(), "workspace": ctx.workspace, "run": ctx.run_id}


@tool(name="ip.raise", register=False)
def raising(kind: str = "") -> None:
    """Raise a ToolFailure of ``kind``, or a ZeroDivisionError."""
    if kind:
        raise ToolFailure("declared failure", kind=ErrorKind(kind))
    _ = 1 / 0


@tool(name="ip.araise", register=False)
async def araising() -> None:
    """Raise from an async tool."""
    raise ConnectionError("peer went away")


@tool(name="ip.nap", register=False)
async def nap(seconds: float) -> float:
    """Sleep, cancellably."""
    await anyio.sleep(seconds)
    return seconds


@pytest.fixture
def runtime(tmp_path: Path) -> InProcessRuntime:
    return InProcessRuntime(ToolContext(workspace=str(tmp_path)))


async def call(runtime: InProcessRuntime, fn: object, **arguments: object):  # type: ignore[no-untyped-def]
    spec = spec_of(fn)
    assert spec is not None
    return await runtime.invoke(spec, ToolCall(tool=spec.name, arguments=arguments, run_id="run-1", step_id="s"),
                                Limits())


def test_the_inprocess_runtime_implements_the_protocol(runtime: InProcessRuntime) -> None:
    assert isinstance(runtime, Runtime)


async def test_a_sync_tool_runs_in_a_worker_thread_with_the_call_context(
        runtime: InProcessRuntime, tmp_path: Path) -> None:
    outcome = await call(runtime, where)
    assert outcome.error is None
    assert outcome.output["thread"] != threading.get_ident()
    assert outcome.output["workspace"] == str(tmp_path)
    assert (outcome.output["run"], outcome.output["step"]) == ("run-1", "s")


async def test_an_async_tool_runs_on_the_loop_with_the_call_context(
        runtime: InProcessRuntime, tmp_path: Path) -> None:
    outcome = await call(runtime, awhere)
    assert outcome.error is None
    assert outcome.output["thread"] == threading.get_ident()
    assert outcome.output["workspace"] == str(tmp_path)
    assert outcome.output["run"] == "run-1"
    assert current_context().run_id is None  # the call's context does not leak out


async def test_exceptions_become_tool_errors(runtime: InProcessRuntime) -> None:
    plain = await call(runtime, raising)
    assert plain.error is not None and plain.error.kind == ErrorKind.TOOL_ERROR
    assert plain.error.message == "ZeroDivisionError: division by zero"
    assert not plain.error.retryable
    declared = await call(runtime, raising, kind="denied")
    assert declared.error is not None and declared.error.kind == ErrorKind.DENIED
    transient = await call(runtime, araising)
    assert transient.error is not None and transient.error.kind == ErrorKind.TOOL_ERROR
    assert transient.error.retryable  # a ConnectionError may well pass


async def test_a_spec_without_an_implementation_is_a_runtime_error(runtime: InProcessRuntime) -> None:
    spec = ToolSpec(name="ip.none", entry=ToolEntry(kind="command", argv=["true"]))
    outcome = await runtime.invoke(spec, ToolCall(tool="ip.none"), Limits())
    assert outcome.error is not None and outcome.error.kind == ErrorKind.RUNTIME_ERROR


async def test_cancelling_an_async_tool_stops_it(runtime: InProcessRuntime) -> None:
    with anyio.move_on_after(0.1) as scope:
        await call(runtime, nap, seconds=60)
    assert scope.cancelled_caught
