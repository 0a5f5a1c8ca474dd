"""Layer 4: MCP client side — tools imported from MCP servers (``client``, ``provider``, ``runtime``).

A service below the API: it never imports ``toolnexus.api``, the server side (``toolnexus.mcp_server``) or a surface.
Names are imported on first use, so importing the package does not load the MCP SDK.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
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
    """Import an exported name's module on first use."""
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'toolnexus.mcp' has no attribute {name!r}")
