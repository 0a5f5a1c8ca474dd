"""OS isolation of the process runtime: a pids cgroup against fork bombs, and bubblewrap namespaces
(no network, read-only system, private /tmp, an unprivileged uid) where this machine has them."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.sandbox import isolation_tools
from toolnexus import Limits, ToolCall, ToolContext
from toolnexus.registry import spec_of
from toolnexus.sandbox.isolation import bwrap_path, cgroups_writable
from toolnexus.sandbox.process import ProcessIsolation, ProcessRuntime
from toolnexus.sandbox.users import workspace_uid

pytestmark = pytest.mark.anyio


async def invoke(runtime: ProcessRuntime, fn: Any, **arguments: Any) -> Any:
    spec = spec_of(fn)
    outcome = await runtime.invoke(spec, ToolCall(tool=spec.name, arguments=arguments), Limits())
    assert outcome.error is None, outcome.error
    return outcome.output


@pytest.fixture
def capped(tmp_path: Path) -> Iterator[ProcessRuntime]:
    if not cgroups_writable():
        pytest.skip("no writable pids cgroup on this machine")
    runtime = ProcessRuntime(ToolContext(workspace=str(tmp_path)), max_workers=1,
                             isolation=ProcessIsolation(namespaces=False, pids_max=48))
    yield runtime
    runtime.close()


@pytest.fixture
def namespaced(tmp_path: Path) -> Iterator[ProcessRuntime]:
    if bwrap_path() is None:
        pytest.skip("bubblewrap is not installed or cannot create namespaces here")
    runtime = ProcessRuntime(ToolContext(workspace=str(tmp_path)), max_workers=1,
                             isolation=ProcessIsolation(namespaces=True))
    yield runtime
    runtime.close()


async def test_a_fork_bomb_is_stopped_by_the_pids_cgroup(capped: ProcessRuntime) -> None:
    result = await invoke(capped, isolation_tools.fork_bomb, children=1000)
    assert result["error"] is not None and "Resource temporarily unavailable" in result["error"]
    assert result["forked"] < 48
    # The worker survives its tool's fork bomb and serves the next call.
    again = await invoke(capped, isolation_tools.fork_bomb, children=5)
    assert again == {"forked": 5, "error": None}


async def test_namespaces_cut_network_hide_tmp_and_protect_the_system(namespaced: ProcessRuntime,
                                                                      tmp_path: Path) -> None:
    with socket.socket() as server, tempfile.NamedTemporaryFile(dir="/tmp") as host_file:
        server.bind(("127.0.0.1", 0))
        server.listen()
        result = await invoke(namespaced, isolation_tools.probe, host_file=host_file.name,
                              port=server.getsockname()[1])
    # Inside a user namespace (we are not root) the sandbox is `nobody`; as root it is the workspace's own uid.
    expected = workspace_uid(str(tmp_path)) if os.geteuid() == 0 else 65534
    assert result["uid"] == expected
    assert result["network"].startswith("OSError") or "unreachable" in result["network"].lower() or \
        "refused" in result["network"].lower()
    assert result["network"] != "reached"
    assert result["sees_host_file"] is False
    assert result["system_write"] in ("Read-only file system", "Permission denied")
    assert result["workspace_write"] == "written"
    assert (tmp_path / "probe.txt").read_text() == "written"


async def test_without_namespaces_the_same_probe_reaches_the_host(capped: ProcessRuntime) -> None:
    # The control: the probe itself can see these things when nothing isolates it.
    with socket.socket() as server, tempfile.NamedTemporaryFile(dir="/tmp") as host_file:
        server.bind(("127.0.0.1", 0))
        server.listen()
        result = await invoke(capped, isolation_tools.probe, host_file=host_file.name, port=server.getsockname()[1])
    assert result["network"] == "reached"
    assert result["sees_host_file"] is True


@pytest.mark.skipif(os.geteuid() != 0, reason="only as root do sandboxes run as users of their own")
async def test_each_workspace_has_a_sandbox_user_of_its_own() -> None:
    base = Path(tempfile.mkdtemp(dir="/tmp"))
    try:
        base.chmod(0o755)  # walkable by anyone: only the workspaces' own permissions decide
        first, second = base / "first", base / "second"
        first.mkdir(mode=0o700)
        second.mkdir(mode=0o700)
        assert workspace_uid(str(first)) != workspace_uid(str(second))
        runtime = ProcessRuntime(ToolContext(workspace=str(first)), max_workers=1,
                                 isolation=ProcessIsolation(namespaces=True))
        try:
            await invoke(runtime, isolation_tools.probe, host_file="/nonexistent", port=1)
        finally:
            runtime.close()
        own = workspace_uid(str(first))
        assert (first / "probe.txt").stat().st_uid == own

        def touch_as(uid: int, name: str) -> bool:
            done = subprocess.run(["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "touch",
                                   str(first / name)], capture_output=True, check=False)
            return done.returncode == 0 and (first / name).exists()

        # Opened to its own sandbox user (the control), not to `nobody`, which other services run as.
        assert touch_as(own, "from-own")
        assert not touch_as(65534, "from-nobody")
    finally:
        shutil.rmtree(base)


def _sleeping(mark: str) -> list[int]:
    return [p.pid for p in psutil.process_iter(["cmdline", "status"])
            if mark in (p.info["cmdline"] or []) and p.info["status"] != psutil.STATUS_ZOMBIE]


async def test_a_process_a_call_leaves_running_does_not_outlive_it(namespaced: ProcessRuntime) -> None:
    mark = "41.1111"
    await invoke(namespaced, isolation_tools.daemon, mark=mark)
    deadline = time.monotonic() + 10
    while _sleeping(mark) and time.monotonic() < deadline:
        time.sleep(0.01)  # bounded polling: the worker ends leftovers right after it answers
    assert _sleeping(mark) == []
    # The worker itself serves on.
    assert (await invoke(namespaced, isolation_tools.daemon, mark="0"))
