"""``toolnexus mcp serve --stdio``: the tool server on stdin/stdout, for desktop clients.

Stdout carries nothing but protocol. The SDK's ``stdio_server`` moves the wire to a private copy of
fd 1 and points fd 1 at stderr while it serves; the Nexus (and so every worker process) is created
only after that, so a tool that prints — in this process or in a worker — writes to stderr. The server
ends when stdin reaches EOF, cancelling calls still running (their sandboxes are killed).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from mcp.server.stdio import stdio_server

from toolnexus.api import Nexus
from toolnexus.mcp_server.selection import select_toolset
from toolnexus.mcp_server.server import ToolServer


async def serve_stdio(workspace: str | Path | None = None, *, toolset: str | None = None,
                      missions_dir: str | Path | None = None) -> None:
    """Serve the workspace's tools, resources and prompts over stdio until stdin closes."""
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    async with stdio_server() as (read_stream, write_stream):
        with Nexus(workspace) as nexus:
            server = ToolServer(nexus, toolset=select_toolset(nexus.settings.toolsets, toolset,
                                                               specs=nexus.registry.list()),
                                missions_dir=missions_dir)
            try:
                await server.server.run(read_stream, write_stream, server.server.create_initialization_options())
            finally:
                server.close()
