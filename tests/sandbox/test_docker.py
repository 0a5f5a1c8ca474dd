"""The docker runtime against a real engine: results and errors as data, the hardening really holds
(no network, read-only root, memory and pids limits, non-root, no capabilities), warm containers are
reused, and timeouts, cancellation and exit leave no container behind."""

from __future__ import annotations

import http.server
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.engine.support import await_until, wait_until
from tests.sandbox import docker_engine as engine
from tests.sandbox.docker_engine import DockerEngine
from toolnexus import ErrorKind, Limits, ToolCall, ToolContext, ToolSpec
from toolnexus.builtins.pyexec import exec_python
from toolnexus.core.runtime import Runtime, RuntimeOutcome
from toolnexus.core.spec import Mount, ToolEntry
from toolnexus.engine.invoke import Invoker
from toolnexus.registry import spec_of
from toolnexus.sandbox.docker import LABEL_MANAGED, LABEL_OWNER, LABEL_RUNTIME, DockerRuntime, sweep_orphans

pytestmark = pytest.mark.anyio

docker_engine = engine.docker_engine  # the shared session fixture: a real engine and the base image
PYEXEC = spec_of(exec_python)
assert PYEXEC is not None
REPO = Path(__file__).resolve().parents[2]


def docker_tool(
    image: str, script: str, *, name: str = "t.tool", network: bool = False, mounts: list[Mount] | None = None
) -> ToolSpec:
    """A docker tool running a Python script inside ``image``: JSON arguments on stdin, JSON on stdout."""
    return ToolSpec(
        name=name,
        runtime="docker",
        entry=ToolEntry(
            kind="docker",
            image=image,
            argv=["python3", "-c", textwrap.dedent(script)],
            network=network,
            mounts=mounts or [],
        ),
    )


async def run(runtime: DockerRuntime, spec: ToolSpec, limits: Limits | None = None, **arguments: Any) -> RuntimeOutcome:
    with anyio.fail_after(90):
        return await runtime.invoke(spec, ToolCall(tool=spec.name, arguments=arguments), limits or Limits())


async def snippet(runtime: DockerRuntime, code: str, limits: Limits | None = None, **inputs: Any) -> RuntimeOutcome:
    return await run(runtime, PYEXEC, limits, code=textwrap.dedent(code), inputs=inputs)


def ours(engine: DockerEngine, runtime: DockerRuntime) -> list[str]:
    """Ids of the containers the engine lists (running or not) that ``runtime`` created."""
    found = engine.api.containers(all=True, filters={"label": [f"{LABEL_RUNTIME}={runtime.instance}"]})
    return [c["Id"] for c in found]


@pytest.fixture(scope="module")
def shared(docker_engine: DockerEngine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DockerRuntime]:
    """One warm runtime for the tests that neither kill its containers nor count them."""
    rt = DockerRuntime(ToolContext(workspace=str(tmp_path_factory.mktemp("docker"))), image=docker_engine.image)
    yield rt
    rt.close()


@pytest.fixture
def runtime(docker_engine: DockerEngine, tmp_path: Path) -> Iterator[DockerRuntime]:
    rt = DockerRuntime(ToolContext(workspace=str(tmp_path)), image=docker_engine.image)
    yield rt
    rt.close()


def test_the_docker_runtime_implements_the_protocol() -> None:
    rt = DockerRuntime()
    assert isinstance(rt, Runtime)
    assert rt.name == "docker"
    assert DockerRuntime.supports(PYEXEC)
    assert DockerRuntime.supports(docker_tool("any/image:1", "print(1)"))
    from tests.sandbox import tools

    other = spec_of(tools.pid)
    assert other is not None and not DockerRuntime.supports(other)


# -- results and errors as data ---------------------------------------------------------------------


async def test_a_docker_tool_gets_json_in_and_gives_json_out(
    shared: DockerRuntime, docker_engine: DockerEngine
) -> None:
    tool = docker_tool(
        docker_engine.image,
        """
        import json, sys
        args = json.load(sys.stdin)
        print("working", file=sys.stderr)
        print(json.dumps({"sum": sum(args["values"]), "cwd_is_scratch": __import__("os").getcwd().startswith("/tmp/")}))
    """,
    )
    outcome = await run(shared, tool, values=[1, 2, 3])
    assert outcome.error is None, outcome.error
    assert outcome.output == {"sum": 6, "cwd_is_scratch": True}
    assert outcome.stderr == "working\n"


async def test_a_failing_command_is_a_tool_error_with_its_stderr(
    shared: DockerRuntime, docker_engine: DockerEngine
) -> None:
    tool = docker_tool(docker_engine.image, "import sys; print('bad input', file=sys.stderr); sys.exit(3)")
    outcome = await run(shared, tool)
    assert outcome.error is not None and outcome.error.kind == ErrorKind.TOOL_ERROR
    assert outcome.error.details["exit_code"] == 3
    assert "status 3" in outcome.error.message and "bad input" in outcome.error.message
    garbled = await run(shared, docker_tool(docker_engine.image, "print('not json')"))
    assert garbled.error is not None and garbled.error.kind == ErrorKind.OUTPUT_INVALID
    missing = await run(
        shared,
        ToolSpec(
            name="t.missing",
            runtime="docker",
            entry=ToolEntry(kind="docker", image=docker_engine.image, argv=["no-such-program"]),
        ),
    )
    assert missing.error is not None and missing.error.kind == ErrorKind.RUNTIME_ERROR
    assert "no-such-program" in missing.error.message


async def test_python_exec_runs_in_the_container(shared: DockerRuntime) -> None:
    outcome = await snippet(
        shared,
        """
        import os, sys
        print("adding")
        result = {"total": sum(inputs["values"]), "python": sys.version_info[:2], "uid": os.getuid(),
                  "toolnexus": __import__("importlib.util").util.find_spec("toolnexus") is not None}
    """,
        values=[1, 2, 3],
    )
    assert outcome.error is None, outcome.error
    assert outcome.output == {
        "result": {"total": 6, "python": [3, 11], "uid": 10001, "toolnexus": False},
        "stdout": "adding\n",
    }


async def test_python_exec_errors_match_the_in_process_tool(shared: DockerRuntime) -> None:
    raised = await snippet(shared, "x = 1\nraise ValueError('nope')")
    assert raised.error is not None and raised.error.kind == ErrorKind.TOOL_ERROR
    assert raised.error.message == "ValueError: nope (line 2)"
    assert raised.error.details["exception"] == "ValueError" and raised.error.details["line"] == 2
    syntax = await snippet(shared, "def (")
    assert syntax.error is not None and syntax.error.kind == ErrorKind.INVALID_ARGUMENTS
    assert syntax.error.message.startswith("SyntaxError")
    unjson = await snippet(shared, "result = object()")
    assert unjson.error is not None and unjson.error.kind == ErrorKind.OUTPUT_INVALID
    transient = await snippet(shared, "raise ConnectionError('flaky')")
    assert transient.error is not None and transient.error.retryable


async def test_the_output_cap_holds(shared: DockerRuntime, docker_engine: DockerEngine) -> None:
    limits = Limits(max_output=1000)
    flood = await run(shared, docker_tool(docker_engine.image, "print('x' * 100000)"), limits)
    assert flood.error is not None and flood.error.kind == ErrorKind.LIMIT_EXCEEDED
    big = await snippet(shared, "result = 'y' * 5000", limits)
    assert big.error is not None and big.error.kind == ErrorKind.LIMIT_EXCEEDED
    small = await snippet(shared, "result = 'y' * 10", limits)
    assert small.error is None


async def test_an_image_without_our_worker_runs_the_command_directly(
    shared: DockerRuntime, docker_engine: DockerEngine
) -> None:
    tool = docker_tool(
        docker_engine.plain_image,
        """
        import json, os, sys
        print(json.dumps({"echo": json.load(sys.stdin), "uid": os.getuid()}))
    """,
    )
    outcome = await run(shared, tool, word="hi")
    assert outcome.error is None, outcome.error
    assert outcome.output == {"echo": {"word": "hi"}, "uid": 10001}
    failing = await run(shared, docker_tool(docker_engine.plain_image, "import sys; sys.exit(4)"))
    assert failing.error is not None and failing.error.kind == ErrorKind.TOOL_ERROR
    assert failing.error.details["exit_code"] == 4
    assert sorted(ours(docker_engine, shared)) == sorted(shared.containers())  # one-shot containers are gone


async def test_a_command_tool_runs_in_the_container_with_only_its_program_visible(
    shared: DockerRuntime, tmp_path: Path
) -> None:
    script = tmp_path / "tool.py"
    script.write_text(
        "import json, os, sys\n"
        "args = json.load(sys.stdin)\n"
        "print(json.dumps({'upper': args['text'].upper(), 'siblings': os.listdir(os.path.dirname(__file__))}))\n"
    )
    (tmp_path / "secret.txt").write_text("not for the tool")
    spec = ToolSpec(name="t.upper", runtime="docker", entry=ToolEntry(kind="command", argv=["python3", str(script)]))
    outcome = await run(shared, spec, text="shout")
    assert outcome.error is None, outcome.error
    assert outcome.output == {"upper": "SHOUT", "siblings": ["tool.py"]}


async def test_a_manifest_docker_tool_runs(shared: DockerRuntime, docker_engine: DockerEngine, tmp_path: Path) -> None:
    from toolnexus.registry.manifest import load_manifest

    manifest = tmp_path / "box.tools.yaml"
    manifest.write_text(
        textwrap.dedent(f"""
        tools:
          - name: box.count
            image: {docker_engine.image}
            command: [python3, -c, "import json, sys; print(json.dumps(len(json.load(sys.stdin)['items'])))"]
            input_schema: {{type: object, properties: {{items: {{type: array}}}}}}
        """)
    )
    [spec] = load_manifest(manifest)
    assert spec.runtime == "docker" and spec.entry.kind == "docker"
    outcome = await run(shared, spec, items=[1, 2, 3])
    assert outcome.error is None and outcome.output == 3, outcome.error


def test_building_the_base_image_again_is_a_no_op(docker_engine: DockerEngine) -> None:
    from toolnexus.sandbox.images import build_base_image, image_ready

    again = build_base_image(docker_engine.image, client=docker_engine.client, progress=None)
    assert again.built is False and again.seconds < 5
    assert image_ready(docker_engine.image, docker_engine.client)
    config = docker_engine.api.inspect_image(docker_engine.image)["Config"]
    assert config["User"] == "10001:10001"


async def test_a_missing_image_is_an_error_that_says_what_to_do(shared: DockerRuntime) -> None:
    outcome = await run(shared, docker_tool("toolnexus/no-such-image:1", "print(1)"))
    assert outcome.error is not None and outcome.error.kind == ErrorKind.RUNTIME_ERROR
    assert "not in the local Docker engine" in outcome.error.message and "never pulled" in outcome.error.message


async def test_python_tools_other_than_python_exec_are_refused(shared: DockerRuntime) -> None:
    from tests.sandbox import tools

    spec = spec_of(tools.pid)
    assert spec is not None
    outcome = await run(shared, spec)
    assert outcome.error is not None and outcome.error.kind == ErrorKind.RUNTIME_ERROR
    assert "not installed in the image" in outcome.error.message


# -- hardening --------------------------------------------------------------------------------------


async def test_containers_are_created_hardened(runtime: DockerRuntime, docker_engine: DockerEngine) -> None:
    await snippet(runtime, "result = 1")
    [container_id] = runtime.containers()
    config = docker_engine.api.inspect_container(container_id)
    host = config["HostConfig"]
    assert host["NetworkMode"] == "none"
    assert host["ReadonlyRootfs"] is True
    assert host["CapDrop"] == ["ALL"] and not host["CapAdd"]
    assert "no-new-privileges" in host["SecurityOpt"]
    assert host["Memory"] == 512 * 2**20 and host["MemorySwap"] == 512 * 2**20
    assert host["PidsLimit"] == 128 and host["NanoCpus"] == 10**9
    assert host["Privileged"] is False and not host.get("Binds") and not host.get("Mounts") and not config["Mounts"]
    assert "/tmp" in host["Tmpfs"] and "size=" in host["Tmpfs"]["/tmp"]
    assert config["Config"]["User"] == "10001:10001"
    assert config["Config"]["Labels"][LABEL_MANAGED] == "1"


async def test_the_tool_runs_as_non_root_without_capabilities(shared: DockerRuntime) -> None:
    outcome = await snippet(
        shared,
        """
        import os
        status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines())
        result = {"uid": os.getuid(), "euid": os.geteuid(), "gid": os.getgid(),
                  "caps": {k: int(status[k], 16) for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")},
                  "no_new_privs": int(status["NoNewPrivs"])}
    """,
    )
    assert outcome.error is None, outcome.error
    assert outcome.output["result"] == {
        "uid": 10001,
        "euid": 10001,
        "gid": 10001,
        "no_new_privs": 1,
        "caps": dict.fromkeys(("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"), 0),
    }


async def test_writes_outside_the_tmpfs_fail(shared: DockerRuntime) -> None:
    outcome = await snippet(
        shared,
        """
        import errno
        denied = {}
        for path in ("/etc/evil", "/opt/toolnexus/worker.py", "/usr/bin/evil", "/evil", "/var/tmp/evil"):
            try:
                open(path, "w").close()
                denied[path] = None
            except OSError as exc:
                denied[path] = errno.errorcode[exc.errno]
        with open("/tmp/scratch", "w") as f:
            f.write("fine")
        result = {"denied": denied, "tmp": open("/tmp/scratch").read()}
    """,
    )
    assert outcome.error is None, outcome.error
    assert outcome.output["result"]["tmp"] == "fine"
    for path, code in outcome.output["result"]["denied"].items():
        assert code in ("EROFS", "EACCES"), (path, code)
    assert outcome.output["result"]["denied"]["/evil"] == "EROFS"


async def test_the_tmpfs_is_size_capped(shared: DockerRuntime) -> None:
    outcome = await snippet(
        shared,
        """
        import errno
        try:
            with open("/tmp/big", "wb") as f:
                for _ in range(200):
                    f.write(b"x" * 2**20)
            result = "wrote 200 MiB"
        except OSError as exc:
            result = errno.errorcode[exc.errno]
    """,
    )
    assert outcome.output["result"] == "ENOSPC", outcome


async def test_declared_mounts_only_and_read_only_unless_writable(docker_engine: DockerEngine, tmp_path: Path) -> None:
    data = tmp_path / "data"
    out = tmp_path / "out"
    data.mkdir()
    out.mkdir()
    out.chmod(0o777)  # the container's user is not the owner of the host folder
    (data / "in.txt").write_text("from the host")
    rt = DockerRuntime(ToolContext(workspace=str(tmp_path)), image=docker_engine.image)
    try:
        tool = docker_tool(
            docker_engine.image,
            """
            import json, os
            result = {"read": open("/data/in.txt").read()}
            try:
                open("/data/new.txt", "w").close()
                result["ro_write"] = "allowed"
            except OSError as exc:
                result["ro_write"] = exc.strerror
            with open("/out/result.txt", "w") as f:
                f.write("from the container")
            result["workspace_visible"] = os.path.exists(WORKSPACE)
            print(json.dumps(result))
        """.replace("WORKSPACE", repr(str(tmp_path))),
            mounts=[Mount(host="data", guest="/data"), Mount(host="out", guest="/out", writable=True)],
        )
        outcome = await run(rt, tool)
    finally:
        rt.close()
    assert outcome.error is None, outcome.error
    assert outcome.output == {"read": "from the host", "ro_write": "Read-only file system", "workspace_visible": False}
    assert (out / "result.txt").read_text() == "from the container"
    assert not (data / "new.txt").exists()


class _Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"hello from the host"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def host_server(docker_engine: DockerEngine) -> Iterator[str]:
    """An HTTP server on all the host's addresses; the URL a container on the bridge would use."""
    server = http.server.ThreadingHTTPServer(("0.0.0.0", 0), _Hello)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://{docker_engine.bridge_gateway}:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


FETCH = """
    import json, os, sys, urllib.request
    url = json.load(sys.stdin)["url"]
    try:
        body = urllib.request.urlopen(url, timeout=10).read().decode()
        print(json.dumps({"reached": True, "body": body, "nics": sorted(os.listdir("/sys/class/net"))}))
    except Exception as exc:
        print(json.dumps({"reached": False, "error": f"{type(exc).__name__}: {exc}",
                          "nics": sorted(os.listdir("/sys/class/net"))}))
"""


async def test_the_network_is_off_unless_declared_and_allowed(docker_engine: DockerEngine, host_server: str) -> None:
    wants = docker_tool(docker_engine.image, FETCH, network=True)
    plain = docker_tool(docker_engine.image, FETCH)
    strict = DockerRuntime(image=docker_engine.image)  # allow_network=False
    lenient = DockerRuntime(image=docker_engine.image, allow_network=True)
    try:
        off = await run(strict, wants, url=host_server)  # declared, but the runtime does not allow it
        undeclared = await run(lenient, plain, url=host_server)  # allowed, but not declared
        on = await run(lenient, wants, url=host_server)  # the positive control
    finally:
        strict.close()
        lenient.close()
    for outcome in (off, undeclared):
        assert outcome.error is None, outcome.error
        assert outcome.output["reached"] is False, outcome.output
        assert outcome.output["nics"] == ["lo"]
    assert on.error is None, on.error
    assert on.output["reached"] is True and on.output["body"] == "hello from the host", on.output
    assert "eth0" in on.output["nics"]


async def test_a_memory_bomb_is_stopped_as_limit_exceeded(runtime: DockerRuntime) -> None:
    limits = Limits(memory="128MiB")
    bomb = await snippet(runtime, "hoard = [b'x' * 2**24 for _ in range(64)]", limits)
    assert bomb.error is not None and bomb.error.kind == ErrorKind.LIMIT_EXCEEDED, bomb.error
    assert "memory" in bomb.error.message
    # The container and its worker survive: the next call in it succeeds, and honest work fits.
    [container] = runtime.containers()
    fine = await snippet(runtime, "hoard = [b'x' * 2**24 for _ in range(2)]\nresult = len(hoard)", limits)
    assert fine.error is None and fine.output["result"] == 2
    assert runtime.containers() == [container]


async def test_a_memory_bomb_in_a_direct_container_is_limit_exceeded(
    shared: DockerRuntime, docker_engine: DockerEngine
) -> None:
    bomb = docker_tool(docker_engine.plain_image, "hoard = [b'x' * 2**24 for _ in range(64)]")
    outcome = await run(shared, bomb, Limits(memory="128MiB"))
    assert outcome.error is not None and outcome.error.kind == ErrorKind.LIMIT_EXCEEDED, outcome.error


async def test_a_fork_bomb_is_stopped_by_the_pids_limit(runtime: DockerRuntime, docker_engine: DockerEngine) -> None:
    bomb = ToolSpec(
        name="t.forkbomb",
        runtime="docker",
        entry=ToolEntry(
            kind="docker", image=docker_engine.image, argv=["bash", "-c", "bomb() { bomb | bomb & }; bomb; wait"]
        ),
    )
    outcome = await run(runtime, bomb)
    assert outcome.error is not None and outcome.error.kind == ErrorKind.LIMIT_EXCEEDED, outcome.error
    assert "process limit" in outcome.error.message
    # Every process of the bomb is gone, and the same container serves the next call.
    [container] = runtime.containers()
    after = await snippet(
        runtime,
        """
        import os
        result = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
    """,
    )
    assert after.error is None, after.error
    assert len(after.output["result"]) <= 3, after.output  # init, the worker, this snippet
    assert runtime.containers() == [container]


# -- warm containers --------------------------------------------------------------------------------


async def test_a_warm_container_is_reused(runtime: DockerRuntime, docker_engine: DockerEngine) -> None:
    first = await snippet(runtime, "import os\nresult = os.getppid()")
    second = await snippet(runtime, "import os\nresult = os.getppid()")
    tool = await run(runtime, docker_tool(docker_engine.image, "import json, os; print(json.dumps(os.getppid()))"))
    assert first.error is None and second.error is None and tool.error is None
    assert first.output["result"] == second.output["result"] == tool.output  # the same worker process
    assert len(runtime.containers()) == 1
    assert ours(docker_engine, runtime) == runtime.containers()
    other = await snippet(runtime, "result = 1", Limits(memory="256MiB"))  # other limits: its own container
    assert other.error is None and len(runtime.containers()) == 2


async def test_calls_do_not_see_each_others_scratch_files(runtime: DockerRuntime) -> None:
    first = await snippet(runtime, "import os\nopen('left-behind', 'w').close()\nresult = os.getcwd()")
    second = await snippet(runtime, "import os\nresult = os.listdir('/tmp')")
    assert first.error is None and second.error is None
    assert first.output["result"].startswith("/tmp/call-")
    assert len(second.output["result"]) == 1 and second.output["result"][0].startswith("call-")


async def test_concurrent_calls_get_their_own_containers(runtime: DockerRuntime, docker_engine: DockerEngine) -> None:
    results: list[RuntimeOutcome] = []

    async def call() -> None:
        results.append(await snippet(runtime, "import os\nresult = os.getppid()"))

    async with anyio.create_task_group() as group:
        for _ in range(3):
            group.start_soon(call)
    assert all(r.error is None for r in results)
    assert len(set(ours(docker_engine, runtime))) <= 2  # at most two stay warm for one key
    assert sorted(ours(docker_engine, runtime)) == sorted(runtime.containers())


async def test_a_cold_runtime_leaves_no_container(docker_engine: DockerEngine) -> None:
    cold = DockerRuntime(image=docker_engine.image, warm=False)
    try:
        outcome = await snippet(cold, "result = 'once'")
        assert outcome.error is None and outcome.output["result"] == "once"
        assert ours(docker_engine, cold) == []
    finally:
        cold.close()



MARK_TMP = """
    import os
    seen = os.path.exists("/tmp/mark")
    open("/tmp/mark", "w").close()  # outside the call's scratch folder: a reused container would keep it
    result = seen
"""


async def test_with_a_spare_every_cold_call_still_gets_a_fresh_container(docker_engine: DockerEngine) -> None:
    rt = DockerRuntime(image=docker_engine.image, warm=False, spare=True)
    try:
        first = await snippet(rt, MARK_TMP)
        assert first.error is None and first.output["result"] is False
        assert rt.pool.settle(60)
        [spare] = rt.containers()  # the call's own container is gone; the spare started after it is held
        assert ours(docker_engine, rt) == [spare]
        second = await snippet(rt, MARK_TMP)
        assert second.error is None and second.output["result"] is False  # not the first call's container
        assert rt.pool.settle(60)
        [replacement] = rt.containers()
        assert replacement != spare  # the second call took the spare, and removed it when it ended
        assert ours(docker_engine, rt) == [replacement]
    finally:
        rt.close()
    assert ours(docker_engine, rt) == [] and rt.containers() == []


async def test_a_spare_is_hardened_like_any_container(docker_engine: DockerEngine) -> None:
    rt = DockerRuntime(image=docker_engine.image, warm=False, spare=True)
    try:
        assert (await snippet(rt, "result = 1")).error is None
        assert rt.pool.settle(60)
        [spare] = rt.containers()
        host = docker_engine.api.inspect_container(spare)["HostConfig"]
        assert host["NetworkMode"] == "none" and host["ReadonlyRootfs"] and host["CapDrop"] == ["ALL"]
        assert host["Memory"] == rt.memory and host["PidsLimit"] == rt.pids_limit
    finally:
        rt.close()


async def test_closing_while_a_spare_starts_leaves_no_container(docker_engine: DockerEngine) -> None:
    rt = DockerRuntime(image=docker_engine.image, warm=False, spare=True)
    assert (await snippet(rt, "result = 1")).error is None
    rt.close()  # the spare's start has just begun: close waits for it and removes it
    assert ours(docker_engine, rt) == [] and rt.containers() == []

# -- timeouts, cancellation, exit -------------------------------------------------------------------


def _signal_mount(tmp_path: Path) -> Path:
    folder = tmp_path / "signal"
    folder.mkdir()
    folder.chmod(0o777)
    return folder


SLEEPER = """
    import time
    open("/signal/started", "w").close()
    time.sleep(300)
"""


@pytest.mark.parametrize("warm", [True, False])
async def test_cancellation_kills_and_removes_the_container(
    docker_engine: DockerEngine, tmp_path: Path, warm: bool
) -> None:
    signal_dir = _signal_mount(tmp_path)
    rt = DockerRuntime(ToolContext(workspace=str(tmp_path)), image=docker_engine.image, warm=warm)
    spec = PYEXEC.model_copy(
        update={
            "entry": PYEXEC.entry.model_copy(update={"mounts": [Mount(host="signal", guest="/signal", writable=True)]})
        }
    )

    async def sleeper() -> None:
        await run(rt, spec, code=textwrap.dedent(SLEEPER), inputs={})

    try:
        with anyio.fail_after(60):
            async with anyio.create_task_group() as group:
                group.start_soon(sleeper)
                await await_until(lambda: (signal_dir / "started").exists(), 30, "the snippet to start")
                assert len(ours(docker_engine, rt)) == 1
                group.cancel_scope.cancel()
        assert ours(docker_engine, rt) == [] and rt.containers() == []
        # The runtime goes on: a replacement container serves the next call.
        again = await snippet(rt, "result = 'after'")
        assert again.error is None and again.output["result"] == "after"
    finally:
        rt.close()
    assert ours(docker_engine, rt) == []


async def test_cancelling_a_direct_container_removes_it(docker_engine: DockerEngine, tmp_path: Path) -> None:
    signal_dir = _signal_mount(tmp_path)
    rt = DockerRuntime(ToolContext(workspace=str(tmp_path)), image=docker_engine.image)
    mounts = [Mount(host="signal", guest="/signal", writable=True)]
    tool = docker_tool(docker_engine.plain_image, SLEEPER, mounts=mounts)
    try:
        with anyio.fail_after(60):
            async with anyio.create_task_group() as group:
                group.start_soon(run, rt, tool)
                await await_until(lambda: (signal_dir / "started").exists(), 30, "the tool to start")
                group.cancel_scope.cancel()
        assert ours(docker_engine, rt) == []
    finally:
        rt.close()


async def test_a_timeout_through_the_invoker_kills_and_removes_the_container(
    runtime: DockerRuntime, docker_engine: DockerEngine
) -> None:
    invoker = Invoker(lambda name, version: PYEXEC, {"docker": runtime})
    call = ToolCall(
        tool=PYEXEC.name, runtime="docker", limits=Limits(timeout=1.5), arguments={"code": "while True:\n    pass"}
    )
    with anyio.fail_after(60):
        result = await invoker.invoke(call)
    assert result.error is not None and result.error.kind == ErrorKind.TIMEOUT
    assert ours(docker_engine, runtime) == [] and runtime.containers() == []
    ok = await invoker.invoke(ToolCall(tool=PYEXEC.name, runtime="docker", arguments={"code": "result = 2"}))
    assert ok.error is None and ok.output == {"result": 2, "stdout": ""}


async def test_cpu_time_is_limited_per_call(shared: DockerRuntime) -> None:
    outcome = await snippet(shared, "while True:\n    pass", Limits(cpu_time=1))
    assert outcome.error is not None and outcome.error.kind == ErrorKind.LIMIT_EXCEEDED, outcome.error
    assert "CPU time" in outcome.error.message


async def test_close_removes_every_container(docker_engine: DockerEngine) -> None:
    rt = DockerRuntime(image=docker_engine.image)
    await snippet(rt, "result = 1")
    await snippet(rt, "result = 1", Limits(memory="256MiB"))
    assert len(ours(docker_engine, rt)) == 2
    await rt.aclose()
    assert ours(docker_engine, rt) == []
    closed = await snippet(rt, "result = 1")
    assert closed.error is not None and closed.error.kind == ErrorKind.RUNTIME_ERROR


CHILD = """
import sys, anyio
from toolnexus import Limits, ToolCall
from toolnexus.builtins.pyexec import exec_python
from toolnexus.registry import spec_of
from toolnexus.sandbox.docker import DockerRuntime

async def main():
    rt = DockerRuntime(image=sys.argv[1])
    spec = spec_of(exec_python)
    out = await rt.invoke(spec, ToolCall(tool=spec.name, arguments={"code": "result = 1"}), Limits())
    assert out.error is None, out.error
    print(rt.instance, flush=True)
    if sys.argv[2] == "hang":
        await anyio.sleep_forever()

anyio.run(main)
"""


def _labelled_instance(engine: DockerEngine, instance: str) -> list[dict[str, Any]]:
    return engine.api.containers(all=True, filters={"label": [f"{LABEL_RUNTIME}={instance}"]})


def test_interpreter_exit_removes_warm_containers(docker_engine: DockerEngine) -> None:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, docker_engine.image, "exit"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr
    assert _labelled_instance(docker_engine, done.stdout.strip()) == []


def test_a_killed_owner_leaves_no_container_behind(docker_engine: DockerEngine) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, docker_engine.image, "hang"], stdout=subprocess.PIPE, text=True, cwd=REPO
    )
    try:
        assert proc.stdout is not None
        instance = proc.stdout.readline().strip()
        assert len(_labelled_instance(docker_engine, instance)) == 1
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    # Our end of the container's stdin closed with the process: the worker ends, the engine removes it.
    wait_until(lambda: _labelled_instance(docker_engine, instance) == [], 30, "the orphaned container to go")


def test_orphans_of_dead_owners_are_swept(docker_engine: DockerEngine) -> None:
    import socket

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    created = docker_engine.api.create_container(
        docker_engine.image,
        labels={LABEL_MANAGED: "1", LABEL_OWNER: f"{socket.gethostname()}:{dead.pid}", LABEL_RUNTIME: "orphan-test"},
    )
    try:
        assert sweep_orphans(docker_engine.api) >= 1
        assert _labelled_instance(docker_engine, "orphan-test") == []
    finally:
        if _labelled_instance(docker_engine, "orphan-test"):
            docker_engine.api.remove_container(created["Id"], force=True)


def test_json_request_framing_is_the_process_runtimes() -> None:
    from toolnexus.sandbox import docker_worker, protocol

    buffer = __import__("io").BytesIO()
    protocol.write_frame(buffer, {"a": [1, "é"]})
    buffer.seek(0)
    assert docker_worker.read_frame(buffer) == {"a": [1, "é"]}
    assert json.loads(json.dumps(docker_worker.exec_snippet("result = inputs['n'] + 1", {"n": 1}))) == {
        "ok": True,
        "output": {"result": 2, "stdout": ""},
    }
