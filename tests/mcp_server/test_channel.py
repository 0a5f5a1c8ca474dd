"""What a running tool sends back to its MCP client — log records, progress, questions — with the SDK
client connected in process to a real ToolServer over a real Nexus."""

from __future__ import annotations

import asyncio
import base64
import logging
import struct
import zlib
from typing import Any

import mcp_types as types
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

import toolnexus as tn
from toolnexus.core.content import Content, EmbeddedResource, Image
from toolnexus.core.context import elicit, report_progress, sample
from toolnexus.mcp_server.server import ToolServer
from toolnexus.registry import spec_of

pytestmark = [pytest.mark.anyio, pytest.mark.filterwarnings("ignore:The logging capability is deprecated")]
log = logging.getLogger(__name__)  # the convention the server relies on to open a tool's logger


def _png(width: int, height: int) -> str:
    """A valid grey PNG, base64. (Large enough that the engine's secret scrubber, which redacts high-entropy
    tokens of 24-128 characters, leaves it alone: a 1x1 PNG's 92 characters would be redacted.)"""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    rows = b"".join(b"\x00" + bytes((x * 7 + y * 13) % 256 for x in range(width)) for y in range(height))
    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
    return base64.b64encode(png).decode("ascii")


PNG = _png(16, 16)


@tn.tool(name="chan.chatty", register=False)
def chatty() -> str:
    """Logs at three levels from a worker thread (a sync tool)."""
    log.debug("debug detail")
    log.info("working")
    log.warning("almost out of coffee")
    return "done"


@tn.tool(name="chan.steps", register=False)
async def steps() -> str:
    """Reports its own progress, once out of order."""
    for done in (10, 50, 40, 100):
        report_progress(done, 100, f"{done}%")
        await asyncio.sleep(0)
    return "ok"


@tn.tool(name="chan.sync_steps", register=False)
def sync_steps() -> str:
    """Reports progress from a worker thread."""
    for done in (1, 2, 3):
        report_progress(done, 3)
    return "ok"


@tn.tool(name="chan.ask", register=False)
async def ask(question: str) -> str:
    """Asks the client's model."""
    return await sample(question, max_tokens=50)


@tn.tool(name="chan.form", register=False)
async def form() -> dict[str, Any]:
    """Asks the client's user."""
    return await elicit("Who are you?", {"type": "object", "properties": {"name": {"type": "string"}}})


@tn.tool(name="chan.picture", register=False)
def picture() -> Image:
    """An image result."""
    return Image(data=PNG, mime_type="image/png")


@tn.tool(name="chan.report", register=False)
def report() -> Content:
    """Mixed content with data."""
    return Content("Summary:", Image(data=PNG, mime_type="image/png"),
                   EmbeddedResource(uri="file:///r.json", text='{"a": 1}', mime_type="application/json"),
                   data={"rows": 3})


@pytest.fixture
def server(nexus: tn.Nexus) -> Any:
    for fn in (chatty, steps, sync_steps, ask, form, picture, report):
        nexus.registry.register(spec_of(fn))
    tool_server = ToolServer(nexus)
    yield tool_server
    tool_server.close()


async def test_log_records_reach_the_client_at_and_above_its_level(server: ToolServer) -> None:
    received: list[types.LoggingMessageNotificationParams] = []

    async def on_log(params: types.LoggingMessageNotificationParams) -> None:
        received.append(params)

    async with Client(server.server, mode="legacy", logging_callback=on_log) as client:  # 2025-11-25: setLevel
        assert client.server_capabilities is not None and client.server_capabilities.logging is not None
        await client.session.set_logging_level("info")
        result = await client.call_tool("chan.chatty", {})
        await client.session.set_logging_level("debug")
        await client.call_tool("chan.chatty", {})
    assert not result.is_error
    first, second = received[:2], received[2:]
    assert [(r.level, r.data) for r in first] == [("info", "working"), ("warning", "almost out of coffee")]
    assert [r.level for r in second] == ["debug", "info", "warning"]  # debug: below the app's WARNING too
    assert {r.logger for r in received} == {__name__}


async def test_logs_the_client_did_not_ask_for_stay_out_of_the_application_log(
        server: ToolServer, caplog: pytest.LogCaptureFixture) -> None:
    async with Client(server.server, mode="legacy") as client:
        await client.session.set_logging_level("debug")
        with caplog.at_level(logging.WARNING):
            await client.call_tool("chan.chatty", {})
    messages = [r.getMessage() for r in caplog.records if r.name == __name__]
    assert messages == ["almost out of coffee"]  # the application's threshold is unchanged


async def test_a_tool_reports_its_own_progress_increasing(server: ToolServer) -> None:
    seen: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message))

    async with Client(server.server, mode="legacy") as client:
        await client.call_tool("chan.steps", {}, progress_callback=on_progress)
        synced: list[float] = []

        async def on_sync(progress: float, total: float | None, message: str | None) -> None:
            synced.append(progress)

        await client.call_tool("chan.sync_steps", {}, progress_callback=on_sync)
    assert [p for p, _, _ in seen] == [0.0, 10.0, 50.0, 100.0]  # 40 after 50 is dropped: progress only grows
    assert seen[-1] == (100.0, 100.0, "100%")
    assert synced == [0.0, 1.0, 2.0, 3.0]


async def test_a_tool_without_progress_of_its_own_reports_start_and_end(server: ToolServer) -> None:
    seen: list[float] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append(progress)

    async with Client(server.server, mode="legacy") as client:
        await client.call_tool("chan.picture", {}, progress_callback=on_progress)
    assert seen == [0.0, 1.0]


async def test_a_tool_samples_the_clients_model(server: ToolServer) -> None:
    asked: list[types.CreateMessageRequestParams] = []

    async def on_sample(context: Any, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
        asked.append(params)
        return types.CreateMessageResult(role="assistant", content=types.TextContent(type="text", text="42"),
                                         model="test-model", stop_reason="endTurn")

    async with Client(server.server, mode="legacy", sampling_callback=on_sample) as client:
        result = await client.call_tool("chan.ask", {"question": "the answer?"})
    assert result.structured_content == {"result": "42"}
    assert asked[0].max_tokens == 50 and asked[0].messages[0].content.text == "the answer?"  # type: ignore[union-attr]


async def test_a_tool_elicits_from_the_clients_user(server: ToolServer) -> None:
    async def on_elicit(context: Any, params: Any) -> types.ElicitResult:
        assert params.message == "Who are you?"
        return types.ElicitResult(action="accept", content={"name": "Ada"})

    async with Client(server.server, mode="legacy", elicitation_callback=on_elicit) as client:
        result = await client.call_tool("chan.form", {})
    assert result.structured_content == {"action": "accept", "content": {"name": "Ada"}}


async def test_asking_a_client_without_the_capability_is_a_clear_error(server: ToolServer) -> None:
    async with Client(server.server, mode="legacy") as client:
        result = await client.call_tool("chan.form", {})
    assert result.is_error
    error = result.structured_content["error"]  # type: ignore[index]
    assert "did not declare the elicitation capability" in error["message"]
    assert error["details"] == {"capability": "elicitation"}


async def test_asking_outside_an_mcp_call_is_a_clear_error(nexus: tn.Nexus) -> None:
    nexus.registry.register(spec_of(ask))
    result = await nexus.acall("chan.ask", {"question": "hello?"})
    assert result.error is not None and "did not come from an MCP client" in result.error.message


async def test_content_blocks_are_mcp_content(server: ToolServer) -> None:
    async with Client(server.server, mode="legacy") as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        image = await client.call_tool("chan.picture", {})
        mixed = await client.call_tool("chan.report", {})
    assert tools["chan.picture"].output_schema is None  # content, not structured output
    assert [c.type for c in image.content] == ["image"]
    assert image.content[0].data == PNG and image.structured_content is None  # type: ignore[union-attr]
    assert [c.type for c in mixed.content] == ["text", "image", "resource"]
    assert mixed.content[2].resource.uri == "file:///r.json"  # type: ignore[union-attr]
    assert mixed.structured_content == {"rows": 3}


async def test_a_stateless_client_answers_through_input_required_rounds(server: ToolServer) -> None:
    asked: list[str] = []

    async def on_elicit(context: Any, params: Any) -> types.ElicitResult:
        asked.append(params.message)
        return types.ElicitResult(action="accept", content={"name": "Grace"})

    async with Client(server.server, mode="2026-07-28", elicitation_callback=on_elicit) as client:
        assert client.session.protocol_version == "2026-07-28"
        result = await client.call_tool("chan.form", {})  # the SDK client retries with the answer
    assert asked == ["Who are you?"]
    assert result.structured_content == {"action": "accept", "content": {"name": "Grace"}}


async def test_a_stateless_client_without_the_capability_gets_32021(server: ToolServer) -> None:
    async with Client(server.server, mode="2026-07-28") as client:
        with pytest.raises(MCPError) as refused:
            await client.call_tool("chan.form", {})
    assert refused.value.error.code == types.MISSING_REQUIRED_CLIENT_CAPABILITY
    assert refused.value.error.data == {"requiredCapabilities": {"elicitation": {}}}
