"""The wasm runtime against real wasmtime, with small WASI tools written in WAT (tests/sandbox/wasm/)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

import toolnexus as tn
from tests.sandbox.docker_engine import unavailable
from toolnexus.core.call import ToolCall
from toolnexus.core.context import ToolContext
from toolnexus.core.errors import ErrorKind
from toolnexus.core.runtime import Runtime, RuntimeOutcome
from toolnexus.core.spec import Limits, Mount, ToolEntry, ToolSpec
from toolnexus.engine import Invoker
from toolnexus.sandbox.wasm import WasmRuntime

TOOLS = Path(__file__).parent / "wasm"
# WASI errnos: what a refused path gives (perm, notcapable), a missing file, a descriptor that is not open.
REFUSED = {63, 76}
ENOENT, EBADF = 44, 8


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[WasmRuntime]:
    rt = WasmRuntime(ToolContext(workspace=str(tmp_path)), cache_dir=tmp_path / "cache")
    yield rt
    rt.close()


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """A folder to mount, beside a secret the guest must not reach (directly or through a symlink)."""
    (tmp_path / "secret.txt").write_text("top secret\n")
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "inside.txt").write_text("hello from inside\n")
    (folder / "sub").mkdir()
    (folder / "link.txt").symlink_to("../secret.txt")
    return folder


def wasm_tool(
    module: str | Path,
    *,
    mounts: list[Mount] | None = None,
    env: dict[str, str] | None = None,
    limits: Limits | None = None,
) -> ToolSpec:
    path = Path(module) if Path(module).is_absolute() else TOOLS / f"{module}.wat"
    return ToolSpec(
        name=f"wasm.{path.stem}",
        runtime="wasm",
        limits=limits or Limits(),
        entry=ToolEntry(kind="wasm", module=str(path), mounts=mounts or [], env=env or {}),
    )


async def invoke(
    runtime: WasmRuntime, spec: ToolSpec, arguments: dict[str, Any] | None = None, limits: Limits | None = None
) -> RuntimeOutcome:
    return await runtime.invoke(spec, ToolCall(tool=spec.name, arguments=arguments or {}), limits or spec.limits)


def guest_threads() -> list[str]:
    """Threads executing a guest right now (by their stacks, so pooled worker threads don't count)."""
    return [
        str(ident)
        for ident, frame in sys._current_frames().items()
        if any(f.f_code.co_name == "run" and f.f_code.co_filename.endswith("wasm_engine.py") for f in _stack(frame))
    ]


def _stack(frame: Any) -> Iterator[Any]:
    while frame is not None:
        yield frame
        frame = frame.f_back


def test_is_a_runtime(runtime: WasmRuntime) -> None:
    assert isinstance(runtime, Runtime)
    assert runtime.name == "wasm"


# -- results and errors ----------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_the_result_is_the_json_the_module_prints(runtime: WasmRuntime) -> None:
    arguments = {"text": "héllo", "n": [1, 2.5, None], "nested": {"ok": True}}
    outcome = await invoke(runtime, wasm_tool("echo"), arguments)
    assert outcome.error is None
    assert outcome.output == arguments
    assert outcome.stderr is None


@pytest.mark.anyio
async def test_a_non_zero_exit_is_a_tool_error_with_the_stderr_tail(runtime: WasmRuntime) -> None:
    outcome = await invoke(runtime, wasm_tool("fail"))
    assert outcome.output is None
    assert outcome.error.kind == ErrorKind.TOOL_ERROR
    assert "exited with status 3" in outcome.error.message
    assert "something went wrong: disk on fire" in outcome.error.message
    assert outcome.error.details["exit_code"] == 3
    assert outcome.stderr == "starting up\nsomething went wrong: disk on fire\n"


@pytest.mark.anyio
async def test_output_that_is_not_json_is_output_invalid(runtime: WasmRuntime) -> None:
    bad = await invoke(runtime, wasm_tool("emit"), {"text": "not json"})
    assert bad.error.kind == ErrorKind.OUTPUT_INVALID
    assert "no valid JSON" in bad.error.message
    good = await invoke(runtime, wasm_tool("emit"), {"text": "[1, 2]"})
    assert good.error is None and good.output == [1, 2]
    nothing = await invoke(runtime, wasm_tool("emit"), {"text": ""})
    assert nothing.error is None and nothing.output is None


@pytest.mark.anyio
async def test_a_trap_is_a_tool_error(runtime: WasmRuntime, tmp_path: Path) -> None:
    module = tmp_path / "trap.wat"
    module.write_text('(module (memory (export "memory") 1) (func (export "_start") unreachable))')
    outcome = await invoke(runtime, wasm_tool(module))
    assert outcome.error.kind == ErrorKind.TOOL_ERROR
    assert "trapped" in outcome.error.message and "unreachable" in outcome.error.message


@pytest.mark.anyio
async def test_unusable_modules_are_runtime_errors_that_say_why(runtime: WasmRuntime, tmp_path: Path) -> None:
    missing = await invoke(runtime, wasm_tool(tmp_path / "nowhere.wasm"))
    assert missing.error.kind == ErrorKind.RUNTIME_ERROR
    assert "cannot read wasm module" in missing.error.message and "nowhere.wasm" in missing.error.message

    (tmp_path / "broken.wat").write_text('(module (func (export "_start") (i32.add)))')
    broken = await invoke(runtime, wasm_tool(tmp_path / "broken.wat"))
    assert broken.error.kind == ErrorKind.RUNTIME_ERROR
    assert "not a valid WebAssembly module" in broken.error.message

    (tmp_path / "imports.wat").write_text('(module (import "env" "launch" (func)) (func (export "_start")))')
    imports = await invoke(runtime, wasm_tool(tmp_path / "imports.wat"))
    assert imports.error.kind == ErrorKind.RUNTIME_ERROR
    assert "needs imports WASI does not provide" in imports.error.message and "launch" in imports.error.message

    (tmp_path / "reactor.wat").write_text('(module (memory (export "memory") 1) (func (export "run")))')
    reactor = await invoke(runtime, wasm_tool(tmp_path / "reactor.wat"))
    assert "not a WASI command" in reactor.error.message


@pytest.mark.anyio
async def test_tools_of_other_kinds_and_missing_mounts_are_refused(runtime: WasmRuntime, tmp_path: Path) -> None:
    python_tool = ToolSpec(name="py.tool", entry=ToolEntry(kind="python", target="tests.sandbox.tools:add"))
    refused = await invoke(runtime, python_tool)
    assert refused.error.kind == ErrorKind.RUNTIME_ERROR and "not a wasm tool" in refused.error.message

    unmounted = wasm_tool("echo", mounts=[Mount(host=str(tmp_path / "absent"), guest="/data")])
    outcome = await invoke(runtime, unmounted)
    assert outcome.error.kind == ErrorKind.RUNTIME_ERROR
    assert "absent" in outcome.error.message and "does not exist" in outcome.error.message


# -- what the guest can see --------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_paths_outside_the_preopens_cannot_be_opened(runtime: WasmRuntime, data: Path) -> None:
    tool = wasm_tool("open", mounts=[Mount(host=str(data), guest="/data")])

    async def errno(path: str) -> int:
        outcome = await invoke(runtime, tool, {"path": path})
        assert outcome.error is None, outcome.error
        return outcome.output["errno"]

    assert await errno("inside.txt") == 0  # the probe itself works
    assert await errno("missing.txt") == ENOENT
    for escape in (
        "../secret.txt",
        "sub/../../secret.txt",
        str(data.parent / "secret.txt"),
        "/etc/passwd",
        "link.txt",
    ):  # link.txt is a symlink to ../secret.txt
        assert await errno(escape) in REFUSED, escape


@pytest.mark.anyio
async def test_a_tool_without_mounts_has_no_preopened_folder(runtime: WasmRuntime) -> None:
    outcome = await invoke(runtime, wasm_tool("open"), {"path": "etc/passwd"})
    assert outcome.output == {"errno": EBADF}  # fd 3 would be the first preopen: there is none


@pytest.mark.anyio
async def test_mounts_are_read_only_unless_declared_writable(runtime: WasmRuntime, data: Path) -> None:
    read_only = wasm_tool("write", mounts=[Mount(host=str(data), guest="/data")])
    for path in ("new.txt", "inside.txt"):
        outcome = await invoke(runtime, read_only, {"path": path})
        assert outcome.output["open"] in REFUSED and outcome.output["write"] is None, path
    assert not (data / "new.txt").exists()
    assert (data / "inside.txt").read_text() == "hello from inside\n"

    writable = wasm_tool("write", mounts=[Mount(host=str(data), guest="/data", writable=True)])
    outcome = await invoke(runtime, writable, {"path": "new.txt"})
    assert outcome.output == {"open": 0, "write": 0}
    assert (data / "new.txt").read_text() == "hello\n"


@pytest.mark.anyio
async def test_relative_mounts_resolve_against_the_workspace(runtime: WasmRuntime, data: Path) -> None:
    tool = wasm_tool("open", mounts=[Mount(host="data", guest="/data")])  # the fixture's workspace is data's parent
    assert (await invoke(runtime, tool, {"path": "inside.txt"})).output == {"errno": 0}


@pytest.mark.anyio
async def test_the_environment_is_only_what_the_tool_declares(
    runtime: WasmRuntime,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TOOLNEXUS_TEST_SECRET", "s3cret")
    assert (await invoke(runtime, wasm_tool("env"))).output == []
    declared = await invoke(runtime, wasm_tool("env", env={"GREETING": "hi", "MODE": "test"}))
    assert sorted(declared.output) == ["GREETING=hi", "MODE=test"]


# -- limits, timeouts and cancellation --------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_memory_bomb_is_stopped_by_the_cap(runtime: WasmRuntime) -> None:
    cap = 16 * 2**20
    outcome = await invoke(runtime, wasm_tool("membomb"), limits=Limits(memory=cap))
    assert outcome.error.kind == ErrorKind.LIMIT_EXCEEDED
    assert "memory limit" in outcome.error.message
    assert 0 < outcome.error.details["memory"] <= cap


@pytest.mark.anyio
async def test_a_module_needing_more_memory_than_the_cap_does_not_start(runtime: WasmRuntime, tmp_path: Path) -> None:
    module = tmp_path / "big.wat"
    module.write_text('(module (memory (export "memory") 64) (func (export "_start")))')  # 4 MiB up front
    outcome = await invoke(runtime, wasm_tool(module), limits=Limits(memory=2**20))
    assert outcome.error.kind == ErrorKind.LIMIT_EXCEEDED
    assert (await invoke(runtime, wasm_tool(module), limits=Limits(memory=8 * 2**20))).error is None


@pytest.mark.anyio
async def test_output_over_the_cap_is_limit_exceeded(runtime: WasmRuntime) -> None:
    flood = await invoke(runtime, wasm_tool("flood"), limits=Limits(max_output=100_000))
    assert flood.error.kind == ErrorKind.LIMIT_EXCEEDED
    assert "100000-byte cap" in flood.error.message
    big = await invoke(runtime, wasm_tool("echo"), {"text": "x" * 5000}, limits=Limits(max_output=1000))
    assert big.error.kind == ErrorKind.LIMIT_EXCEEDED


@pytest.mark.anyio
async def test_cpu_time_is_limited(runtime: WasmRuntime) -> None:
    started = time.perf_counter()
    outcome = await invoke(runtime, wasm_tool("loop"), limits=Limits(cpu_time=0.2))
    assert outcome.error.kind == ErrorKind.LIMIT_EXCEEDED
    assert "CPU time limit of 0.2s" in outcome.error.message
    assert time.perf_counter() - started < 5


@pytest.mark.anyio
async def test_the_timeout_stops_an_infinite_loop(runtime: WasmRuntime) -> None:
    spec = wasm_tool("loop", limits=Limits(timeout=0.3))
    invoker = Invoker(lambda name, version: spec, {"wasm": runtime})
    started = time.perf_counter()
    result = await invoker.invoke(ToolCall(tool=spec.name))
    elapsed = time.perf_counter() - started
    assert result.error.kind == ErrorKind.TIMEOUT
    assert 0.3 <= elapsed < 2.0
    assert guest_threads() == []  # the guest's thread ended: not abandoned, still spinning


@pytest.mark.anyio
async def test_cancellation_interrupts_a_running_guest(runtime: WasmRuntime) -> None:
    spec = wasm_tool("loop")
    await anyio.to_thread.run_sync(runtime.modules.load, spec.entry.module)  # so the guest starts at once
    started = time.perf_counter()
    with anyio.move_on_after(0.3) as scope:
        await invoke(runtime, spec)
    assert scope.cancelled_caught  # the cancellation propagated
    assert time.perf_counter() - started < 2.0
    assert guest_threads() == []


@pytest.mark.anyio
async def test_cancellation_interrupts_a_guest_sleeping_in_the_host(runtime: WasmRuntime) -> None:
    started = time.perf_counter()
    with anyio.move_on_after(0.3) as scope:
        await invoke(runtime, wasm_tool("sleep"))  # poll_oneoff for 60 s
    assert scope.cancelled_caught
    assert time.perf_counter() - started < 2.0
    assert guest_threads() == []


@pytest.mark.anyio
async def test_a_short_sleep_completes(runtime: WasmRuntime, tmp_path: Path) -> None:
    source = (TOOLS / "sleep.wat").read_text().replace("(i64.const 60000000000)", "(i64.const 50000000)")
    (tmp_path / "nap.wat").write_text(source)
    started = time.perf_counter()
    outcome = await invoke(runtime, wasm_tool(tmp_path / "nap.wat"))
    assert outcome.output == {}
    assert time.perf_counter() - started >= 0.05


@pytest.mark.anyio
async def test_calls_run_concurrently_and_stay_apart(runtime: WasmRuntime) -> None:
    results: dict[int, Any] = {}

    async def echo(i: int) -> None:
        results[i] = (await invoke(runtime, wasm_tool("echo"), {"call": i, "pad": "y" * i * 100})).output

    async def spin() -> None:
        with anyio.move_on_after(0.5):
            await invoke(runtime, wasm_tool("loop"))

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(spin)
        for i in range(12):
            tasks.start_soon(echo, i)
    assert results == {i: {"call": i, "pad": "y" * i * 100} for i in range(12)}
    assert guest_threads() == []


@pytest.mark.anyio
async def test_a_closed_runtime_stops_its_guests_and_refuses_calls(runtime: WasmRuntime) -> None:
    outcome: RuntimeOutcome | None = None

    async def spin() -> None:
        nonlocal outcome
        outcome = await invoke(runtime, wasm_tool("loop"))

    await anyio.to_thread.run_sync(runtime.modules.load, str(TOOLS / "loop.wat"))
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(spin)
            await anyio.wait_all_tasks_blocked()  # spin is waiting for its guest's thread
            await runtime.aclose()
    assert outcome is not None and outcome.error.kind == ErrorKind.CANCELLED
    refused = await invoke(runtime, wasm_tool("echo"))
    assert refused.error.kind == ErrorKind.RUNTIME_ERROR and "closed" in refused.error.message


# -- the module cache ---------------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_modules_compile_once_and_are_cached_on_disk(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    module = tmp_path / "echo.wat"
    shutil.copy(TOOLS / "echo.wat", module)
    first = WasmRuntime(cache_dir=cache)
    assert (await invoke(first, wasm_tool(module), {"a": 1})).output == {"a": 1}
    assert first.modules.stats.compiled == 1
    compiled = first.modules.load(str(module))
    stored = first.modules.disk_path(compiled.sha256)
    assert stored is not None and stored.is_file() and stored.parent == cache
    assert compiled.sha256 in stored.name and "wasmtime-" in stored.name
    assert oct(cache.stat().st_mode & 0o777) == oct(0o700)

    for i in range(3):
        assert (await invoke(first, wasm_tool(module), {"a": i})).output == {"a": i}
    assert first.modules.stats.compiled == 1  # warm calls instantiate only

    second = WasmRuntime(cache_dir=cache)  # a new runtime (or process) loads from disk
    assert (await invoke(second, wasm_tool(module), {"b": 2})).output == {"b": 2}
    assert (second.modules.stats.compiled, second.modules.stats.loaded) == (0, 1)

    module.write_text(module.read_text() + "\n;; changed\n")  # new content, new key: compiled again
    assert (await invoke(second, wasm_tool(module), {"c": 3})).output == {"c": 3}
    assert second.modules.stats.compiled == 1
    assert len(list(cache.glob("*.cwasm"))) == 2


@pytest.mark.anyio
async def test_a_corrupt_cache_file_is_compiled_again(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = WasmRuntime(cache_dir=cache)
    compiled = first.modules.load(str(TOOLS / "echo.wat"))
    stored = first.modules.disk_path(compiled.sha256)
    assert stored is not None
    stored.write_bytes(b"not a compiled module")
    second = WasmRuntime(cache_dir=cache)
    assert (await invoke(second, wasm_tool("echo"), {"ok": True})).output == {"ok": True}
    assert (second.modules.stats.compiled, second.modules.stats.loaded) == (1, 0)
    third = WasmRuntime(cache_dir=cache)  # the rewritten file is good again
    assert (await invoke(third, wasm_tool("echo"), {"ok": True})).output == {"ok": True}
    assert (third.modules.stats.compiled, third.modules.stats.loaded) == (0, 1)


@pytest.mark.anyio
async def test_without_persistence_nothing_is_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    runtime = WasmRuntime(persist=False)
    assert (await invoke(runtime, wasm_tool("echo"), {"x": 1})).output == {"x": 1}
    assert runtime.modules.stats.compiled == 1
    assert not (tmp_path / "xdg").exists()
    assert WasmRuntime().modules.directory == tmp_path / "xdg" / "toolnexus" / "wasm"


@pytest.mark.anyio
async def test_concurrent_first_calls_compile_once(tmp_path: Path) -> None:
    runtime = WasmRuntime(cache_dir=tmp_path / "cache")
    outputs = []

    async def echo(i: int) -> None:
        outputs.append((await invoke(runtime, wasm_tool("echo"), {"i": i})).output)

    async with anyio.create_task_group() as tasks:
        for i in range(8):
            tasks.start_soon(echo, i)
    assert sorted(o["i"] for o in outputs) == list(range(8))
    assert runtime.modules.stats.compiled == 1


# -- end to end ---------------------------------------------------------------------------------------------------


MANIFEST = """\
tools:
  - name: demo.echo
    summary: Echo the arguments back.
    wasm: modules/echo.wat
    input_schema:
      type: object
      properties: {message: {type: string}}
      required: [message]
  - name: demo.peek
    summary: Open a file of the mounted data folder.
    wasm: modules/open.wat
    mounts: [{host: data, guest: /data}]
  - name: demo.spin
    summary: Never finishes.
    wasm: modules/loop.wat
    limits: {timeout: 300ms}
"""


@pytest.mark.anyio
async def test_a_manifest_wasm_tool_runs_through_the_nexus(workspace: Path) -> None:
    tools = workspace / "tools"
    (tools / "modules").mkdir(parents=True)
    for name in ("echo", "open", "loop"):
        shutil.copy(TOOLS / f"{name}.wat", tools / "modules" / f"{name}.wat")
    (tools / "data").mkdir()
    (tools / "data" / "report.txt").write_text("numbers\n")
    (tools / "demo.tools.yaml").write_text(MANIFEST)

    with tn.Nexus(workspace, store=False) as nexus:
        runtime = WasmRuntime(ToolContext(workspace=str(workspace)), cache_dir=workspace / ".cache")
        nexus.runtimes["wasm"] = runtime
        nexus.invoker.runtimes["wasm"] = runtime
        assert nexus.registry.get("demo.echo", None).runtime == "wasm"

        echoed = await nexus.acall("demo.echo", {"message": "hi"})
        assert echoed.error is None and echoed.output == {"message": "hi"}
        assert echoed.runtime == "wasm"

        invalid = await nexus.acall("demo.echo", {})
        assert invalid.error.kind == ErrorKind.INVALID_ARGUMENTS

        found = await nexus.acall("demo.peek", {"path": "report.txt"})
        assert found.output == {"errno": 0}
        escaped = await nexus.acall("demo.peek", {"path": "../demo.tools.yaml"})
        assert escaped.output["errno"] in REFUSED

        spun = await nexus.acall("demo.spin")
        assert spun.error.kind == ErrorKind.TIMEOUT
        assert guest_threads() == []


# -- a tool in C, when clang can target wasm32-wasi here ---------------------------------------------------------

C_TOOL = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
    char input[4096];
    size_t n = fread(input, 1, sizeof input - 1, stdin);
    input[n] = 0;
    if (strstr(input, "\"bomb\"")) {
        size_t mib = 0;
        char *chunk, *head = NULL;  /* chained, so the optimiser cannot drop the allocations */
        while ((chunk = malloc(1 << 20)) != NULL) {
            memset(chunk, 1, 1 << 20);
            *(char **)chunk = head;
            head = chunk;
            mib++;
        }
        fprintf(stderr, "out of memory after %zu MiB (last at %p)\n", mib, (void *)head);
        return 1;
    }
    char line[64] = "";
    FILE *f = fopen("/data/inside.txt", "r");
    if (f) { fgets(line, sizeof line, f); fclose(f); }
    line[strcspn(line, "\n")] = 0;
    FILE *g = fopen("/etc/passwd", "r");
    printf("{\"input_bytes\": %zu, \"inside\": \"%s\", \"passwd_readable\": %s}\n", n, line, g ? "true" : "false");
    return 0;
}
"""


@pytest.fixture(scope="module")
def c_tool(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The C tool above, built for wasm32-wasi by clang (``.ci/system-deps`` installs the toolchain).

    A machine without a toolchain that builds for wasm skips outside CI; in CI that is a failure."""
    clang = shutil.which("clang")
    if clang is None:
        unavailable("clang is not installed (apt-get install clang lld wasi-libc libclang-rt-dev-wasm32)")
    folder = tmp_path_factory.mktemp("c")
    (folder / "tool.c").write_text(C_TOOL)
    # Debian's wasi-libc lives under /usr/{include,lib}/wasm32-wasi, which clang finds from --sysroot=/usr.
    argv = [clang, "--target=wasm32-wasi", "--sysroot=/usr", "-O2", "-o", str(folder / "tool.wasm"),
            str(folder / "tool.c")]
    built = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    if built.returncode != 0:
        unavailable(f"clang cannot build for wasm32-wasi here (needs wasi-libc, lld and "
                    f"libclang-rt-dev-wasm32): {built.stderr.strip()[-300:]}")
    return folder / "tool.wasm"


@pytest.mark.anyio
async def test_a_c_tool_reads_stdin_and_its_mount_only(runtime: WasmRuntime, c_tool: Path, data: Path) -> None:
    tool = wasm_tool(c_tool, mounts=[Mount(host=str(data), guest="/data")])
    outcome = await invoke(runtime, tool, {"mode": "read"})
    assert outcome.error is None, outcome.error
    assert outcome.output == {
        "input_bytes": len('{"mode": "read"}'),
        "inside": "hello from inside",
        "passwd_readable": False,
    }


@pytest.mark.anyio
async def test_a_c_memory_bomb_is_stopped_by_the_cap(runtime: WasmRuntime, c_tool: Path) -> None:
    outcome = await invoke(runtime, wasm_tool(c_tool), {"mode": "bomb"}, limits=Limits(memory=32 * 2**20))
    assert outcome.error.kind == ErrorKind.LIMIT_EXCEEDED
    assert "out of memory after" in (outcome.stderr or "")


@pytest.mark.anyio
@pytest.mark.parametrize("unnamed", [True, False])
async def test_output_files_leave_nothing_in_the_temporary_folder(
    runtime: WasmRuntime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, unnamed: bool
) -> None:
    from toolnexus.sandbox import wasm_engine

    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(wasm_engine.tempfile, "tempdir", str(folder))
    # Unnamed (O_TMPFILE) files where the system has them, named ones otherwise: both carry the output.
    monkeypatch.setattr(wasm_engine, "_unnamed_files", unnamed and wasm_engine._unnamed_files)
    outcome = await invoke(runtime, wasm_tool("echo"), {"text": "x" * 5000})
    assert outcome.error is None and outcome.output == {"text": "x" * 5000}
    assert list(folder.iterdir()) == []


@pytest.mark.anyio
async def test_a_call_cancelled_before_its_thread_starts_returns_at_once(runtime: WasmRuntime) -> None:
    spec = wasm_tool("loop")
    await anyio.to_thread.run_sync(runtime.modules.load, spec.entry.module)
    limiter = anyio.to_thread.current_default_thread_limiter()
    tokens, release = limiter.total_tokens, threading.Event()
    limiter.total_tokens = 1
    try:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(anyio.to_thread.run_sync, release.wait)  # holds the only worker thread
            await anyio.wait_all_tasks_blocked()
            started = time.perf_counter()
            with anyio.move_on_after(0.2) as scope:
                await invoke(runtime, spec)  # waits for a worker thread, and is cancelled meanwhile
            assert scope.cancelled_caught
            assert time.perf_counter() - started < 2.0  # not the 5 s stop grace: no guest ran
            release.set()
    finally:
        release.set()
        limiter.total_tokens = tokens
    assert guest_threads() == []
