"""The in-process runtime: sync tools in a thread, async ones on the loop, exceptions as ToolErrors."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import anyio
import pytest

from toolnexus import ErrorKind, Limits, ToolCall, ToolContext, ToolFailure, current_context, tool
from toolnexus.core.runtime import Runtime
from toolnexus.core.spec import ToolEntry, ToolSpec
from toolnexus.registry import spec_of
from toolnexus.sandbox import InProcessRuntime
from toolnexus.sandbox.inprocess import abandoned_calls, json_size

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


# -- stopping sync tools -----------------------------------------------------------------------------------

SPINNING = threading.Event()  # set by `spin` once it runs
SPIN_STOPPED = threading.Event()  # set by `spin` when it leaves its loop, however it leaves
GATE = threading.Event()  # what `blocked` waits for, in C code
AFTER_GATE: list[str] = []  # what `blocked` did once the gate opened
BLOCKED_LEFT = threading.Event()  # set by `blocked` when it ends, however it ends


@tool(name="ip.spin", register=False)
def spin() -> None:
    """Spin on the CPU without ever yielding, for up to a minute (a safety net should the stop fail)."""
    SPINNING.set()
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            pass
    finally:
        SPIN_STOPPED.set()


@tool(name="ip.blocked", register=False)
def blocked() -> None:
    """Wait in C code (a lock) until GATE opens, then note that it carried on."""
    SPINNING.set()
    try:
        GATE.wait(60)
        AFTER_GATE.append("carried on")
    finally:
        BLOCKED_LEFT.set()


@tool(name="ip.big", register=False)
def big(size: int) -> dict:
    """Return ``size`` characters of text."""
    return {"text": "x" * size}


async def cancel_once_running(runtime: InProcessRuntime, fn: object) -> float:
    """Start ``fn``, cancel it once it runs; how long the cancelled call took to come back."""
    SPINNING.clear()
    with anyio.fail_after(30):
        async with anyio.create_task_group() as group:
            group.start_soon(call, runtime, fn)
            await anyio.to_thread.run_sync(SPINNING.wait, 20)
            cancelled_at = time.perf_counter()
            group.cancel_scope.cancel()
    return time.perf_counter() - cancelled_at


async def test_cancelling_a_spinning_sync_tool_stops_its_thread(runtime: InProcessRuntime) -> None:
    SPIN_STOPPED.clear()
    took = await cancel_once_running(runtime, spin)
    assert SPIN_STOPPED.is_set(), "the tool's thread still spins after the cancelled call came back"
    assert took < 5, took
    again = await call(runtime, where)  # the worker threads serve other calls
    assert again.error is None


async def test_a_sync_tool_stuck_in_c_code_is_abandoned_and_stopped_when_it_returns(
        runtime: InProcessRuntime) -> None:
    GATE.clear()
    AFTER_GATE.clear()
    BLOCKED_LEFT.clear()
    took = await cancel_once_running(runtime, blocked)
    assert took < 5, took  # came back after the grace, though the tool still waits
    assert not BLOCKED_LEFT.is_set()
    assert abandoned_calls() == 1  # what the CLI asks before it exits without waiting for the thread
    GATE.set()
    assert await anyio.to_thread.run_sync(BLOCKED_LEFT.wait, 20), "the abandoned tool never ended"
    assert AFTER_GATE == [], "the abandoned tool carried on after its C call returned"
    with anyio.fail_after(20):
        while abandoned_calls():  # bounded polling: the count drops just after the tool's own `finally`
            await anyio.sleep(0.01)
    again = await call(runtime, where)  # and the pool's threads serve other calls
    assert again.error is None


async def test_an_output_over_max_output_is_limit_exceeded(runtime: InProcessRuntime) -> None:
    spec = spec_of(big)
    assert spec is not None
    capped = Limits(max_output=1000)
    small = await runtime.invoke(spec, ToolCall(tool=spec.name, arguments={"size": 100}), capped)
    assert small.error is None and small.output == {"text": "x" * 100}
    large = await runtime.invoke(spec, ToolCall(tool=spec.name, arguments={"size": 5000}), capped)
    assert large.error is not None and large.error.kind == ErrorKind.LIMIT_EXCEEDED, large.error
    assert "1000-byte cap" in large.error.message


def test_a_value_that_shares_its_parts_is_measured_without_serialising_it() -> None:
    value: Any = [1]
    for _ in range(60):  # small in memory, 2**60 leaves as JSON: serialising it would never end
        value = [value, value]
    assert json_size(value, 16 * 2**20) is None
    assert json_size({"a": [1, "é"]}, 100) == len(json.dumps({"a": [1, "é"]}))
    assert json_size("x" * 101, 100) is None
