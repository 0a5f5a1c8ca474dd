"""Resources, resource templates, prompts and completion — authors' (``@resource``/``@prompt``) and the
built-in tool cards, mission YAML and mission-step prompt — through the SDK client, in process."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import mcp_types as types
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

import toolnexus as tn
from toolnexus.core.content import Image
from toolnexus.mcp_server.library import prompt, resource
from toolnexus.mcp_server.server import ToolServer

pytestmark = pytest.mark.anyio
REGIONS = ("north", "south", "sudan")


@resource("sales://regions", mime_type="application/json")
def regions() -> list[str]:
    """The sales regions."""
    return list(REGIONS)


@resource("sales://regions/{region}/logo", mime_type="image/png",
          complete={"region": lambda prefix: [r for r in REGIONS if r.startswith(prefix)]})
def logo(region: str) -> bytes:
    """A region's logo."""
    return region.encode()


@prompt(description="Review a region's quarter")
async def review(region: str, quarter: str = "Q3") -> list[Any]:
    return [f"Review the {quarter} sales of {region}.", ("assistant", "Which figures?"),
            Image(data=b"\x89PNG....", mime_type="image/png")]


@pytest.fixture
def server(test_nexus: tn.Nexus, workspace: Path) -> Any:
    missions = workspace / "missions"
    missions.mkdir(exist_ok=True)
    (missions / "greet.yaml").write_text("mission: greet\ndescription: Say hello\nsteps:\n"
                                         "  - id: hi\n    uses: test.echo\n    with: {value: hello}\n")
    tool_server = ToolServer(test_nexus)
    assert tool_server.load(sys.modules[__name__]) == 3
    yield tool_server
    tool_server.close()


async def test_resources_and_templates_are_listed_and_read(server: ToolServer) -> None:
    async with Client(server.server, mode="legacy") as client:
        listed = {r.uri: r for r in (await client.list_resources()).resources}
        templates = {t.uri_template for t in (await client.list_resource_templates()).resource_templates}
        fixed = (await client.read_resource("sales://regions")).contents[0]
        binary = (await client.read_resource("sales://regions/north/logo")).contents[0]
    assert listed["sales://regions"].description == "The sales regions."
    assert {"toolnexus://tools/{name}", "toolnexus://tools/{name}/{level}",
            "sales://regions/{region}/logo"} <= templates
    assert json.loads(fixed.text) == list(REGIONS)  # type: ignore[union-attr]
    assert binary.blob == "bm9ydGg=" and binary.mime_type == "image/png"  # type: ignore[union-attr]


async def test_missions_are_resources_with_their_yaml(server: ToolServer, workspace: Path) -> None:
    async with Client(server.server, mode="legacy") as client:
        listed = {r.uri for r in (await client.list_resources()).resources}
        read = (await client.read_resource("toolnexus://missions/greet")).contents[0]
    assert "toolnexus://missions/greet" in listed
    assert read.text == (workspace / "missions" / "greet.yaml").read_text()  # type: ignore[union-attr]


async def test_tool_cards_at_each_disclosure_level(server: ToolServer) -> None:
    async with Client(server.server, mode="legacy") as client:
        card = json.loads((await client.read_resource("toolnexus://tools/test.echo")).contents[0].text)  # type: ignore[union-attr]
        schema = json.loads(
            (await client.read_resource("toolnexus://tools/test.echo/schema")).contents[0].text)  # type: ignore[union-attr]
        with pytest.raises(MCPError) as unknown:
            await client.read_resource("toolnexus://tools/test.nope")
    assert card["name"] == "test.echo" and "arguments" in card
    assert schema["input_schema"]["required"] == ["value"]
    assert unknown.value.error.code == types.INVALID_PARAMS
    assert unknown.value.error.data == {"uri": "toolnexus://tools/test.nope"}


async def test_prompts_render_their_arguments(server: ToolServer) -> None:
    async with Client(server.server, mode="legacy") as client:
        prompts = {p.name: p for p in (await client.list_prompts()).prompts}
        got = await client.get_prompt("review", {"region": "north"})
        step = await client.get_prompt("toolnexus.mission_step", {"tool": "test.echo", "goal": "repeat a greeting"})
        with pytest.raises(MCPError) as missing:
            await client.get_prompt("review", {})
    assert [(a.name, a.required) for a in prompts["review"].arguments or []] == [("region", True), ("quarter", False)]
    assert [(m.role, m.content.type) for m in got.messages] == [("user", "text"), ("assistant", "text"),
                                                                 ("user", "image")]
    assert "Q3 sales of north" in got.messages[0].content.text  # type: ignore[union-attr]
    text = step.messages[0].content.text  # type: ignore[union-attr]
    assert "uses: test.echo" in text and "repeat a greeting" in text
    assert missing.value.error.code == types.INVALID_PARAMS and "region" in missing.value.error.message


async def test_completion_suggests_tool_names_and_authors_values(server: ToolServer) -> None:
    async with Client(server.server, mode="legacy") as client:
        tools = await client.complete(types.PromptReference(type="ref/prompt", name="toolnexus.mission_step"),
                                      {"name": "tool", "value": "test."})
        regions_ = await client.complete(types.ResourceTemplateReference(type="ref/resource",
                                                                         uri="sales://regions/{region}/logo"),
                                         {"name": "region", "value": "s"})
        levels = await client.complete(types.ResourceTemplateReference(type="ref/resource",
                                                                       uri="toolnexus://tools/{name}/{level}"),
                                       {"name": "level", "value": "c"})
    assert "test.echo" in tools.completion.values and all(v.startswith("test.") for v in tools.completion.values)
    assert regions_.completion.values == ["south", "sudan"]
    assert levels.completion.values == ["card"]
