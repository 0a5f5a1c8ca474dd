"""The tool server's own logic, in process (the SDK client connected to it directly): catalog paging
with stable cursors, toolset selection, missions as tools and the result mapping."""

from __future__ import annotations

from pathlib import Path

import mcp_types as types
import pytest
from mcp import Client

import toolnexus as tn
from toolnexus.core.call import ToolResult
from toolnexus.core.errors import ErrorKind, ToolError
from toolnexus.core.spec import ToolSpec
from toolnexus.mcp_server.catalog import InvalidCursor, decode_cursor, encode_cursor
from toolnexus.mcp_server.missions import input_schema
from toolnexus.mcp_server.results import call_result
from toolnexus.mcp_server.selection import BadSelection, UnknownToolset, select_toolset
from toolnexus.mcp_server.server import ToolServer
from toolnexus.mission.model import InputSpec
from toolnexus.registry.toolsets import Toolset

pytestmark = pytest.mark.anyio


async def test_cursors_name_a_position_so_paging_survives_changes(test_nexus: tn.Nexus) -> None:
    server = ToolServer(test_nexus, page_size=4)
    async with Client(server.server, mode="legacy") as client:
        first = await client.session.list_tools()
        test_nexus.registry.register(ToolSpec(name="aaa.first", summary="sorts before every page"))
        rest, cursor = [], first.next_cursor
        while cursor is not None:
            page = await client.session.list_tools(params=types.PaginatedRequestParams(cursor=cursor))
            rest += page.tools
            cursor = page.next_cursor
    names = [t.name for t in first.tools + rest]
    assert len(first.tools) == 4
    assert names == sorted(names) and len(names) == len(set(names))  # nothing repeated, nothing skipped
    assert "aaa.first" not in names  # registered behind the cursor: seen on the next listing
    server.close()


def test_a_cursor_is_opaque_and_checked() -> None:
    assert decode_cursor(encode_cursor("files.read")) == "files.read"
    for bad in ("", "%%%", encode_cursor("x")[:-3] + "!!!", "eyJub3BlIjogMX0"):
        with pytest.raises(InvalidCursor):
            decode_cursor(bad)


def test_toolsets_are_selected_by_name_and_narrowed_by_filters() -> None:
    toolsets = {"data": Toolset(name="data", namespaces=["files", "json"])}
    assert select_toolset(toolsets, "data") is toolsets["data"]
    narrowed = select_toolset(toolsets, "data", [("tier", "read_only"), ("tag", "csv")])
    assert narrowed.namespaces == ["files", "json"] and narrowed.tags == ["csv"] and narrowed.tiers == ["read_only"]
    with pytest.raises(UnknownToolset) as unknown:
        select_toolset(toolsets, "dta")
    assert unknown.value.hint is not None and "data" in unknown.value.hint
    with pytest.raises(BadSelection):
        select_toolset(toolsets, None, [("tier", "godlike")])
    builtin = select_toolset(toolsets, "files", specs=[ToolSpec(name="files.read")])  # one per namespace
    assert builtin.matches(ToolSpec(name="files.read")) and not builtin.matches(ToolSpec(name="json.query"))


def test_mission_inputs_become_a_json_schema() -> None:
    schema = input_schema({"name": InputSpec(type="string", description="who"),
                           "times": InputSpec(type="integer", default=3),
                           "mode": InputSpec(type="string", enum=["a", "b"], default="a")})
    assert schema["required"] == ["name"]
    assert schema["properties"]["name"] == {"type": "string", "description": "who"}
    assert schema["properties"]["times"] == {"type": "integer", "default": 3}
    assert schema["properties"]["mode"]["enum"] == ["a", "b"]
    assert schema["additionalProperties"] is False


async def test_missions_of_the_workspace_are_tools(nexus: tn.Nexus, workspace: Path) -> None:
    repo_missions = Path(__file__).resolve().parents[2] / "missions"
    server = ToolServer(nexus, missions_dir=repo_missions)
    async with Client(server.server, mode="legacy") as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        result = await client.call_tool("mission.hello", {"name": "ada", "times": 2})
    hello = tools["mission.hello"]
    assert hello.input_schema["properties"]["times"] == {"type": "integer", "default": 3}
    assert hello.annotations.read_only_hint is False  # it writes a file: side-effecting
    assert result.is_error is False
    assert result.structured_content["greeting"] == "Hello, ada!"
    assert result.meta["toolnexus/status"] == "succeeded"
    server.close()


def test_results_are_structured_and_errors_are_data() -> None:
    listed = call_result(ToolResult(call_id="c", tool="t", version="1", output=[1, 2]))
    failed = call_result(ToolResult(call_id="c", tool="t", version="1",
                                    error=ToolError(kind=ErrorKind.TIMEOUT, message="too slow", retryable=True)))
    assert listed.structured_content == {"result": [1, 2]} and listed.content[0].text == "[1, 2]"
    assert failed.is_error is True
    assert failed.structured_content == {"error": {"kind": "timeout", "message": "too slow", "retryable": True,
                                                   "details": {}}}
    assert failed.content[0].text == "timeout: too slow"
