"""The Jupyter endpoint driven by real MCP clients (the official SDK's and fastmcp's): listing with
pagination over a large catalog, calls with structured output, error results and protocol errors."""

from __future__ import annotations

from typing import Any

import mcp_types as types
import pytest
from fastmcp import Client as FastMCPClient
from fastmcp.client.transports import StreamableHttpTransport
from mcp.shared.exceptions import MCPError

from toolnexus.core.events import CallFinished, Event
from toolnexus.core.spec import SafetyTier, ToolSpec
from toolnexus.jupyter.extension import ToolnexusExtension

BULK = 1200
ERAS = ["legacy", "auto"]  # the 2025-11-25 handshake with a session; the stateless 2026-07-28 exchange


def bulk_specs(n: int = BULK) -> list[ToolSpec]:
    tiers = list(SafetyTier)
    return [ToolSpec(name=f"bulk.tool_{i:04d}", summary=f"Bulk tool number {i} for paging.",
                     tags=["bulk", f"group{i % 3}"], tier=tiers[i % 3]) for i in range(n)]


@pytest.fixture
def big_server(toolnexus_server: ToolnexusExtension) -> ToolnexusExtension:
    assert toolnexus_server.service is not None
    for spec in bulk_specs():
        toolnexus_server.service.nexus.registry.register(spec)
    return toolnexus_server


async def list_all(client: Any) -> tuple[list[Any], int]:
    tools, cursor, pages = [], None, 0
    while True:
        result = await client.session.list_tools(params=types.PaginatedRequestParams(cursor=cursor) if cursor else None)
        tools += result.tools
        pages += 1
        cursor = result.next_cursor
        if cursor is None:
            return tools, pages


@pytest.mark.parametrize("mode", ERAS)
async def test_pages_through_more_than_a_thousand_tools_in_order(big_server: ToolnexusExtension, mcp_connect: Any,
                                                                mode: str) -> None:
    assert big_server.service is not None
    expected = big_server.service.tool_server.catalog().names
    async with mcp_connect(mode) as client:
        tools, pages = await list_all(client)
        again, _ = await list_all(client)
    names = [t.name for t in tools]
    assert len(names) >= BULK and pages >= BULK // big_server.service.tool_server.page_size
    assert names == sorted(names) == expected == [t.name for t in again]  # deterministic, no gaps or repeats
    by_name = {t.name: t for t in tools}
    assert "tools.search" in by_name and "mission.hello" not in by_name  # no missions folder in this workspace
    read_only, privileged = by_name["bulk.tool_0000"], by_name["bulk.tool_0002"]
    assert read_only.annotations.read_only_hint is True and read_only.annotations.destructive_hint is False
    assert read_only.annotations.idempotent_hint is True
    assert privileged.annotations.read_only_hint is False and privileged.annotations.destructive_hint is True
    assert by_name["test.count"].output_schema["properties"].keys() == {"count", "text"}
    assert by_name["test.echo"].input_schema["required"] == ["value"]


@pytest.mark.parametrize("mode", ERAS)
async def test_an_invalid_cursor_is_invalid_params(toolnexus_server: ToolnexusExtension, mcp_connect: Any,
                                                   mode: str) -> None:
    async with mcp_connect(mode) as client:
        with pytest.raises(MCPError) as raised:
            await client.session.list_tools(params=types.PaginatedRequestParams(cursor="not-a-cursor"))
    assert raised.value.code == -32602
    assert "cursor" in raised.value.message


@pytest.mark.parametrize("mode", ERAS)
async def test_calls_return_structured_content_and_go_through_the_nexus(
        toolnexus_server: ToolnexusExtension, mcp_connect: Any, mode: str) -> None:
    assert toolnexus_server.service is not None
    seen: list[Event] = []
    toolnexus_server.service.nexus.bus.subscribe(seen.append)
    async with mcp_connect(mode) as client:
        counted = await client.call_tool("test.count", {"text": "one two three"})
        echoed = await client.call_tool("test.echo", {"value": "hi"})
    assert counted.is_error is False
    assert counted.structured_content == {"count": 3, "text": "one two three"}
    assert counted.content[0].type == "text" and '"count": 3' in counted.content[0].text
    assert echoed.structured_content == {"result": "hi"} and echoed.content[0].text == "hi"
    calls = [e for e in seen if isinstance(e, CallFinished)]
    assert [(e.call.tool, e.call.origin) for e in calls] == [("test.count", "mcp"), ("test.echo", "mcp")]


@pytest.mark.parametrize("mode", ERAS)
async def test_failures_and_bad_arguments_are_error_results_and_an_unknown_tool_is_a_protocol_error(
        toolnexus_server: ToolnexusExtension, mcp_connect: Any, mode: str) -> None:
    async with mcp_connect(mode) as client:
        failed = await client.call_tool("test.fail", {"message": "it broke"})
        invalid = await client.call_tool("test.count", {"text": 42})
        with pytest.raises(MCPError) as unknown:
            await client.call_tool("test.does_not_exist", {})
    assert failed.is_error is True
    assert failed.structured_content["error"]["kind"] == "tool_error"
    assert "it broke" in failed.content[0].text
    assert invalid.is_error is True
    assert invalid.structured_content["error"]["kind"] == "invalid_arguments"
    assert "/text" in invalid.content[0].text
    assert unknown.value.code == -32602  # the spec's error for an unknown tool, not an isError result
    assert "test.does_not_exist" in unknown.value.message


@pytest.mark.parametrize("mode", ERAS)
async def test_tools_search_returns_the_bm25_top_k_listing(big_server: ToolnexusExtension, mcp_connect: Any,
                                                          mode: str) -> None:
    async with mcp_connect(mode) as client:
        found = await client.call_tool("tools.search", {"query": "count the words of a text", "k": 3})
        narrowed = await client.call_tool("tools.search", {"query": "bulk tool paging", "k": 5,
                                                           "tiers": ["privileged"]})
        bad = await client.call_tool("tools.search", {"query": ""})
    hits = found.structured_content["hits"]
    assert hits[0]["name"] == "test.count" and len(hits) <= 3
    assert {"name", "version", "summary", "tier", "score", "matched"} <= hits[0].keys()
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)
    assert len(narrowed.structured_content["hits"]) == 5
    assert {h["tier"] for h in narrowed.structured_content["hits"]} == {"privileged"}
    assert bad.is_error is True and bad.structured_content["error"]["kind"] == "invalid_arguments"


async def test_fastmcp_client_lists_every_page_and_calls(big_server: ToolnexusExtension, mcp_url: str,
                                                         mcp_headers: dict[str, str]) -> None:
    assert big_server.service is not None
    async with FastMCPClient(StreamableHttpTransport(mcp_url, headers=mcp_headers)) as client:
        tools = await client.list_tools()
        result = await client.call_tool("test.count", {"text": "a b"})
        failed = await client.call_tool("test.fail", {}, raise_on_error=False)
    assert [t.name for t in tools] == big_server.service.tool_server.catalog().names
    assert result.structured_content == {"count": 2, "text": "a b"}
    assert (result.data.count, result.data.text) == (2, "a b")  # typed from the outputSchema
    assert failed.is_error is True
