"""Layer 4: MCP — the registry served to agents (``server``, ``stdio``) and tools imported from MCP servers.

Names are imported on first use, so importing one half does not load the other.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    "ToolServer": "toolnexus.mcp.server",
    "serve_stdio": "toolnexus.mcp.stdio",
    "Catalog": "toolnexus.mcp.catalog",
    "UnknownToolset": "toolnexus.mcp.selection",
    "select_toolset": "toolnexus.mcp.selection",
    "McpChannel": "toolnexus.mcp.channel",
    "McpProvider": "toolnexus.mcp.provider",
    "spec_from_tool": "toolnexus.mcp.provider",
    "tier_of": "toolnexus.mcp.provider",
    "McpRuntime": "toolnexus.mcp.runtime",
    "reporting_progress": "toolnexus.mcp.runtime",
    "McpConnections": "toolnexus.mcp.client",
    "McpUnavailable": "toolnexus.mcp.client",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'toolnexus.mcp' has no attribute {name!r}")
