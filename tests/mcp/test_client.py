"""Connections: one session per server shared by every event loop, list_changed, HTTP, closing."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import anyio
import pytest

from tests.mcp.servers.support import http_toolbox, make_nexus, toolbox
from toolnexus.core.spec import ToolSpec


def test_one_session_serves_every_event_loop_until_close_stops_the_server(tmp_path: Path) -> None:
    nexus = make_nexus(tmp_path, {"box": toolbox()})
    # Each sync call runs on a fresh event loop; the session lives in the connection thread.
    pids = {nexus.call("box.pid").output["result"] for _ in range(3)}

    async def from_a_loop_of_our_own() -> int:
        return (await nexus.acall("box.pid")).output["result"]

    pids.add(anyio.run(from_a_loop_of_our_own))
    [pid] = pids
    os.kill(pid, 0)  # running
    nexus.close()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    after = nexus.call("box.pid")
    assert after.error is not None and "closed" in after.error.message


def test_list_changed_registers_and_unregisters_tools(tmp_path: Path) -> None:
    with make_nexus(tmp_path, {"box": toolbox()}) as nexus:
        changed = {"registered": threading.Event(), "unregistered": threading.Event()}

        def listener(event: str, spec: ToolSpec) -> None:
            if spec.name == "box.late_arrival":
                changed[event].set()

        nexus.registry.subscribe(listener)
        assert nexus.call("box.add_tool", {"name": "late_arrival"}).ok
        assert changed["registered"].wait(30), "the new tool never reached the registry"
        assert nexus.call("box.late_arrival").output == {"result": "late_arrival"}

        assert nexus.call("box.remove_tool", {"name": "late_arrival"}).ok
        assert changed["unregistered"].wait(30), "the removed tool stayed in the registry"
        assert "box.late_arrival" not in nexus.registry


def test_streamable_http_server_by_url(tmp_path: Path) -> None:
    with http_toolbox() as url, make_nexus(tmp_path, {"remote": {"url": url, "tiers": {"echo": "privileged"}}}) \
            as nexus:
        assert "remote.slow" in nexus.registry  # every page of the listing, over HTTP
        assert nexus.registry.get("remote.echo").tier == "privileged"
        result = nexus.call("remote.echo", {"text": "over the wire"})
        assert result.ok, result.error
        assert result.output == {"text": "over the wire"}
        failed = nexus.call("remote.fail", {"reason": "remote trouble"})
        assert failed.error is not None and "remote trouble" in failed.error.message
