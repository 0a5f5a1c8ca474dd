"""Command tools: JSON arguments on stdin, a JSON result on stdout, run by a worker under limits."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.engine.support import assert_gone, await_until
from toolnexus import ErrorKind, Limits, ToolCall, ToolSpec
from toolnexus.core.runtime import RuntimeOutcome
from toolnexus.core.spec import ToolEntry
from toolnexus.sandbox import ProcessRuntime

pytestmark = pytest.mark.anyio


def command(script: str, **entry: Any) -> ToolSpec:
    return ToolSpec(name="sb.command", runtime="process",
                    entry=ToolEntry(kind="command", argv=[sys.executable, "-c", script], **entry))


async def invoke(runtime: ProcessRuntime, spec: ToolSpec, limits: Limits | None = None,
                 **arguments: Any) -> RuntimeOutcome:
    return await runtime.invoke(spec, ToolCall(tool=spec.name, arguments=arguments), limits or Limits())


ADD = "import json, sys; a = json.load(sys.stdin); print(json.dumps({'sum': a['x'] + a['y']}))"


async def test_a_command_reads_json_arguments_and_prints_a_json_result(shared: ProcessRuntime) -> None:
    outcome = await invoke(shared, command(ADD), x=2, y=3)
    assert outcome.error is None, outcome.error
    assert outcome.output == {"sum": 5}


async def test_a_command_printing_nothing_returns_none(shared: ProcessRuntime) -> None:
    outcome = await invoke(shared, command("import sys; sys.stdin.read()"))
    assert outcome.error is None and outcome.output is None


async def test_a_failing_command_is_a_tool_error_with_its_stderr_tail(shared: ProcessRuntime) -> None:
    script = ("import sys; sys.stdin.read(); "
              "sys.stderr.write('\\n'.join(f'line {i}' for i in range(20)) + '\\nthe real reason\\n'); sys.exit(2)")
    outcome = await invoke(shared, command(script))
    assert outcome.error is not None and outcome.error.kind == ErrorKind.TOOL_ERROR
    assert "exited with status 2" in outcome.error.message
    assert "the real reason" in outcome.error.message
    assert "line 0" not in outcome.error.message  # a tail, not the whole stream
    assert outcome.error.details["exit_code"] == 2
    assert outcome.stderr is not None and "line 0" in outcome.stderr


async def test_a_command_printing_bad_json_is_output_invalid(shared: ProcessRuntime) -> None:
    outcome = await invoke(shared, command("print('this is not json')"))
    assert outcome.error is not None and outcome.error.kind == ErrorKind.OUTPUT_INVALID


async def test_a_command_over_the_output_cap_is_limit_exceeded(shared: ProcessRuntime) -> None:
    outcome = await invoke(shared, command("print('\"' + 'x' * 5000 + '\"')"), Limits(max_output=1000))
    assert outcome.error is not None and outcome.error.kind == ErrorKind.LIMIT_EXCEEDED


async def test_a_command_sees_a_scrubbed_environment_plus_what_it_declares(
        runtime: ProcessRuntime, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "hunter2")
    script = ("import json, os; print(json.dumps({k: os.environ.get(k) for k in "
              "('AWS_SECRET_ACCESS_KEY', 'DECLARED', 'PATH')}))")
    outcome = await invoke(runtime, command(script, env={"DECLARED": "yes"}))
    assert outcome.error is None, outcome.error
    assert outcome.output["AWS_SECRET_ACCESS_KEY"] is None
    assert outcome.output["DECLARED"] == "yes"
    assert outcome.output["PATH"]


async def test_a_command_runs_in_its_cwd(shared: ProcessRuntime, tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    outcome = await invoke(shared, command("import json, os; print(json.dumps(os.getcwd()))",
                                            cwd=str(tmp_path / "sub")))
    assert outcome.output == str(tmp_path / "sub")


async def test_a_command_over_its_cpu_time_is_stopped(shared: ProcessRuntime) -> None:
    outcome = await invoke(shared, command("while True: pass"), Limits(cpu_time="1s"))
    assert outcome.error is not None
    assert outcome.error.kind == ErrorKind.LIMIT_EXCEEDED, outcome.error


async def test_cancelling_a_command_kills_it(runtime: ProcessRuntime, tmp_path: Path) -> None:
    pidfile = tmp_path / "command.pid"
    script = f"import os, time; open({str(pidfile)!r}, 'w').write(str(os.getpid())); time.sleep(60)"
    with anyio.CancelScope() as scope:
        async with anyio.create_task_group() as group:

            async def cancel_when_running() -> None:
                await await_until(lambda: pidfile.exists() and pidfile.read_text(), within=20, what="the pidfile")
                scope.cancel()

            group.start_soon(cancel_when_running)
            await invoke(runtime, command(script))
            pytest.fail("the command finished although it was cancelled")
    assert_gone([int(pidfile.read_text())])
