"""A kill switch changes the MCP listing: clients hear ``tools/list_changed`` and ``tools/list`` leaves the killed
tool out — for a switch set in this process and for one set by another process sharing the state store (and
2026-07-28 clients hear it on their listen stream); lifting it brings the tool back. A call naming a killed tool
is refused by the switch, saying why."""

from __future__ import annotations

import inspect
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
import pytest
from mcp import Client
from mcp.shared.subscriptions import ToolsListChanged

import toolnexus as tn
from toolnexus.mcp_server.server import ToolServer

pytestmark = pytest.mark.anyio

TOOL = "test.echo"
DEADLINE = 30  # seconds: generous for a loaded machine; the switch is noticed within a tenth of a second


class Notices:
    """The ``tools/list_changed`` notifications a client received, and a way to wait for the next one."""

    def __init__(self) -> None:
        self.count = 0
        self._arrived = anyio.Event()

    async def __call__(self, message: Any) -> None:
        """The client's message handler: count list_changed notices."""
        if isinstance(message, types.ServerNotification) and message.method == "notifications/tools/list_changed":
            self.count += 1
            self._arrived.set()

    async def after(self, action: Callable[[], Any]) -> None:
        """Run ``action`` (sync or async) and wait for the list_changed notice it causes."""
        self._arrived = anyio.Event()
        seen = self.count
        result = action()
        if inspect.isawaitable(result):
            await result
        with anyio.fail_after(DEADLINE):
            while self.count == seen:
                await self._arrived.wait()


@asynccontextmanager
async def connected(nexus: tn.Nexus) -> AsyncIterator[tuple[Client, Notices]]:
    """An SDK client (2025-11-25 handshake) on a ToolServer of ``nexus``, with its list_changed notices."""
    server = ToolServer(nexus)
    notices = Notices()
    try:
        async with Client(server.server, mode="legacy", cache=None, message_handler=notices) as client:
            yield client, notices
    finally:
        server.close()


async def listed(client: Client) -> set[str]:
    """The names ``tools/list`` gives now."""
    return {t.name for t in (await client.list_tools()).tools}


async def toolnexus_cli(workspace: Path, *args: str) -> None:
    """Run ``toolnexus ARGS -w WORKSPACE`` in a second process; fail with its output if it fails."""
    done = await anyio.run_process([sys.executable, "-m", "toolnexus.cli", *args, "-w", str(workspace)], check=False)
    assert done.returncode == 0, done.stderr.decode() + done.stdout.decode()


async def test_a_kill_switch_set_here_changes_the_listing(test_nexus: tn.Nexus) -> None:
    kills = test_nexus.kills
    assert kills is not None
    async with connected(test_nexus) as (client, notices):
        assert TOOL in await listed(client)
        await notices.after(lambda: kills.kill("tool", TOOL, "under investigation", "ops"))
        assert TOOL not in await listed(client)
        assert "test.noop" in await listed(client)  # only what the switch stops is left out
        refused = await client.call_tool(TOOL, {"value": "x"})
        assert refused.is_error is True
        assert "kill switch" in refused.content[0].text and "under investigation" in refused.content[0].text
        await notices.after(lambda: kills.unkill(TOOL, "ops"))
        assert TOOL in await listed(client)


async def test_a_kill_switch_set_by_another_process_changes_the_listing(test_nexus: tn.Nexus,
                                                                        workspace: Path) -> None:
    async with connected(test_nexus) as (client, notices):
        assert TOOL in await listed(client)
        await notices.after(lambda: toolnexus_cli(workspace, "kill", TOOL, "--reason", "r"))
        assert TOOL not in await listed(client)
        await notices.after(lambda: toolnexus_cli(workspace, "unkill", TOOL))
        assert TOOL in await listed(client)


async def test_a_namespace_switch_hides_the_namespace_from_search(test_nexus: tn.Nexus) -> None:
    kills = test_nexus.kills
    assert kills is not None
    async with connected(test_nexus) as (client, notices):
        await notices.after(lambda: kills.kill("namespace", "test", "frozen", "ops"))
        names = await listed(client)
        assert not any(name.startswith("test.") for name in names) and "tools.search" in names
        found = await client.call_tool("tools.search", {"query": "echo", "k": 50})
        assert not any(hit["name"].startswith("test.") for hit in found.structured_content["hits"])
        await notices.after(lambda: kills.unkill("test", "ops"))
        assert TOOL in await listed(client)


async def test_closing_the_server_stops_listening_to_the_switches(test_nexus: tn.Nexus) -> None:
    kills = test_nexus.kills
    assert kills is not None
    before = len(kills._listeners)
    server = ToolServer(test_nexus)
    assert len(kills._listeners) == before + 1
    server.close()
    assert len(kills._listeners) == before


async def test_2026_clients_hear_a_kill_on_their_listen_stream(test_nexus: tn.Nexus) -> None:
    kills = test_nexus.kills
    assert kills is not None
    server = ToolServer(test_nexus)
    try:
        async with Client(server.server, mode="auto", cache=None) as client:
            assert client.protocol_version == "2026-07-28"
            async with client.listen(tools_list_changed=True) as subscription:
                kills.kill("tool", TOOL, "under investigation", "ops")
                with anyio.fail_after(DEADLINE):
                    event = await subscription.__anext__()
            assert isinstance(event, ToolsListChanged)
            assert TOOL not in await listed(client)
    finally:
        server.close()
