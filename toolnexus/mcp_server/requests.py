"""What an MCP request carries that the SDK hands low-level handlers no accessor for: its progress token, its
connection, the transport's authorisation check (applied by the gate, :func:`authorizer_of`) and the caller the
transport identified (:func:`caller_of`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from mcp.server.context import ServerRequestContext

from toolnexus.core.caller import Caller
from toolnexus.governance import CallPlan, authorizing


def progress_token(ctx: ServerRequestContext[Any, Any]) -> Any:
    """The progress token the client sent with the request (None: it wants no progress)."""
    meta = ctx.meta or {}
    return meta.get("progress_token", meta.get("progressToken"))  # type: ignore[call-overload]


def connection_of(ctx: ServerRequestContext[Any, Any]) -> Any:
    """The connection the request came on (handshake era), or None when it is not tracked."""
    # SDK 2.3 hands low-level handlers no public handle on the connection, and list_changed outside a
    # request has to go out on it (the standalone stream). Read defensively: None means "not tracked".
    return getattr(ctx.session, "_connection", None)


# Scope key under which a transport (the Jupyter handler) puts a per-request authorisation check.
AUTHORIZE_SCOPE_KEY = "toolnexus.authorize"
Authorize = Callable[[CallPlan], Awaitable[bool] | bool]
AUTHORIZER = "jupyter-authorizer"  # the name the gate records the transport's decisions under


def authorizer_of(ctx: ServerRequestContext[Any, Any]) -> AbstractContextManager[None]:
    """The scope in which the gate also asks the transport's check (the Jupyter authorizer) about the request's
    calls, prompts and resource reads; no scope when the transport put none (stdio)."""
    scope = getattr(ctx.request, "scope", None)
    check: Authorize | None = scope.get(AUTHORIZE_SCOPE_KEY) if scope else None
    return nullcontext() if check is None else authorizing(check, decider=AUTHORIZER)


# Scope key under which a transport (the Jupyter handler) puts the caller it identified: a
# :class:`~toolnexus.core.caller.Caller` (the Jupyter user, surface ``mcp``).
CALLER_SCOPE_KEY = "toolnexus.caller"


def caller_of(ctx: ServerRequestContext[Any, Any], default: Caller) -> Caller:
    """The caller of the request: the one the transport identified (the Jupyter user), else ``default`` (the
    server's: the OS user it runs as, over stdio)."""
    scope = getattr(ctx.request, "scope", None)
    caller: Caller | None = scope.get(CALLER_SCOPE_KEY) if scope else None
    return caller if caller is not None else default
