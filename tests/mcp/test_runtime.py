"""The mcp runtime against real servers: mcp-server-time, -git and -fetch from PyPI, and the toolbox."""

from __future__ import annotations

import functools
import http.server
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from tests.conftest import console_script
from tests.mcp.servers.support import make_nexus, toolbox
from toolnexus.api import Nexus
from toolnexus.config import McpServerSettings
from toolnexus.core.call import ToolCall
from toolnexus.core.diagnostics import DiagnosticError
from toolnexus.core.errors import ErrorKind
from toolnexus.core.spec import Limits, SafetyTier
from toolnexus.mcp.provider import spec_from_tool
from toolnexus.mcp.runtime import reporting_progress
from toolnexus.mission import Plan, compile_mission, parse_mission
from toolnexus.registry import Registry


@pytest.fixture(scope="module")
def nexus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Nexus]:
    workspace = tmp_path_factory.mktemp("runtime")
    repo = workspace / "repo"
    repo.mkdir()
    for argv in (["init", "-q", "-b", "main"], ["config", "user.email", "t@example.org"],
                 ["config", "user.name", "T"]):
        subprocess.run(["git", *argv], cwd=repo, check=True)
    (repo / "notes.txt").write_text("first\n")
    subprocess.run(["git", "add", "notes.txt"], cwd=repo, check=True)
    subprocess.run(["git", "commit", "-qm", "first note"], cwd=repo, check=True)
    (repo / "notes.txt").write_text("first\nsecond\n")
    fetch = console_script("mcp-server-fetch")
    servers = {
        "time": {"command": console_script("mcp-server-time")},
        "git": {"command": console_script("mcp-server-git"), "args": ["--repository", str(repo)],
                "tiers": {"git_add": "privileged"}},
        "fetch": {"command": fetch, "args": ["--ignore-robots-txt"]},
        "lanfetch": {"command": fetch, "args": ["--ignore-robots-txt", "--allow-private-ips"]},
        "box": toolbox(),
    }
    with make_nexus(workspace, servers) as nx:
        nx.repo = repo  # type: ignore[attr-defined]
        yield nx


@pytest.fixture(scope="module")
def page() -> Iterator[str]:
    """A page served by http.server on loopback."""
    folder = Path(__file__).parent / "servers"
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/page.html"
    server.shutdown()
    server.server_close()


def test_structured_content_is_the_output(nexus: Nexus) -> None:
    result = nexus.call("time.get_current_time", {"timezone": "UTC"})
    assert result.ok, result.error
    assert result.runtime == "mcp"
    assert result.output["timezone"] == "UTC"
    assert result.output["datetime"].endswith("+00:00")
    assert set(result.output) == {"timezone", "datetime", "day_of_week", "is_dst"}


def test_text_content_is_the_output_without_structured_content(nexus: Nexus) -> None:
    result = nexus.call("box.shout", {"text": "quiet"})
    assert result.ok, result.error
    assert result.output == "QUIET"


def test_is_error_comes_back_as_a_tool_error(nexus: Nexus) -> None:
    result = nexus.call("box.fail", {"reason": "the disk is made of cheese"})
    assert result.error is not None
    assert result.error.kind == ErrorKind.TOOL_ERROR
    assert "the disk is made of cheese" in result.error.message

    bad_zone = nexus.call("time.get_current_time", {"timezone": "Nowhere/Atlantis"})
    assert bad_zone.error is not None and bad_zone.error.kind == ErrorKind.TOOL_ERROR
    assert "Nowhere/Atlantis" in bad_zone.error.message


def test_arguments_are_checked_against_the_servers_schema_before_the_call(nexus: Nexus) -> None:
    result = nexus.call("box.echo", {"txt": "typo"})
    assert result.error is not None and result.error.kind == ErrorKind.INVALID_ARGUMENTS
    assert "text" in result.error.message


def test_git_server_on_a_temporary_repository(nexus: Nexus) -> None:
    repo = nexus.repo  # type: ignore[attr-defined]
    status = nexus.call("git.git_status", {"repo_path": str(repo)})
    assert status.ok, status.error
    assert "notes.txt" in status.output and "modified" in status.output
    log = nexus.call("git.git_log", {"repo_path": str(repo)})
    assert log.ok and "first note" in log.output


def test_git_tiers_follow_its_annotations_and_the_override(nexus: Nexus) -> None:
    names = ("git_status", "git_commit", "git_reset", "git_add")
    tiers = {name: nexus.registry.get(f"git.{name}").tier for name in names}
    assert tiers == {"git_status": SafetyTier.READ_ONLY, "git_commit": SafetyTier.SIDE_EFFECTING,
                     "git_reset": SafetyTier.PRIVILEGED, "git_add": SafetyTier.PRIVILEGED}


def test_fetch_refuses_loopback_by_default(nexus: Nexus, page: str) -> None:
    result = nexus.call("fetch.fetch", {"url": page})
    assert result.error is not None and result.error.kind == ErrorKind.TOOL_ERROR
    assert "127.0.0.1" in result.error.message or "private" in result.error.message.lower()


def test_fetch_reads_a_loopback_page_when_allowed(nexus: Nexus, page: str) -> None:
    result = nexus.call("lanfetch.fetch", {"url": page})
    assert result.ok, result.error
    assert "High water at 06:12 and 18:40." in result.output


@pytest.mark.anyio
async def test_cancelling_the_caller_cancels_the_call_on_the_server(nexus: Nexus) -> None:
    async with anyio.create_task_group() as tg:
        tg.start_soon(nexus.acall, "box.slow")
        started = await nexus.acall("box.wait_for", {"event": "started"})
        assert started.output == {"result": True}
        tg.cancel_scope.cancel()
    # The server's handler saw the cancellation (notifications/cancelled), not just our side giving up.
    cancelled = await nexus.acall("box.wait_for", {"event": "cancelled"})
    assert cancelled.output == {"result": True}


def test_a_timeout_is_a_timeout_error(nexus: Nexus) -> None:
    call = ToolCall(tool="box.wait_for", arguments={"event": "never", "seconds": 30}, limits=Limits(timeout=0.5))
    result = anyio.run(nexus.invoker.invoke, call)
    assert result.error is not None and result.error.kind == ErrorKind.TIMEOUT


def test_a_server_that_dies_is_an_error_then_restarts_on_next_use(nexus: Nexus) -> None:
    before = nexus.call("box.pid").output["result"]
    died = nexus.call("box.die")
    assert died.error is not None
    assert died.error.kind == ErrorKind.RUNTIME_ERROR and died.error.retryable
    assert "'box'" in died.error.message and died.error.details["reason"] == "unavailable"
    after = nexus.call("box.pid")
    assert after.ok, after.error
    assert after.output["result"] != before


# -- the runtime policy (core.spec): an MCP tool runs on its server, which ranks with `process` ---------

RUNTIMES = ("inprocess", "process", "docker", "mcp")


def _registry_with_remote_tool() -> Registry:
    settings = McpServerSettings(command="unused")
    tool = {"name": "wipe", "annotations": {"destructiveHint": True}, "inputSchema": {"type": "object"}}
    return Registry([spec_from_tool("box", settings, tool, None)])


def _compile(registry: Registry, step: str, min_runtime: dict[str, str] | None = None) -> Plan:
    text = f"mission: m\nsteps:\n  - id: a\n    uses: box.wipe\n{step}"
    return compile_mission(parse_mission(text, "m.yaml"), registry.get, RUNTIMES, min_runtime)


def test_a_privileged_mcp_tool_meets_the_process_floor_on_its_server() -> None:
    registry = _registry_with_remote_tool()
    assert registry.get("box.wipe").tier == SafetyTier.PRIVILEGED
    plan = _compile(registry, "", {"privileged": "process"})
    assert plan.steps[0].runtime == "mcp"


def test_a_floor_an_mcp_server_cannot_meet_is_a_compile_error() -> None:
    with pytest.raises(DiagnosticError) as caught:
        _compile(_registry_with_remote_tool(), "", {"privileged": "docker"})
    assert "docker" in str(caught.value) and "box.wipe" in str(caught.value)


def test_a_local_runtime_cannot_run_an_mcp_tool() -> None:
    with pytest.raises(DiagnosticError) as caught:
        _compile(_registry_with_remote_tool(), "    runtime: process\n")
    assert "cannot run box.wipe" in str(caught.value)


@pytest.mark.anyio
async def test_progress_reported_by_the_server_reaches_the_callers_listener(nexus: Nexus) -> None:
    heard: list[tuple[float, float | None, str | None]] = []
    with reporting_progress(lambda value, total, message: heard.append((value, total, message))):
        result = await nexus.acall("box.count", {"steps": 3})
    assert result.ok, result.error
    assert heard == [(1, 3, "step 1"), (2, 3, "step 2"), (3, 3, "step 3")]
