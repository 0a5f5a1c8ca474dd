"""One tool contract, every runtime: the same behaviours checked against the in-process, process, wasm and
docker backends, each running the contract's tools in its own form — Python ``@tool`` functions
(tests/sandbox/conformance/tools.py), WASI modules in WAT (tests/sandbox/conformance/*.wat) and command
tools in the base image.

The contract: arguments in, result out; an error comes back as data; a timeout stops the call promptly
and leaves the runtime usable; a cancellation stops the work and leaves nothing running; an output cap
turns an over-large result into ``limit_exceeded``; through the Invoker, secrets in results and errors are
scrubbed and invalid arguments are refused before the runtime runs.

Every backend keeps every clause: the in-process runtime interrupts a cancelled or timed-out sync tool in
its thread and measures an in-process result against the output cap like the others.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.engine.support import alive
from tests.sandbox import docker_engine as engine
from tests.sandbox.conformance import tools
from toolnexus import ErrorKind, Limits, ToolCall, ToolContext, ToolError, ToolSpec
from toolnexus.core.runtime import Runtime, RuntimeOutcome
from toolnexus.core.spec import Mount, ToolEntry
from toolnexus.engine import Invoker
from toolnexus.registry import spec_of
from toolnexus.sandbox.docker import LABEL_RUNTIME, DockerRuntime, managed_containers
from toolnexus.sandbox.inprocess import InProcessRuntime
from toolnexus.sandbox.process import ProcessRuntime
from toolnexus.sandbox.wasm import WasmRuntime

pytestmark = pytest.mark.anyio

docker_engine = engine.docker_engine  # the shared session fixture: a real engine and the base image

WAT = Path(__file__).parent / "conformance"
BACKENDS = ("inprocess", "process", "wasm", "docker")
BEHAVIOURS = ("echo", "fail", "leak", "waits", "spins")
# Long-running work in two flavours: waiting (an await, a host sleep, a sleep command) and spinning on
# the CPU without ever yielding (a sync loop, a wasm loop, a busy Python process).
FLAVOURS = ("waits", "spins")

TIMEOUT = 1.5
PROMPTLY = 10.0  # how long past its timeout a call may take to come back

# Nested structures, unicode beyond the BMP, escapes, and numbers JSON must keep exactly.
VALUE: Any = {
    "text": "héllo wörld ✓ 日本語 🚀",
    "escapes": 'quote " backslash \\ newline \n tab \t nul \u0000',
    "nested": {"list": [1, 2.5, None, True, False, {"deep": ["a", {"b": []}]}], "empty": {}},
    "numbers": [0, -3.25, 2**53, 1e-7],
}

# -- the backends, each with the contract's tools in its own form ------------------------------------


class Harness:
    """A backend under test: its runtime, the contract's tools for it, and a probe of the work it runs."""

    name: str
    runtime: Runtime

    def __init__(self, workspace: Path) -> None:
        self.workspace = workspace
        self.specs: dict[str, ToolSpec] = {}

    def spec(self, behaviour: str) -> ToolSpec:
        return self.specs[behaviour]

    def lookup(self, name: str, version: str | None) -> ToolSpec:
        for spec in self.specs.values():
            if spec.name == name:
                return spec
        raise LookupError(f"no tool {name!r}")

    def marker(self, flavour: str) -> Path:
        """The file a hanging tool writes once it runs (where the backend lets it write one)."""
        return self.workspace / "signal" / flavour

    def arguments(self, behaviour: str) -> dict[str, Any]:
        return {}

    def running(self) -> set[str]:
        """What of the hanging tools' work is running now (pids, threads, containers); empty when none."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class PythonHarness(Harness):
    """In-process and process: the same ``@tool`` functions."""

    def __init__(self, workspace: Path, name: str) -> None:
        super().__init__(workspace)
        self.name = name
        (workspace / "signal").mkdir()
        for behaviour in BEHAVIOURS:
            spec = spec_of(getattr(tools, behaviour))
            assert spec is not None
            self.specs[behaviour] = spec.model_copy(update={"runtime": name})

    def arguments(self, behaviour: str) -> dict[str, Any]:
        return {"marker": str(self.marker(behaviour))} if behaviour in FLAVOURS else {}


class InProcessHarness(PythonHarness):
    def __init__(self, workspace: Path) -> None:
        super().__init__(workspace, "inprocess")
        tools.RELEASE.clear()
        self.runtime = InProcessRuntime(ToolContext(workspace=str(workspace)))

    def running(self) -> set[str]:
        # A hanging tool notes in its `finally` that it ended: an async one when its task is cancelled,
        # a sync one only when its thread gets out of the loop.
        return {
            str(marker)
            for marker in map(self.marker, FLAVOURS)
            if marker.exists() and not tools.stopped_marker(marker).exists()
        }

    def close(self) -> None:
        tools.RELEASE.set()  # let an abandoned spinning thread go
        deadline = time.monotonic() + 10
        while self.running() and time.monotonic() < deadline:
            time.sleep(0.01)  # bounded polling for the thread to leave its loop
        assert not self.running(), "an in-process tool's thread did not stop after it was released"


class ProcessHarness(PythonHarness):
    def __init__(self, workspace: Path) -> None:
        super().__init__(workspace, "process")
        self.process = ProcessRuntime(ToolContext(workspace=str(workspace)), max_workers=2)
        self.runtime = self.process

    def running(self) -> set[str]:
        found = set()
        for marker in map(self.marker, FLAVOURS):
            if marker.exists():
                pid = int(marker.read_text())
                if alive(pid):
                    found.add(f"worker pid {pid}")
        return found

    def close(self) -> None:
        self.process.close()


def _wasm_spec(behaviour: str, input_schema: dict[str, Any] | None = None) -> ToolSpec:
    return ToolSpec(
        name=f"conformance.{behaviour}",
        runtime="wasm",
        entry=ToolEntry(kind="wasm", module=str(WAT / f"{behaviour}.wat")),
        **({"input_schema": input_schema} if input_schema else {}),
    )


def _echo_schema() -> dict[str, Any]:
    """The Python echo tool's input schema, declared by the other forms so all refuse the same arguments."""
    spec = spec_of(tools.echo)
    assert spec is not None
    return spec.input_schema


def guest_threads() -> set[int]:
    """Threads executing a wasm guest right now (by their stacks, so idle pooled threads don't count)."""
    found = set()
    for ident, frame in sys._current_frames().items():
        while frame is not None:
            code = frame.f_code
            if code.co_name == "run" and code.co_filename.endswith("wasm_engine.py"):
                found.add(ident)
                break
            frame = frame.f_back
    return found


class WasmHarness(Harness):
    def __init__(self, workspace: Path) -> None:
        super().__init__(workspace)
        self.name = "wasm"
        self.runtime = self.wasm = WasmRuntime(ToolContext(workspace=str(workspace)), persist=False)
        for behaviour in BEHAVIOURS:
            self.specs[behaviour] = _wasm_spec(behaviour, _echo_schema() if behaviour == "echo" else None)

    def running(self) -> set[str]:
        # A guest cannot write a marker without a writable preopen; its thread is the evidence instead.
        return {f"guest thread {ident}" for ident in guest_threads()}

    def close(self) -> None:
        self.wasm.close()


# The docker tools: the command in the base image (which has python3), JSON on stdin and stdout. All
# share one mount, so they share a container key and a warm container.
DOCKER_COMMANDS: dict[str, list[str]] = {
    "echo": ["python3", "-c", "import json, sys; print(json.dumps(json.load(sys.stdin)))"],
    "fail": ["python3", "-c", f"import sys; print({tools.FAIL_TEXT!r}, file=sys.stderr); sys.exit(3)"],
    "leak": ["python3", "-c", f"import json; print(json.dumps({tools.LEAK!r}))"],
    "waits": ["sh", "-c", "echo $$ > /signal/waits && exec sleep 3600"],
    "spins": ["python3", "-c", "open('/signal/spins', 'w').close()\nwhile True:\n    pass"],
}


class DockerHarness(Harness):
    def __init__(self, workspace: Path, found: engine.DockerEngine) -> None:
        super().__init__(workspace)
        self.name = "docker"
        self.engine = found
        signal = workspace / "signal"
        signal.mkdir()
        signal.chmod(0o777)  # the container's user does not own the host folder
        self.docker = DockerRuntime(ToolContext(workspace=str(workspace)), image=found.image)
        self.runtime = self.docker
        mounts = [Mount(host="signal", guest="/signal", writable=True)]
        for behaviour, argv in DOCKER_COMMANDS.items():
            self.specs[behaviour] = ToolSpec(
                name=f"conformance.{behaviour}",
                runtime="docker",
                entry=ToolEntry(kind="docker", image=found.image, argv=argv, mounts=mounts),
                **({"input_schema": _echo_schema()} if behaviour == "echo" else {}),
            )

    def containers(self) -> set[str]:
        """The engine's own listing of this runtime's containers, running or not."""
        return {c["Id"] for c in managed_containers(self.engine.api, **{LABEL_RUNTIME: self.docker.instance})}

    def running(self) -> set[str]:
        # Once a hanging tool has started, the containers of this runtime are where it runs.
        if not any(m.exists() for m in map(self.marker, FLAVOURS)):
            return set()
        return {f"container {cid[:12]}" for cid in self.containers()}

    def close(self) -> None:
        self.docker.close()
        assert self.containers() == set(), "closing the docker runtime left containers behind"


@pytest.fixture
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    name = request.param
    made: Harness
    if name == "inprocess":
        made = InProcessHarness(tmp_path)
    elif name == "process":
        made = ProcessHarness(tmp_path)
    elif name == "wasm":
        made = WasmHarness(tmp_path)
    else:
        made = DockerHarness(tmp_path, request.getfixturevalue("docker_engine"))  # skips, saying why, if no engine
    try:
        yield made
    finally:
        made.close()


def backends(flavours: tuple[str, ...] = ()) -> Any:
    """``pytest.mark.parametrize`` over every backend (and flavour)."""
    cases = [(b, f) for b in BACKENDS for f in flavours] if flavours else [(b,) for b in BACKENDS]
    params = [pytest.param(*case, id="-".join(case)) for case in cases]
    names = ("harness", "flavour") if flavours else ("harness",)
    return pytest.mark.parametrize(names, params, indirect=["harness"])


# -- helpers ---------------------------------------------------------------------------------------------------


async def invoke(
    harness: Harness, behaviour: str, arguments: dict[str, Any] | None = None, limits: Limits | None = None
) -> RuntimeOutcome:
    """Call the runtime directly, as the invocation path would (bounded, so a broken backend fails the test)."""
    spec = harness.spec(behaviour)
    call = ToolCall(tool=spec.name, arguments=harness.arguments(behaviour) if arguments is None else arguments)
    with anyio.fail_after(90):
        return await harness.runtime.invoke(spec, call, limits or Limits())


def echo_call(harness: Harness, value: Any = "again") -> ToolCall:
    return ToolCall(tool=harness.spec("echo").name, arguments={"value": value}, runtime=harness.name)


class Spy:
    """A runtime that counts the calls reaching it and hands them on."""

    def __init__(self, inner: Runtime) -> None:
        self.inner = inner
        self.name = inner.name
        self.calls: list[str] = []

    async def invoke(self, spec: ToolSpec, call: ToolCall, limits: Limits) -> RuntimeOutcome:
        self.calls.append(call.id)
        return await self.inner.invoke(spec, call, limits)

    async def aclose(self) -> None:
        await self.inner.aclose()


def invoker(harness: Harness, runtime: Runtime | None = None) -> Invoker:
    return Invoker(harness.lookup, {harness.name: runtime or harness.runtime})


async def while_watching(harness: Harness, work: Callable[[], Awaitable[Any]]) -> tuple[Any, set[str]]:
    """Run ``work`` while polling what the backend runs; returns its result and what was seen running."""
    seen: set[str] = set()

    async def watch() -> None:
        nonlocal seen
        while not seen:
            seen = await anyio.to_thread.run_sync(harness.running)
            await anyio.sleep(0.01)  # bounded by the work: the watcher is cancelled when it ends

    async with anyio.create_task_group() as group:
        group.start_soon(watch)
        result = await work()
        group.cancel_scope.cancel()
    return result, seen


# -- 1. arguments in, result out ----------------------------------------------------------------------------


@backends()
async def test_arguments_go_in_and_the_result_comes_out(harness: Harness) -> None:
    outcome = await invoke(harness, "echo", {"value": VALUE})
    assert outcome.error is None, outcome.error
    assert outcome.output == {"value": VALUE}
    # As JSON text too: Python's == takes True for 1 and 1.0 for 1, JSON does not.
    assert json.dumps(outcome.output, sort_keys=True) == json.dumps({"value": VALUE}, sort_keys=True)


# -- 2. errors are data ---------------------------------------------------------------------------------------


@backends()
async def test_an_error_comes_back_as_data(harness: Harness) -> None:
    outcome = await invoke(harness, "fail")  # returns: a raised exception would fail the test here
    assert outcome.output is None
    assert isinstance(outcome.error, ToolError)
    assert outcome.error.kind == ErrorKind.TOOL_ERROR
    assert tools.FAIL_TEXT in outcome.error.message, outcome.error.message


# -- 3. timeouts ----------------------------------------------------------------------------------------------


@backends(FLAVOURS)
async def test_a_timeout_stops_the_call_promptly_and_the_runtime_serves_again(harness: Harness, flavour: str) -> None:
    calls = invoker(harness)
    warm = await calls.invoke(echo_call(harness, "warm"))  # a warm worker / container / module cache
    assert warm.error is None, warm.error
    spec = harness.spec(flavour)
    call = ToolCall(
        tool=spec.name, arguments=harness.arguments(flavour), limits=Limits(timeout=TIMEOUT), runtime=harness.name
    )
    started = time.perf_counter()
    with anyio.fail_after(TIMEOUT + 60):
        result, seen = await while_watching(harness, lambda: calls.invoke(call))
    elapsed = time.perf_counter() - started
    left = seen & harness.running()

    assert result.error is not None and result.error.kind == ErrorKind.TIMEOUT, result.error
    assert TIMEOUT <= elapsed < TIMEOUT + PROMPTLY, elapsed
    assert seen, "the tool never started: the timeout stopped nothing"
    again = await calls.invoke(echo_call(harness))
    assert again.error is None and again.output == {"value": "again"}, again.error
    assert not left, f"still running after the timed-out call returned: {sorted(left)}"


# -- 4. cancellation ------------------------------------------------------------------------------------------


@backends(FLAVOURS)
async def test_cancellation_stops_the_work_and_leaves_nothing_running(harness: Harness, flavour: str) -> None:
    warm = await invoke(harness, "echo", {"value": "warm"})
    assert warm.error is None, warm.error
    finished: list[RuntimeOutcome] = []
    seen: set[str] = set()

    async def hang() -> None:
        finished.append(await invoke(harness, flavour))

    async def started() -> bool:
        nonlocal seen
        seen = await anyio.to_thread.run_sync(harness.running)
        return bool(seen)

    with anyio.fail_after(60):
        async with anyio.create_task_group() as group:
            group.start_soon(hang)
            deadline = time.monotonic() + 30
            while not await started():
                assert time.monotonic() < deadline, "the tool never started"
                await anyio.sleep(0.01)  # bounded polling for the tool to run
            cancelled_at = time.perf_counter()
            group.cancel_scope.cancel()
    took = time.perf_counter() - cancelled_at
    left = seen & harness.running()

    assert finished == [], "the call returned instead of being cancelled"
    assert took < PROMPTLY, took
    again = await invoke(harness, "echo", {"value": "again"})
    assert again.error is None and again.output == {"value": "again"}, again.error
    assert not left, f"still running after the cancelled call returned: {sorted(left)}"


# -- 5. output cap --------------------------------------------------------------------------------------------


@backends()
async def test_an_over_large_result_is_limit_exceeded(harness: Harness) -> None:
    cap = Limits(max_output=10_000)
    small = await invoke(harness, "echo", {"value": "x" * 100}, cap)
    assert small.error is None and small.output == {"value": "x" * 100}, small.error
    large = await invoke(harness, "echo", {"value": "x" * 50_000}, cap)
    assert large.error is not None and large.error.kind == ErrorKind.LIMIT_EXCEEDED, large.error or "no error"
    assert large.output is None


# -- 6. secrets are scrubbed on the invocation path ----------------------------------------------------


@backends()
async def test_secrets_in_a_result_are_scrubbed_by_the_invoker(harness: Harness) -> None:
    raw = await invoke(harness, "leak")
    assert raw.error is None and raw.output == tools.LEAK, raw.error  # the runtime itself hands them over
    result = await invoker(harness).invoke(ToolCall(tool=harness.spec("leak").name, runtime=harness.name))
    assert result.error is None, result.error
    assert result.output == tools.LEAK_SCRUBBED
    assert tools.TOKEN not in json.dumps(result.output)


@backends()
async def test_secrets_in_an_error_are_scrubbed_by_the_invoker(harness: Harness) -> None:
    result = await invoker(harness).invoke(ToolCall(tool=harness.spec("fail").name, runtime=harness.name))
    assert result.error is not None and result.error.kind == ErrorKind.TOOL_ERROR, result.error
    assert "something went wrong: disk on fire (retry with ***)" in result.error.message, result.error.message
    assert tools.TOKEN not in result.error.model_dump_json()
    assert tools.TOKEN not in (result.stderr or "")


# -- 7. invalid arguments are refused before the runtime runs ------------------------------------------

@backends()
async def test_invalid_arguments_are_refused_before_the_runtime_runs(harness: Harness) -> None:
    spy = Spy(harness.runtime)
    calls = invoker(harness, spy)
    echo = harness.spec("echo").name
    missing = await calls.invoke(ToolCall(tool=echo, arguments={}, runtime=harness.name))
    unexpected = await calls.invoke(ToolCall(tool=echo, arguments={"value": 1, "valeu": 2}, runtime=harness.name))
    valid = await calls.invoke(echo_call(harness, [1, "two"]))  # the positive control
    assert missing.error is not None and missing.error.kind == ErrorKind.INVALID_ARGUMENTS, missing.error
    assert missing.error.message.startswith(f"invalid arguments for {harness.spec('echo').ref}")
    assert "value" in missing.error.message, missing.error.message
    assert unexpected.error is not None and unexpected.error.kind == ErrorKind.INVALID_ARGUMENTS, unexpected.error
    assert "valeu" in unexpected.error.message or "valeu" in str(unexpected.error.details), unexpected.error
    assert valid.error is None and valid.output == {"value": [1, "two"]}, valid.error
    # Only the valid call reached the runtime.
    assert spy.calls == [valid.call_id]
