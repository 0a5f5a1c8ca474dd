"""The process runtime: warm workers, hard limits, a clean protocol, recovery from crashes, and
cancellation that kills the worker's whole process group."""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.engine.support import alive, assert_gone, await_until, read_pids
from tests.fixtures import tools as fixture_tools
from tests.sandbox import tools
from toolnexus import ErrorKind, Limits, ToolCall, ToolContext, ToolSpec, tool
from toolnexus.core.context import CallChannel, report_progress, reset_channel, use_channel
from toolnexus.core.runtime import Runtime, RuntimeOutcome
from toolnexus.core.spec import ToolEntry
from toolnexus.registry import spec_of
from toolnexus.sandbox import ProcessRuntime, scrubbed_env

pytestmark = pytest.mark.anyio


async def invoke(runtime: ProcessRuntime, fn: Any, limits: Limits | None = None, **arguments: Any) -> RuntimeOutcome:
    spec = spec_of(fn) if not isinstance(fn, ToolSpec) else fn
    assert spec is not None
    return await runtime.invoke(spec, ToolCall(tool=spec.name, arguments=arguments), limits or Limits())


def test_the_process_runtime_implements_the_protocol(runtime: ProcessRuntime) -> None:
    assert isinstance(runtime, Runtime)
    assert runtime.name == "process"


async def test_a_warm_worker_is_reused(runtime: ProcessRuntime) -> None:
    first = await invoke(runtime, tools.pid)
    second = await invoke(runtime, tools.pid)
    third = await invoke(runtime, tools.apid)
    assert first.error is None and second.error is None and third.error is None
    assert first.output == second.output == third.output["pid"] != os.getpid()
    assert runtime.pool.pids() == [first.output]


async def test_async_tools_run_in_the_worker(shared: ProcessRuntime) -> None:
    outcome = await invoke(shared, tools.apid, x=21)
    assert outcome.error is None
    assert outcome.output["double"] == 42
    assert outcome.output["pid"] in shared.pool.pids()


async def test_workers_are_kept_apart_by_their_hard_limits(shared: ProcessRuntime) -> None:
    plain = await invoke(shared, tools.pid)
    limited = await invoke(shared, tools.pid, Limits(memory="512MB"))
    again = await invoke(shared, tools.pid, Limits(memory="512MB"))
    assert plain.output != limited.output
    assert limited.output == again.output


async def test_at_most_max_workers_run_and_callers_queue_for_one(single: ProcessRuntime) -> None:
    outputs: list[int] = []

    async def call() -> None:
        outputs.append((await invoke(single, tools.pid)).output)

    with anyio.fail_after(30):
        async with anyio.create_task_group() as group:
            for _ in range(3):
                group.start_soon(call)
    assert len(outputs) == 3 and len(set(outputs)) == 1


async def test_a_memory_bomb_is_stopped_as_limit_exceeded(runtime: ProcessRuntime) -> None:
    limits = Limits(memory="256MB")
    outcome = await invoke(runtime, tools.memory_bomb, limits, megabytes=1024)
    assert outcome.error is not None
    assert outcome.error.kind == ErrorKind.LIMIT_EXCEEDED, outcome.error
    # The next call gets a healthy worker, and the limit leaves room for honest work.
    small = await invoke(runtime, tools.memory_bomb, limits, megabytes=64)
    assert small.error is None and small.output == 2


async def test_a_cpu_time_limit_stops_a_busy_loop(runtime: ProcessRuntime) -> None:
    started = anyio.current_time()
    outcome = await invoke(runtime, tools.busy, Limits(cpu_time="1s"), seconds=30)
    assert anyio.current_time() - started < 20
    assert outcome.error is not None
    assert outcome.error.kind == ErrorKind.LIMIT_EXCEEDED, outcome.error
    assert "CPU" in outcome.error.message


async def test_a_cpu_time_limit_does_not_outlive_its_call(shared: ProcessRuntime) -> None:
    limited = await invoke(shared, tools.cpu_soft_limit, Limits(cpu_time="5s"))
    assert limited.error is None and limited.output > 0
    unlimited = await invoke(shared, tools.cpu_soft_limit)
    assert unlimited.error is None
    assert unlimited.output == -1, "a later call without a cpu_time limit inherited the earlier one"


async def test_output_over_the_cap_is_limit_exceeded(shared: ProcessRuntime) -> None:
    over = await invoke(shared, tools.big, Limits(max_output=1000), size=5000)
    assert over.error is not None and over.error.kind == ErrorKind.LIMIT_EXCEEDED
    assert "1000" in over.error.message
    under = await invoke(shared, tools.big, Limits(max_output=1000), size=500)
    assert under.error is None and under.output == "x" * 500


async def test_a_structured_result_is_measured_against_the_calls_own_cap(shared: ProcessRuntime) -> None:
    # 20 MiB of rows: over the default 16 MiB cap, within a call's larger one, and over a small one.
    larger = await invoke(shared, tools.rows, Limits(max_output="32MiB"), count=20, width=2**20)
    assert larger.error is None and len(larger.output) == 20, larger.error
    small = await invoke(shared, tools.rows, Limits(max_output=1000), count=20, width=100)
    assert small.error is not None and small.error.kind == ErrorKind.LIMIT_EXCEEDED, small.error


async def test_the_environment_is_scrubbed(runtime: ProcessRuntime, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOOLNEXUS_TEST_SECRET", "hunter2")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "hunter3")
    assert "AWS_SECRET_ACCESS_KEY" not in scrubbed_env()
    secret = await invoke(runtime, tools.env, name="AWS_SECRET_ACCESS_KEY")
    other = await invoke(runtime, tools.env, name="TOOLNEXUS_TEST_SECRET")
    path = await invoke(runtime, tools.env, name="PATH")
    assert secret.error is None and secret.output is None
    assert other.output is None
    assert path.output


async def test_printing_tools_do_not_corrupt_the_protocol(single: ProcessRuntime) -> None:
    runtime = single
    outcome = await invoke(runtime, tools.noisy, value="intact")
    assert outcome.error is None, outcome.error
    assert outcome.output == "intact"
    assert outcome.stderr is not None and "printed with print()" in outcome.stderr
    worker = runtime.pool.pids()
    again = await invoke(runtime, tools.pid)
    assert again.error is None and [again.output] == worker  # the same worker still speaks the protocol


async def test_a_crashing_worker_is_an_error_and_the_pool_recovers(single: ProcessRuntime) -> None:
    before = (await invoke(single, tools.pid)).output
    outcome = await invoke(single, tools.crash, code=3)
    assert outcome.error is not None
    assert outcome.error.kind == ErrorKind.RUNTIME_ERROR
    assert "exit 3" in outcome.error.message and "about to crash" in outcome.error.message
    assert outcome.error.retryable
    assert not alive(before)
    with anyio.fail_after(20):
        after = await invoke(single, tools.pid)
    assert after.error is None and after.output != before


async def test_tool_exceptions_come_back_as_errors(shared: ProcessRuntime) -> None:
    runtime = shared
    plain = await invoke(runtime, tools.fail)
    assert plain.error is not None and plain.error.kind == ErrorKind.TOOL_ERROR
    assert plain.error.message == "KeyError: 'missing'"
    assert plain.error.details["where"].startswith("tools.py:")
    structured = await invoke(runtime, tools.fail, kind="network")
    assert structured.error is not None and structured.error.kind == ErrorKind.NETWORK
    assert structured.error.retryable and structured.error.details["k"] == 1


async def test_an_unimportable_tool_is_a_runtime_error(shared: ProcessRuntime) -> None:
    spec = ToolSpec(name="sb.missing", entry=ToolEntry(kind="python", target="tests.sandbox.no_such_module:fn"))
    outcome = await invoke(shared, spec)
    assert outcome.error is not None and outcome.error.kind == ErrorKind.RUNTIME_ERROR
    assert "cannot import" in outcome.error.message


async def test_a_tool_defined_in_main_is_refused(runtime: ProcessRuntime) -> None:
    spec = ToolSpec(name="sb.main", entry=ToolEntry(kind="python", target="__main__:fn"))
    outcome = await invoke(runtime, spec)
    assert outcome.error is not None and outcome.error.kind == ErrorKind.RUNTIME_ERROR
    assert runtime.pool.pids() == []  # refused before any worker started


async def test_cancellation_kills_the_workers_process_group(single: ProcessRuntime, tmp_path: Path) -> None:
    pidfile = tmp_path / "spawn.pids"
    with anyio.CancelScope() as scope:
        async with anyio.create_task_group() as group:

            async def cancel_when_running() -> None:
                await await_until(lambda: read_pids(pidfile), within=20, what="the pidfile")
                scope.cancel()

            group.start_soon(cancel_when_running)
            await invoke(single, fixture_tools.spawn_and_wait, pidfile=str(pidfile), seconds=60)
            pytest.fail("the call returned although it was cancelled")
    pids = read_pids(pidfile)
    assert pids is not None
    assert_gone(pids)
    # The pool got its slot back: the one worker allowed is a fresh one.
    with anyio.fail_after(20):
        after = await invoke(single, tools.pid)
    assert after.error is None and after.output not in pids


def test_close_kills_every_worker(context: Any) -> None:
    runtime = ProcessRuntime(context, max_workers=2)
    try:
        runtime.pool.warm((None, None))
        runtime.pool.warm((512 * 2**20, None))
        pids = runtime.pool.pids()
        assert len(pids) == 2
    finally:
        runtime.close()
    assert_gone(pids)
    assert runtime.pool.pids() == []


def test_a_worker_ignores_sigint_so_ctrl_c_in_a_terminal_does_not_kill_it(runtime: ProcessRuntime) -> None:
    worker = runtime.pool.acquire((None, None))
    try:
        assert worker.roundtrip({"kind": "ping"})["output"] == worker.pid
        os.kill(worker.pid, signal.SIGINT)
        assert worker.roundtrip({"kind": "ping"})["output"] == worker.pid
    finally:
        runtime.pool.release(worker, healthy=True)


async def test_a_closed_runtime_answers_with_an_error(context: Any) -> None:
    runtime = ProcessRuntime(context)
    runtime.close()
    outcome = await invoke(runtime, tools.pid)
    assert outcome.error is not None and outcome.error.kind == ErrorKind.RUNTIME_ERROR
    assert "closed" in outcome.error.message


async def test_a_workspace_that_does_not_exist_is_an_error_not_an_exception(tmp_path: Path) -> None:
    runtime = ProcessRuntime(ToolContext(workspace=str(tmp_path / "missing")))
    try:
        outcome = await invoke(runtime, tools.pid)
    finally:
        runtime.close()
    assert outcome.error is not None and outcome.error.kind == ErrorKind.RUNTIME_ERROR


@tool(name="relay.steps", register=False, runtime="process")
def relayed_steps() -> int:
    """Reports progress and logs from a worker process."""
    for done in (1, 2):
        report_progress(done, 2, f"step {done}")
    logging.getLogger("relay.steps").info("halfway there")
    logging.getLogger("relay.steps").debug("too chatty")
    return os.getpid()


class _Recording(CallChannel):
    wants_progress = True
    log_level = logging.INFO

    def __init__(self) -> None:
        self.seen: list[Any] = []

    def progress(self, progress: float, total: float | None = None, message: str | None = None) -> None:
        self.seen.append((progress, total, message))

    def log(self, record: logging.LogRecord) -> None:
        self.seen.append((record.name, record.levelname, record.getMessage()))


async def test_progress_and_logs_of_a_worker_reach_the_callers_channel(runtime: ProcessRuntime) -> None:
    channel = _Recording()
    token = use_channel(channel)
    try:
        outcome = await invoke(runtime, relayed_steps)
    finally:
        reset_channel(token)
    quiet = await invoke(runtime, relayed_steps)  # no channel: the worker sends nothing back
    assert outcome.error is None and outcome.output != os.getpid()
    assert channel.seen == [(1.0, 2.0, "step 1"), (2.0, 2.0, "step 2"), ("relay.steps", "INFO", "halfway there")]
    assert quiet.error is None and channel.seen[-1] == ("relay.steps", "INFO", "halfway there")
