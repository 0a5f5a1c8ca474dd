"""What an MCP request carries that the SDK hands low-level handlers no accessor for."""

from __future__ import annotations

from typing import Any

from mcp.server.context import ServerRequestContext


def progress_token(ctx: ServerRequestContext[Any, Any]) -> Any:
    """The progress token the client sent with the request (None: it wants no progress)."""
    meta = ctx.meta or {}
    return meta.get("progress_token", meta.get("progressToken"))  # type: ignore[call-overload]


def connection_of(ctx: ServerRequestContext[Any, Any]) -> Any:
    """The connection the request came on (handshake era), or None when it is not tracked."""
    # SDK 2.3 hands low-level handlers no public handle on the connection, and list_changed outside a
    # request has to go out on it (the standalone stream). Read defensively: None means "not tracked".
    return getattr(ctx.session, "_connection", None)
