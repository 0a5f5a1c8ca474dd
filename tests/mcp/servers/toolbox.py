"""A small MCP server (the SDK's MCPServer) for the client's tests: stdio by default, ``--http PORT`` for
Streamable HTTP. It lists its tools in pages of ``PAGE`` and has tools that fail, die, hang until
cancelled, and add tools at run time (announcing them with tools/list_changed)."""

from __future__ import annotations

import os
import sys
from typing import Any

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import ListToolsResult, PaginatedRequestParams, ToolAnnotations

PAGE = 4


class PagedServer(MCPServer):
    """MCPServer lists every tool in one page; this one pages, with the offset as its cursor."""

    async def _handle_list_tools(self, ctx: Any, params: PaginatedRequestParams | None) -> ListToolsResult:
        tools = sorted(await self.list_tools(), key=lambda t: t.name)
        start = int(params.cursor) if params is not None and params.cursor else 0
        end = start + PAGE
        return ListToolsResult(tools=tools[start:end], next_cursor=str(end) if end < len(tools) else None)


server = PagedServer("toolbox")
_events: dict[str, anyio.Event] = {}


def _event(name: str) -> anyio.Event:
    # Created on first use: an anyio.Event needs the running loop.
    if name not in _events:
        _events[name] = anyio.Event()
    return _events[name]


@server.tool(annotations=ToolAnnotations(read_only_hint=True))
def echo(text: str) -> dict[str, str]:
    """Echo the text back, structured."""
    return {"text": text}


@server.tool(structured_output=False)
def shout(text: str) -> str:
    """The text in capitals, as text content only."""
    return text.upper()


@server.tool(annotations=ToolAnnotations(destructive_hint=True, read_only_hint=False))
def wipe(path: str) -> str:
    """Pretend to delete a path (a destructive tool, by its annotations)."""
    return f"would wipe {path}"


@server.tool()
def touch(path: str) -> str:
    """Pretend to touch a path (no annotations)."""
    return f"would touch {path}"


@server.tool()
def fail(reason: str) -> str:
    """Always fails with the reason given."""
    raise ToolError(reason)


@server.tool()
def pid() -> int:
    """The server's process id."""
    return os.getpid()


@server.tool()
def die() -> str:
    """The server process exits in the middle of the call."""
    os._exit(3)


@server.tool()
async def slow() -> str:
    """Runs until cancelled, recording that it started and that it was cancelled."""
    _event("started").set()
    try:
        await anyio.sleep_forever()
    except anyio.get_cancelled_exc_class():
        _event("cancelled").set()
        raise
    return "never"


@server.tool()
async def wait_for(event: str, seconds: float = 10.0) -> bool:
    """Whether ``event`` ("started" or "cancelled") happened within ``seconds``."""
    with anyio.move_on_after(seconds):
        await _event(event).wait()
    return _event(event).is_set()


@server.tool()
async def count(steps: int, ctx: Context) -> int:
    """Count to ``steps``, reporting progress at each step."""
    for step in range(1, steps + 1):
        await ctx.report_progress(step, steps, f"step {step}")
    return steps


@server.tool()
async def add_tool(name: str, ctx: Context) -> str:
    """Add a tool named ``name`` (it answers its own name) and announce the change."""

    def added() -> str:
        return name

    server.add_tool(added, name=name, description=f"added at run time: {name}")
    await ctx.notify_tools_changed()
    return name


@server.tool()
async def remove_tool(name: str, ctx: Context) -> str:
    """Remove the tool named ``name`` and announce the change."""
    server.remove_tool(name)
    await ctx.notify_tools_changed()
    return name


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--http":
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        server.run()
