"""Long calls and changes over the Jupyter endpoint: progress (a mission step by step), cancellation
that kills the call's sandbox, and tools/list_changed in both protocol eras."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import anyio
import httpx2
import mcp_types as types
import pytest
from mcp.shared.subscriptions import ToolsListChanged

from tests.engine.support import alive, await_until, descendants, read_pids
from toolnexus import report_progress, tool
from toolnexus.core.spec import ToolSpec
from toolnexus.jupyter.extension import ToolnexusExtension
from toolnexus.registry.discovery import specs_in

ERAS = ["legacy", "auto"]
HEARD: dict[str, asyncio.Event] = {}  # set by the test once its client heard the tool's progress


@tool(name="test.waits_for_its_progress", register=False)
async def waits_for_its_progress() -> str:
    """Report progress, then wait until the client has heard it (the server shares the test's loop)."""
    report_progress(0.5, 1.0, "half way")
    await asyncio.wait_for(HEARD["event"].wait(), 20)
    return "heard"

MISSION = """\
mission: two-steps
description: Count the words of a text, then echo it.
inputs:
  text: {type: string, description: the text}
  times: {type: integer, default: 1}
steps:
  - id: count
    uses: test.count
    with: {text: "${{ inputs.text }}"}
  - id: echo
    uses: test.echo
    with: {value: "${{ steps.count.outputs.text }}"}
outputs:
  words: "${{ steps.count.outputs.count }}"
  echoed: "${{ steps.echo.outputs }}"
"""


@pytest.fixture
def with_mission(toolnexus_workspace: Path) -> Path:
    folder = toolnexus_workspace / "missions"
    folder.mkdir(exist_ok=True)
    (folder / "two_steps.yaml").write_text(MISSION)
    return folder


@pytest.mark.parametrize("mode", ERAS)
async def test_a_mission_is_a_tool_that_reports_progress_step_by_step(
        with_mission: Path, toolnexus_server: ToolnexusExtension, mcp_connect: Any, mode: str) -> None:
    progress: list[tuple[float, float | None, str | None]] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append((value, total, message))

    async with mcp_connect(mode) as client:
        listed = {t.name: t for t in (await client.list_tools()).tools}
        result = await client.call_tool("mission.two-steps", {"text": "a b c"}, progress_callback=on_progress)
        missing = await client.call_tool("mission.two-steps", {})
    tool = listed["mission.two-steps"]
    assert tool.input_schema["required"] == ["text"]
    assert tool.input_schema["properties"]["times"] == {"type": "integer", "default": 1}
    assert set(tool.output_schema["properties"]) == {"words", "echoed"}
    assert result.is_error is False
    assert result.structured_content == {"words": 3, "echoed": "a b c"}
    assert [p[0] for p in progress] == [0.0, 1.0, 2.0] and {p[1] for p in progress} == {2.0}
    assert "step count (test.count) succeeded" in progress[1][2]
    assert missing.is_error is True and missing.structured_content["error"]["kind"] == "invalid_arguments"
    assert "text" in missing.content[0].text


async def test_a_tool_call_reports_start_and_end(toolnexus_server: ToolnexusExtension, mcp_connect: Any) -> None:
    progress: list[float] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append(value)

    async with mcp_connect("legacy") as client:
        await client.call_tool("test.echo", {"value": "x"}, progress_callback=on_progress)
    assert progress == [0.0, 1.0]


async def test_a_streamed_response_reaches_the_client_before_it_ends(toolnexus_server: ToolnexusExtension,
                                                                     mcp_connect: Any) -> None:
    # The bridge holds a response's first chunk for a moment, hoping to send the response whole: a stream
    # that goes on must still be flushed, or this tool would wait for its progress to be heard in vain.
    assert toolnexus_server.service is not None
    toolnexus_server.service.nexus.registry.register(specs_in(waits_for_its_progress)[0])
    heard = HEARD["event"] = asyncio.Event()

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        if message == "half way":
            heard.set()

    async with mcp_connect("legacy") as client:
        result = await client.call_tool("test.waits_for_its_progress", {}, progress_callback=on_progress)
    assert result.is_error is False and result.structured_content == {"result": "heard"}


async def test_a_quick_response_goes_out_whole(toolnexus_server: ToolnexusExtension, mcp_url: str,
                                               mcp_headers: dict[str, str]) -> None:
    # An event stream that ends right after its one event is sent in one piece, with its length.
    headers = {**mcp_headers, "Accept": "application/json, text/event-stream"}
    async with httpx2.AsyncClient(timeout=30, headers=headers) as http:
        opened = await http.post(mcp_url, json={
            "jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                       "clientInfo": {"name": "t", "version": "1"}}})
        session = {"Mcp-Session-Id": opened.headers["mcp-session-id"], "MCP-Protocol-Version": "2025-11-25"}
        await http.post(mcp_url, json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=session)
        called = await http.post(mcp_url, headers=session, json={
            "jsonrpc": "2.0", "id": 2, "method": "tools/call",
            "params": {"name": "test.echo", "arguments": {"value": "x"}}})
    assert called.status_code == 200
    assert called.headers["content-type"].startswith("text/event-stream")
    assert called.headers.get("content-length") == str(len(called.content))
    assert "transfer-encoding" not in called.headers
    assert '"structuredContent":{"result":"x"}' in called.text


@pytest.mark.parametrize("mode", ERAS)
async def test_cancelling_a_call_kills_its_sandbox(toolnexus_server: ToolnexusExtension, toolnexus_workspace: Path,
                                                   mcp_connect: Any, mode: str) -> None:
    # Cancelling the awaiting task: at 2025-11-25 the SDK client sends notifications/cancelled; at
    # 2026-07-28 it closes the request's response stream. Either way the run and its sandbox stop.
    pidfile = toolnexus_workspace / "spawn.pids"
    async with mcp_connect(mode) as client:
        before = descendants()
        async with anyio.create_task_group() as group:
            group.start_soon(client.call_tool, "test.spawn_and_wait", {"pidfile": str(pidfile), "seconds": 60})
            await await_until(lambda: read_pids(pidfile), within=30, what="the tool to start its child")
            pids = sorted(descendants() - before)  # the worker, its sandbox, and the child it started
            group.cancel_scope.cancel()
        assert len(pids) >= 2
        # The server shares this event loop: wait without blocking it.
        await await_until(lambda: not any(alive(pid) for pid in pids), within=10, what=f"{pids} to be gone")
        # The connection is still usable afterwards.
        assert (await client.call_tool("test.echo", {"value": "after"})).structured_content == {"result": "after"}


async def test_handshake_sessions_hear_list_changed_once_per_burst(toolnexus_server: ToolnexusExtension,
                                                                   mcp_connect: Any) -> None:
    assert toolnexus_server.service is not None
    registry = toolnexus_server.service.nexus.registry
    changed: list[Any] = []

    async def on_message(message: Any) -> None:
        if isinstance(message, types.ServerNotification) and message.method == "notifications/tools/list_changed":
            changed.append(message)

    async with mcp_connect("legacy", message_handler=on_message) as client:
        assert client.session.server_capabilities.tools.list_changed is True
        await client.list_tools()
        # The notification rides the session's GET stream, which the client opens on its own time:
        # register probes until one is heard (each is a real change the client must be told about).
        for i in range(50):
            registry.register(ToolSpec(name=f"probe.tool_{i}", summary="a probe"))
            with anyio.move_on_after(0.5):
                await await_until(lambda: changed, within=1, what="list_changed")
            if changed:
                break
        assert changed
        heard = len(changed)
        for i in range(40):  # a burst: one notification, not forty
            registry.register(ToolSpec(name=f"burst.tool_{i}", summary="a burst"))
        await await_until(lambda: len(changed) > heard, within=5, what="list_changed after the burst")
        await anyio.sleep(0.3)  # room for (unwanted) extra notifications to arrive before counting them
        assert len(changed) - heard == 1
        names = {t.name for t in (await client.list_tools()).tools}
        assert "burst.tool_39" in names
        await anyio.to_thread.run_sync(registry.unregister, "burst.tool_39")  # from another thread, too
        await await_until(lambda: len(changed) > heard + 1, within=5, what="list_changed after a removal")


async def test_2026_clients_hear_list_changed_on_their_listen_stream(toolnexus_server: ToolnexusExtension,
                                                                     mcp_connect: Any) -> None:
    assert toolnexus_server.service is not None
    registry = toolnexus_server.service.nexus.registry
    async with mcp_connect("auto") as client:
        assert client.protocol_version == "2026-07-28"
        async with client.listen(tools_list_changed=True) as subscription:
            registry.register(ToolSpec(name="late.arrival", summary="registered while listening"))
            with anyio.fail_after(10):
                event = await subscription.__anext__()
        assert isinstance(event, ToolsListChanged)
        assert "late.arrival" in {t.name for t in (await client.list_tools()).tools}
