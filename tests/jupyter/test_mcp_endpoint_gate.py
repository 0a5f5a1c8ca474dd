"""Prompts and resources that run an author's function pass the gate, as tool calls do: each is a recorded
gate decision (a ``GateDecided`` event with subject ``prompt`` or ``resource``) before the function runs."""

from __future__ import annotations

import sys
from typing import Any

from toolnexus.core.events import GateDecided
from toolnexus.jupyter.extension import ToolnexusExtension
from toolnexus.mcp_server.library import prompt, resource


@prompt(description="Greet someone")
def greeting(name: str) -> str:
    return f"Say hello to {name}."


@resource("gate://motto", mime_type="text/plain")
def motto() -> str:
    """A resource whose read is decided by the gate."""
    return "decided"


async def test_a_prompt_and_a_resource_read_are_gate_decisions(toolnexus_server: ToolnexusExtension,
                                                               mcp_connect: Any) -> None:
    assert toolnexus_server.service is not None
    toolnexus_server.service.tool_server.load(sys.modules[__name__])
    seen: list[GateDecided] = []
    toolnexus_server.service.nexus.bus.subscribe(lambda event: seen.append(event) if isinstance(event, GateDecided)
                                                 else None)
    async with mcp_connect("auto") as client:
        got = await client.get_prompt("greeting", {"name": "Ada"})
        read = await client.read_resource("gate://motto")
    assert got.messages[0].content.text == "Say hello to Ada."  # type: ignore[union-attr]
    assert read.contents[0].text == "decided"  # type: ignore[union-attr]
    assert [(d.subject, d.call.tool, d.call.arguments, d.call.origin, d.decision.allowed) for d in seen] == [
        ("prompt", "greeting", {"name": "Ada"}, "mcp", True), ("resource", "gate://motto", {}, "mcp", True)]
