"""Jupyter's authorizer is asked, by the gate, per tool call, prompt and resource read (``execute`` on
``toolnexus``): a user who may not execute can still list tools, a call comes back as a ``denied`` error
result, a prompt as an MCP error, and each refusal is a recorded gate decision (``jupyter-authorizer``)."""

from __future__ import annotations

import sys
from typing import Any

import pytest
from jupyter_server.auth.authorizer import Authorizer
from mcp.shared.exceptions import MCPError

from toolnexus.core.events import GateDecided
from toolnexus.jupyter.extension import ToolnexusExtension
from toolnexus.mcp_server.library import prompt


class ListButNoCalls(Authorizer):
    """Lets everyone in, but nobody execute toolnexus tools."""

    def is_authorized(self, handler: Any, user: Any, action: str, resource: str) -> bool:
        return not (resource == "toolnexus" and action == "execute")


@pytest.fixture
def jp_server_config(jp_server_config: dict[str, Any]) -> dict[str, Any]:
    return {**jp_server_config, "ServerApp": {**jp_server_config["ServerApp"], "authorizer_class": ListButNoCalls}}


async def test_the_authorizer_decides_each_call(toolnexus_server: ToolnexusExtension, mcp_connect: Any) -> None:
    async with mcp_connect("legacy") as client:
        names = {t.name for t in (await client.list_tools()).tools}
        denied = await client.call_tool("test.echo", {"value": "x"})
    assert "test.echo" in names
    assert denied.is_error is True
    assert denied.structured_content["error"]["kind"] == "denied"


@prompt(description="A prompt the authorizer keeps from running")
def guarded_prompt() -> str:
    return "never shown"


def _decisions(extension: ToolnexusExtension) -> list[GateDecided]:
    """The gate decisions of the extension's Nexus, as its bus delivers them."""
    seen: list[GateDecided] = []
    assert extension.service is not None
    extension.service.nexus.bus.subscribe(lambda event: seen.append(event) if isinstance(event, GateDecided)
                                          else None)
    return seen


async def test_a_call_the_authorizer_refuses_is_a_recorded_gate_decision(toolnexus_server: ToolnexusExtension,
                                                                         mcp_connect: Any) -> None:
    decisions = _decisions(toolnexus_server)
    async with mcp_connect("legacy") as client:
        denied = await client.call_tool("test.echo", {"value": "x"})
    assert denied.structured_content["error"]["details"]["policy"] == "jupyter-authorizer"
    refused = [d for d in decisions if d.call.tool == "test.echo"]
    assert [(d.decision.decider, d.decision.allowed, d.subject) for d in refused] == [
        ("jupyter-authorizer", False, "tool")]


async def test_a_prompt_the_authorizer_refuses_never_runs(toolnexus_server: ToolnexusExtension,
                                                         mcp_connect: Any) -> None:
    assert toolnexus_server.service is not None
    toolnexus_server.service.tool_server.load(sys.modules[__name__])
    decisions = _decisions(toolnexus_server)
    async with mcp_connect("legacy") as client:
        with pytest.raises(MCPError, match="refused by jupyter-authorizer"):
            await client.get_prompt("guarded_prompt", {})
    assert [(d.call.tool, d.subject, d.decision.decider, d.decision.allowed) for d in decisions] == [
        ("guarded_prompt", "prompt", "jupyter-authorizer", False)]
