"""The server extension: found and enabled on install, started with the server, stopped with it."""

from __future__ import annotations

import gc
import subprocess
import sys
from typing import Any

import httpx2
from tornado import web

from tests.engine.support import alive, await_until, descendants
from toolnexus.jupyter import _jupyter_server_extension_points
from toolnexus.jupyter.extension import ToolnexusExtension, route_first
from toolnexus.jupyter.handlers import McpHandler


def test_the_extension_point_names_the_app() -> None:
    (point,) = _jupyter_server_extension_points()
    assert point["module"] == "toolnexus.jupyter.extension" and point["app"] is ToolnexusExtension


def test_jupyter_lists_the_extension_as_enabled() -> None:
    # The enabling JSON ships as wheel shared data (etc/jupyter/jupyter_server_config.d/toolnexus.json).
    listed = subprocess.run([sys.executable, "-m", "jupyter", "server", "extension", "list"], capture_output=True,
                            text=True, timeout=120)
    text = listed.stdout + listed.stderr
    line = next(line for line in text.splitlines() if line.strip().startswith("toolnexus.jupyter") and "OK" not in line)
    assert "enabled" in line
    assert "toolnexus.jupyter  OK" in text.replace("\x1b[32m", "").replace("\x1b[0m", "")


async def test_stopping_the_extension_stops_its_workers_and_the_endpoint(
        toolnexus_server: ToolnexusExtension, mcp_connect: Any, mcp_url: str, mcp_headers: dict[str, str]) -> None:
    before = descendants()
    async with mcp_connect("legacy") as client:
        ran = await client.call_tool("python.exec", {"code": "result = 6 * 7"})
    assert ran.structured_content["result"] == 42
    workers = sorted(descendants() - before)
    assert workers  # python.exec ran in a worker process
    await toolnexus_server.stop_extension()
    await await_until(lambda: not any(alive(pid) for pid in workers), within=10, what="the workers to stop")
    async with httpx2.AsyncClient(timeout=30) as http:
        after = await http.post(mcp_url, json={}, headers={**mcp_headers, "Accept": "application/json"})
    assert after.status_code == 503


async def test_the_started_server_heap_is_frozen_until_the_extension_stops(
        jp_serverapp: Any, toolnexus_server: ToolnexusExtension) -> None:
    assert gc.get_freeze_count() == 0  # pytest-jupyter does not run the server's start hook
    await toolnexus_server._start_jupyter_server_extension(jp_serverapp)
    frozen = gc.get_freeze_count()
    await toolnexus_server.stop_extension()
    assert frozen > 10_000  # the server's modules, classes and configuration
    assert gc.get_freeze_count() == 0


async def test_freezing_can_be_turned_off(jp_serverapp: Any, toolnexus_server: ToolnexusExtension) -> None:
    toolnexus_server.freeze_startup_heap = False
    await toolnexus_server._start_jupyter_server_extension(jp_serverapp)
    assert gc.get_freeze_count() == 0


async def test_the_young_generation_threshold_is_raised_while_the_extension_runs(
        jp_serverapp: Any, toolnexus_server: ToolnexusExtension) -> None:
    before = gc.get_threshold()
    await toolnexus_server._start_jupyter_server_extension(jp_serverapp)
    raised = gc.get_threshold()
    await toolnexus_server.stop_extension()
    assert raised == (toolnexus_server.gc_young_threshold, *before[1:]) and raised[0] > before[0]
    assert gc.get_threshold() == before


async def test_the_threshold_can_be_left_alone(jp_serverapp: Any, toolnexus_server: ToolnexusExtension) -> None:
    before = gc.get_threshold()
    toolnexus_server.gc_young_threshold = 0
    await toolnexus_server._start_jupyter_server_extension(jp_serverapp)
    assert gc.get_threshold() == before
    await toolnexus_server.stop_extension()


def _first_handler(webapp: web.Application) -> object:
    return webapp.default_router.rules[0].target.rules[0].target


async def test_the_endpoint_is_routed_first_once_started(
        jp_serverapp: Any, toolnexus_server: ToolnexusExtension, mcp_url: str, mcp_headers: dict[str, str]) -> None:
    assert _first_handler(jp_serverapp.web_app) is not McpHandler  # other extensions' routes came first
    await toolnexus_server._start_jupyter_server_extension(jp_serverapp)
    assert _first_handler(jp_serverapp.web_app) is McpHandler
    async with httpx2.AsyncClient(timeout=30) as http:
        served = await http.post(mcp_url, json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
                                 headers={**mcp_headers, "Accept": "application/json, text/event-stream"})
        other = await http.get(mcp_url.removesuffix("toolnexus/mcp") + "api/status", headers=mcp_headers)
    assert served.status_code in (200, 400)  # answered by the endpoint (no session yet: the SDK's 400)
    assert other.status_code == 200  # the server's own routes are still found
    await toolnexus_server.stop_extension()


async def test_routing_first_can_be_turned_off(jp_serverapp: Any, toolnexus_server: ToolnexusExtension) -> None:
    toolnexus_server.endpoint_first = False
    before = list(jp_serverapp.web_app.default_router.rules)
    await toolnexus_server._start_jupyter_server_extension(jp_serverapp)
    assert jp_serverapp.web_app.default_router.rules == before
    await toolnexus_server.stop_extension()


class _Other(web.RequestHandler):
    pass


def test_an_earlier_route_to_the_endpoint_keeps_it() -> None:
    app = web.Application()
    app.add_handlers(".*$", [(r"/toolnexus/.*", _Other)])
    app.add_handlers(".*$", [(r"/toolnexus/mcp(?:/([A-Za-z0-9_.-]+))?/?", McpHandler)])
    before = list(app.default_router.rules)
    assert route_first(app, "/toolnexus/mcp") is False
    assert app.default_router.rules == before


def test_an_earlier_route_to_a_path_under_the_endpoint_keeps_it() -> None:
    # The endpoint's `/<toolset>` pattern would take `/toolnexus/mcp/admin` over if its copy went first.
    app = web.Application()
    app.add_handlers(".*$", [(r"/toolnexus/mcp/admin", _Other)])
    app.add_handlers(".*$", [(r"/toolnexus/mcp(?:/([A-Za-z0-9_.-]+))?/?", McpHandler)])
    before = list(app.default_router.rules)
    assert route_first(app, "/toolnexus/mcp") is False
    assert app.default_router.rules == before


def test_routes_elsewhere_let_the_endpoint_go_first() -> None:
    app = web.Application([(r"/api/status", _Other)])
    app.add_handlers(".*$", [(r"/lab/.*", _Other)])
    app.add_handlers(".*$", [(r"/toolnexus/mcp(?:/([A-Za-z0-9_.-]+))?/?", McpHandler)])
    assert route_first(app, "/toolnexus/mcp") is True
    assert _first_handler(app) is McpHandler
    assert len(app.default_router.rules) == 4  # the copy, then every route as before
