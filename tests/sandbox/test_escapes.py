"""The sandbox conformance suite: a tool tries, as an attacker would, to get out of every sandboxed runtime.

Each probe is one ``python.exec`` snippet run in the process, wasm and docker runtimes as they are set up
by default (the process runtime in bubblewrap), with small default caps so that the bombs stay small.
A snippet never raises: it reports what each attempt got (``ok:…`` or ``refused:<exception>``), and the
test asserts the refusal, and where there is a host side to it, checks the host too (no file written, the
victim process alive, no connection accepted).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import psutil
import pytest

from tests.sandbox import docker_engine as engine
from toolnexus import ErrorKind, ToolCall, ToolContext, ToolResult
from toolnexus.builtins.pyexec import exec_python
from toolnexus.core.runtime import Runtime
from toolnexus.engine import Invoker
from toolnexus.registry import spec_of
from toolnexus.sandbox.docker import DockerRuntime
from toolnexus.sandbox.isolation import bwrap_path
from toolnexus.sandbox.process import ProcessIsolation, ProcessRuntime

pytestmark = pytest.mark.anyio

docker_engine = engine.docker_engine

RUNTIMES = ("process", "wasm", "docker")
SMALL_MEMORY = 256 * 2**20
DEFAULT_TIMEOUT = 3.0
SECRET = "planted-host-secret-7Qx2"
PLANTED_ENV = "TOOLNEXUS_PLANTED_TOKEN"

PRELUDE = """
import os, json, socket, signal, time
def attempt(fn):
    try:
        return "ok:" + str(fn())[:300]
    except BaseException as exc:
        return "refused:" + type(exc).__name__
def read(path):
    with open(path) as f:
        return f.read()
def write(path):
    with open(path, "w") as f:
        f.write("escaped")
    return path
"""


class Sandbox:
    """One runtime under attack, with a workspace, a folder beside it (another project) and the host's view."""

    def __init__(self, name: str, root: Path, docker: engine.DockerEngine | None) -> None:
        self.name = name
        self.workspace = root / "ws"
        self.workspace.mkdir()
        self.outside = root / "other-project"
        self.outside.mkdir()
        secret = self.outside / "secret.txt"
        secret.write_text(SECRET)
        secret.chmod(0o600)
        notes = self.outside / "notes.txt"
        notes.write_text(SECRET)
        notes.chmod(0o644)  # readable by anyone on the host: only the view keeps it out
        context = ToolContext(workspace=str(self.workspace))
        self.runtime: Runtime
        if name == "process":
            isolation = ProcessIsolation(namespaces=True, memory=SMALL_MEMORY, timeout=DEFAULT_TIMEOUT)
            self.runtime = ProcessRuntime(context, max_workers=2, isolation=isolation)
        elif name == "wasm":
            from toolnexus.sandbox.wasm import WasmRuntime

            self.runtime = WasmRuntime(context, memory=SMALL_MEMORY, timeout=DEFAULT_TIMEOUT)
        else:
            assert docker is not None
            self.runtime = DockerRuntime(context, image=docker.image, memory=SMALL_MEMORY, timeout=DEFAULT_TIMEOUT)
        spec = spec_of(exec_python)
        assert spec is not None
        self.spec = spec
        self.invoker = Invoker(lambda name, version: spec, {name: self.runtime})

    async def run(self, body: str, **inputs: Any) -> ToolResult:
        code = PRELUDE + textwrap.dedent(body)
        call = ToolCall(tool="python.exec", arguments={"code": code, "inputs": inputs}, runtime=self.name)
        with anyio.fail_after(240):  # the first wasm call compiles CPython once
            return await self.invoker.invoke(call)

    async def probe(self, body: str, **inputs: Any) -> dict[str, str]:
        result = await self.run(body, **inputs)
        assert result.error is None, result.error
        return result.output["result"]

    def close(self) -> None:
        close = getattr(self.runtime, "close", None)
        if close is not None:
            close()


@pytest.fixture(params=RUNTIMES)
def sandbox(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    monkeypatch.setenv(PLANTED_ENV, SECRET)
    name = request.param
    docker = None
    if name == "process" and bwrap_path() is None:
        engine.unavailable("bubblewrap is not installed or cannot create namespaces here")
    if name == "wasm":
        pytest.importorskip("wasmtime", reason="the wasm runtime needs the wasm extra")
    if name == "docker":
        docker = request.getfixturevalue("docker_engine")
    made = Sandbox(name, tmp_path, docker)
    try:
        yield made
    finally:
        made.close()


def refused(outcome: str) -> bool:
    return outcome.startswith("refused:")


async def test_host_secret_files_and_other_projects_cannot_be_read(sandbox: Sandbox) -> None:
    found = await sandbox.probe("""
        result = {p: attempt(lambda p=p: read(p)) for p in inputs["paths"]}
        result["listing"] = attempt(lambda: os.listdir(inputs["outside"]))
    """, paths=["/etc/shadow", "/root/.bashrc", str(sandbox.outside / "secret.txt"),
                str(sandbox.outside / "notes.txt")], outside=str(sandbox.outside))
    assert all(refused(outcome) for outcome in found.values()), found
    assert SECRET not in json.dumps(found)


async def test_nothing_is_written_outside_the_workspace(sandbox: Sandbox) -> None:
    targets = [str(sandbox.outside / "escaped.txt"), "/etc/toolnexus-escaped", "/usr/toolnexus-escaped",
               str(sandbox.workspace.parent / "escaped.txt")]
    found = await sandbox.probe("result = {p: attempt(lambda p=p: write(p)) for p in inputs['targets']}",
                                targets=targets)
    assert all(refused(outcome) for outcome in found.values()), found
    assert not [t for t in targets if os.path.exists(t)]


async def test_other_processes_environments_are_out_of_reach(sandbox: Sandbox) -> None:
    victim = subprocess.Popen(["sleep", "300"], env={**os.environ, "VICTIM_SECRET": SECRET})
    try:
        found = await sandbox.probe("""
            seen = []
            for pid in (os.listdir("/proc") if os.path.isdir("/proc") else []):
                if pid.isdigit():
                    seen.append(attempt(lambda pid=pid: read(f"/proc/{pid}/environ")))
            seen.append(attempt(lambda: read(f"/proc/{inputs['victim']}/environ")))
            seen.append(attempt(lambda: read(f"/proc/{inputs['parent']}/environ")))
            result = {"seen": seen, "own": dict(os.environ)}
        """, victim=victim.pid, parent=os.getpid())
    finally:
        victim.kill()
        victim.wait()
    text = json.dumps(found)
    assert SECRET not in text, "a host secret reached the sandbox"
    assert PLANTED_ENV not in found["own"]


async def test_the_loopback_network_is_cut(sandbox: Sandbox) -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        server.setblocking(False)
        found = await sandbox.probe(
            "result = {'connect': attempt(lambda: socket.create_connection(('127.0.0.1', inputs['port']), 3))}",
            port=server.getsockname()[1])
        with pytest.raises(BlockingIOError):
            server.accept()  # nobody connected
    assert refused(found["connect"]), found


BOMB_MARK = "33.3333"  # the bomb's children sleep with this argument, so the host can look for them


def bomb_children() -> list[int]:
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        if BOMB_MARK in (proc.info["cmdline"] or []) and proc.info["status"] != psutil.STATUS_ZOMBIE:
            found.append(proc.pid)
    return found


async def test_a_fork_bomb_is_contained(sandbox: Sandbox) -> None:
    result = await sandbox.run(f"""
        children, error = [], None
        try:
            for _ in range(2000):
                pid = os.fork()
                if pid == 0:
                    try:
                        os.execv("/bin/sleep", ["sleep", "{BOMB_MARK}"])
                    finally:
                        os._exit(0)
                children.append(pid)
        except BaseException as exc:
            error = type(exc).__name__
        for pid in children:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        result = {{"forked": len(children), "error": error}}
    """)
    if result.error is not None:
        # The bomb ran into the memory cap or the time cap before the pids cap: stopped all the same.
        assert result.error.kind in (ErrorKind.LIMIT_EXCEEDED, ErrorKind.TIMEOUT), result.error
    else:
        found = result.output["result"]
        assert found["error"] is not None, found
        assert found["forked"] <= 256, found
    deadline = time.monotonic() + 10
    while bomb_children() and time.monotonic() < deadline:
        await anyio.sleep(0.05)  # bounded: a killed sandbox's processes go asynchronously
    assert bomb_children() == [], "the bomb's processes outlived the call"
    again = await sandbox.run("result = 'alive'")
    assert again.error is None and again.output["result"] == "alive", again.error


async def test_a_memory_bomb_stops_at_the_default_cap(sandbox: Sandbox) -> None:
    # In 16 MiB pieces: one 2 GiB object does not even fit a wasm32 index.
    result = await sandbox.run("blocks = [bytearray(16 * 2**20) for _ in range(128)]\nresult = len(blocks)")
    assert result.error is not None, "2 GiB were allocated under a 256 MiB cap"
    assert result.error.kind in (ErrorKind.LIMIT_EXCEEDED, ErrorKind.TOOL_ERROR), result.error
    assert result.error.kind == ErrorKind.LIMIT_EXCEEDED or "MemoryError" in result.error.message, result.error
    again = await sandbox.run("result = 1 + 1")  # the runtime serves on
    assert again.error is None and again.output["result"] == 2, again.error


async def test_a_cpu_spin_stops_at_the_default_timeout(sandbox: Sandbox) -> None:
    await sandbox.run("result = 0")  # warm: the first wasm call may compile the interpreter
    started = time.perf_counter()
    result = await sandbox.run("while True:\n    pass")
    elapsed = time.perf_counter() - started
    assert result.error is not None and result.error.kind == ErrorKind.TIMEOUT, result.error
    assert DEFAULT_TIMEOUT <= elapsed < DEFAULT_TIMEOUT + 10, elapsed


async def test_the_parent_and_other_host_processes_cannot_be_killed(sandbox: Sandbox) -> None:
    victim = subprocess.Popen(["sleep", "300"])
    try:
        found = await sandbox.probe("""
            result = {
                "victim": attempt(lambda: os.kill(inputs["victim"], signal.SIGKILL)),
                "host": attempt(lambda: os.kill(inputs["host"], signal.SIGKILL)),
            }
        """, victim=victim.pid, host=os.getpid())
        # Killing its own parent reaches at most the sandbox itself: the call may fail, the host may not.
        await sandbox.run("os.kill(os.getppid(), signal.SIGKILL)\ntime.sleep(1)\nresult = 'still here'")
        assert victim.poll() is None, "the sandbox killed a host process"
    finally:
        victim.kill()
        victim.wait()
    assert refused(found["victim"]) and refused(found["host"]), found
    again = await sandbox.run("result = 'alive'")  # and the runtime serves the next call
    assert again.error is None and again.output["result"] == "alive", again.error


async def test_symlinks_do_not_lead_out_of_the_workspace(sandbox: Sandbox) -> None:
    (sandbox.workspace / "to-secret").symlink_to(sandbox.outside / "notes.txt")
    (sandbox.workspace / "to-shadow").symlink_to("/etc/shadow")
    (sandbox.workspace / "to-outside").symlink_to(sandbox.outside)
    found = await sandbox.probe("""
        result = {
            "notes_link": attempt(lambda: read("to-secret")),
            "shadow_link": attempt(lambda: read("to-shadow")),
            "folder_link": attempt(lambda: write("to-outside/escaped.txt")),
        }
    """)
    assert all(refused(outcome) for outcome in found.values()), found
    assert SECRET not in json.dumps(found)
    assert not (sandbox.outside / "escaped.txt").exists()


async def test_the_tool_runs_as_an_unprivileged_host_user(sandbox: Sandbox) -> None:
    # WASI has no users (os.getuid is missing): a guest is no host user at all.
    found = await sandbox.probe(
        "result = {'uid': getattr(os, 'getuid', lambda: None)(), 'note': attempt(lambda: write('whoami.txt'))}")
    if sandbox.name == "process":
        # The file it wrote in the workspace belongs, on the host, to the uid it ran as: never root.
        assert found["note"] == "ok:whoami.txt", found
        assert (sandbox.workspace / "whoami.txt").stat().st_uid != 0
    assert found["uid"] != 0, found


async def test_toolnexus_state_in_the_workspace_is_out_of_reach(sandbox: Sandbox) -> None:
    state = sandbox.workspace / ".toolnexus"
    state.mkdir()
    (state / "state.db").write_text(SECRET)
    found = await sandbox.probe("""
        result = {
            "read": attempt(lambda: read(".toolnexus/state.db")),
            "rewrite": attempt(lambda: write(".toolnexus/state.db")),
            "add": attempt(lambda: write(".toolnexus/audit.log")),
        }
    """)
    assert all(refused(outcome) for outcome in found.values()), found
    assert (state / "state.db").read_text() == SECRET
    assert not (state / "audit.log").exists()


async def test_what_the_host_trusts_in_the_workspace_cannot_be_rewritten(sandbox: Sandbox) -> None:
    # The configuration, tool manifests and the repository are read by the next (unsandboxed) run.
    (sandbox.workspace / "toolnexus.toml").write_text("[shell]\nallow = ['echo']\n")
    (sandbox.workspace / "tools").mkdir()
    (sandbox.workspace / "tools" / "mine.tools.yaml").write_text("tools: []\n")
    (sandbox.workspace / ".git").mkdir()
    (sandbox.workspace / ".git" / "config").write_text("[core]\n")
    targets = ["toolnexus.toml", "tools/mine.tools.yaml", "tools/planted.tools.yaml", ".git/config",
               ".git/hooks-planted"]
    found = await sandbox.probe("result = {p: attempt(lambda p=p: write(p)) for p in inputs['targets']}",
                                targets=targets)
    if sandbox.name == "process":  # the others do not see the workspace at all: their writes land in scratch
        assert all(refused(outcome) for outcome in found.values()), found
    assert (sandbox.workspace / "toolnexus.toml").read_text() == "[shell]\nallow = ['echo']\n"
    assert not (sandbox.workspace / "tools" / "planted.tools.yaml").exists()
    assert (sandbox.workspace / ".git" / "config").read_text() == "[core]\n"


def test_the_probes_are_refused_by_the_sandbox_not_by_the_probe() -> None:
    # The control: run unconfined, the same reads and writes succeed, so a refusal above is the sandbox's.
    script = PRELUDE + textwrap.dedent("""
        import sys, tempfile
        folder = tempfile.mkdtemp()
        print(json.dumps({"write": attempt(lambda: write(folder + "/x")), "read": attempt(lambda: read(folder + "/x")),
                          "environ": attempt(lambda: read(f"/proc/{os.getpid()}/environ"))}))
    """)
    found = json.loads(subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                                      check=True).stdout)
    assert all(outcome.startswith("ok:") for outcome in found.values()), found
