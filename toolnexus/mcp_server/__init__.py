"""Layer 6: the MCP server — a surface serving a Nexus's tools, resources and prompts to agents.

One server (``ToolServer``) on two transports: stdio (``serve_stdio``) and the Jupyter endpoint
(``toolnexus.jupyter``). Names are imported on first use, so importing the package does not load the MCP SDK.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    "ToolServer": "toolnexus.mcp_server.server",
    "serve_stdio": "toolnexus.mcp_server.stdio",
    "Catalog": "toolnexus.mcp_server.catalog",
    "UnknownToolset": "toolnexus.mcp_server.selection",
    "select_toolset": "toolnexus.mcp_server.selection",
    "McpChannel": "toolnexus.mcp_server.channel",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    """Import an exported name's module on first use."""
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'toolnexus.mcp_server' has no attribute {name!r}")
