"""``tools.search`` is a tool call like any other: validated, decided by the governance gate, recorded."""

from __future__ import annotations

from pathlib import Path

import pytest
from mcp import Client

import toolnexus as tn
from tests.fixtures.tools import ALL
from toolnexus.core.events import CallFinished, Event
from toolnexus.governance import CallPlan
from toolnexus.governance.gate import ALLOW, Decision
from toolnexus.mcp_server.server import ToolServer
from toolnexus.registry import spec_of

pytestmark = pytest.mark.anyio


class NoSearching:
    """A gate that denies tools.search and allows everything else."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    async def check(self, plan: CallPlan) -> Decision:
        self.asked.append(plan.tool)
        if plan.tool == "tools.search":
            return Decision(verdict="deny", reason="searching is off here", policy="no-search")
        return ALLOW

    async def settle(self, plan: CallPlan, pending: Decision) -> Decision:
        raise AssertionError("this gate never parks a call")


def _nexus(workspace: Path, gate: NoSearching | None = None) -> tn.Nexus:
    nexus = tn.Nexus(workspace, gate=gate)
    for fn in ALL:
        nexus.registry.register(spec_of(fn))
    return nexus


async def test_the_gate_decides_tools_search(workspace: Path) -> None:
    gate = NoSearching()
    with _nexus(workspace, gate) as nexus:
        server = ToolServer(nexus)
        async with Client(server.server, mode="legacy") as client:
            denied = await client.call_tool("tools.search", {"query": "count words"})
            allowed = await client.call_tool("test.count", {"text": "a b"})
        server.close()
    assert denied.is_error is True
    assert denied.structured_content["error"]["kind"] == "denied"
    assert denied.structured_content["error"]["details"] == {"policy": "no-search"}
    assert "searching is off here" in denied.content[0].text
    assert allowed.is_error is False and gate.asked == ["tools.search", "test.count"]


async def test_tools_search_is_recorded_and_its_arguments_validated(workspace: Path) -> None:
    with _nexus(workspace) as nexus:
        seen: list[Event] = []
        nexus.bus.subscribe(seen.append)
        server = ToolServer(nexus)
        async with Client(server.server, mode="legacy") as client:
            found = await client.call_tool("tools.search", {"query": "count the words of a text", "k": 2})
            bad = await client.call_tool("tools.search", {"query": "x", "k": 500})
        server.close()
        assert nexus.store is not None
        nexus.store.flush()
        rows = nexus.store._conn().execute("SELECT tool, origin FROM calls ORDER BY at").fetchall()
    assert found.is_error is False and found.structured_content["hits"][0]["name"] == "test.count"
    assert found.meta is not None and found.meta["toolnexus/runtime"] == "inprocess"
    assert bad.is_error is True and bad.structured_content["error"]["kind"] == "invalid_arguments"
    assert "/k" in bad.structured_content["error"]["message"]
    finished = [e for e in seen if isinstance(e, CallFinished)]
    assert [(e.call.tool, e.call.origin) for e in finished] == [("tools.search", "mcp")] * 2
    assert [(r["tool"], r["origin"]) for r in rows] == [("tools.search", "mcp")] * 2
