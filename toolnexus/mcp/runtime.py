"""The ``mcp`` runtime: runs a tool on the MCP server it came from.

The invocation path (gate, validation, limits, events) is the same as for every tool; this runtime
only carries the call to the server and its answer back: ``structuredContent`` as the output (else
the text content), ``isError`` as a :class:`ToolError`. A timeout or a cancelled caller cancels the
remote call (the SDK sends ``notifications/cancelled``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from toolnexus.core.call import ToolCall
from toolnexus.core.errors import ErrorKind, ToolError
from toolnexus.core.runtime import RuntimeOutcome
from toolnexus.core.spec import Limits, ToolSpec
from toolnexus.mcp.client import McpConnections, McpUnavailable, ProgressListener

if TYPE_CHECKING:
    import mcp_types as types

log = logging.getLogger("toolnexus.mcp")

# Who hears the progress a remote tool reports: set by a caller around its call (the MCP server passing
# progress on to its own client, a widget); unset, progress goes to the debug log.
progress_listener: ContextVar[ProgressListener | None] = ContextVar("toolnexus_mcp_progress_listener", default=None)


@contextmanager
def reporting_progress(listener: ProgressListener) -> Iterator[None]:
    """Within this block, calls of MCP tools made from this task report their servers' progress to
    ``listener(progress, total, message)`` — called on the caller's event loop; it may be async."""
    token = progress_listener.set(listener)
    try:
        yield
    finally:
        progress_listener.reset(token)


# JSON-RPC error codes that mean "your arguments (or the tool's name) are wrong", not "the tool failed".
_INVALID_PARAMS = -32602
_METHOD_NOT_FOUND = -32601


class McpRuntime:
    """Calls tools of configured MCP servers through :class:`McpConnections`."""

    name = "mcp"

    def __init__(self, connections: McpConnections) -> None:
        self.connections = connections

    async def invoke(self, spec: ToolSpec, call: ToolCall, limits: Limits) -> RuntimeOutcome:
        """Call the tool on its MCP server, within the call's limits."""
        from mcp.shared.exceptions import MCPError  # the SDK is loaded by the first call, not by a Nexus

        server, remote = spec.entry.server, spec.entry.remote_name
        if spec.entry.kind != "mcp" or not server or not remote:
            return RuntimeOutcome(error=ToolError(
                kind=ErrorKind.RUNTIME_ERROR, message=f"{spec.ref} is not a tool of an MCP server (a "
                f"{spec.entry.kind} tool); run it with its own runtime"))
        try:
            result = await self.connections.call(server, remote, call.arguments, _progress_for(spec, call))
        except McpUnavailable as exc:
            return RuntimeOutcome(error=ToolError(
                kind=ErrorKind.RUNTIME_ERROR, message=f"{spec.ref}: {exc}", retryable=True,
                details={"mcp_server": server, "reason": "unavailable"}))
        except MCPError as exc:
            kind = ErrorKind.INVALID_ARGUMENTS if exc.code == _INVALID_PARAMS else (
                ErrorKind.NOT_FOUND if exc.code == _METHOD_NOT_FOUND else ErrorKind.TOOL_ERROR)
            return RuntimeOutcome(error=ToolError(
                kind=kind, message=f"{spec.ref}: the MCP server answered with error {exc.code}: {exc.message}",
                details={"mcp_server": server, "code": exc.code}))
        except Exception as exc:  # e.g. a result that breaks the tool's own outputSchema (the SDK checks it)
            return RuntimeOutcome(error=ToolError(
                kind=ErrorKind.TOOL_ERROR, message=f"{spec.ref}: {type(exc).__name__}: {exc}",
                details={"mcp_server": server}))
        return outcome_of(result)

    async def aclose(self) -> None:
        """Close the connections to the MCP servers."""
        self.connections.close()

    def close(self) -> None:
        """Close the servers' sessions (``Nexus.close`` calls this)."""
        self.connections.close()


def outcome_of(result: types.CallToolResult) -> RuntimeOutcome:
    """A ``tools/call`` result as a RuntimeOutcome: errors are data, structured output preferred."""
    from mcp_types import TextContent

    if result.is_error:
        text = _text(result.content) or "the tool reported an error"
        return RuntimeOutcome(error=ToolError(kind=ErrorKind.TOOL_ERROR, message=text,
                                              details={"content": _blocks(result.content)}))
    if result.structured_content is not None:
        return RuntimeOutcome(output=result.structured_content)
    if all(isinstance(block, TextContent) for block in result.content):
        return RuntimeOutcome(output=_text(result.content))
    return RuntimeOutcome(output=_blocks(result.content))  # images, audio, resources: kept as MCP JSON


def _text(content: list[Any]) -> str:
    from mcp_types import TextContent

    return "\n".join(block.text for block in content if isinstance(block, TextContent))


def _blocks(content: list[Any]) -> list[dict[str, Any]]:
    return [block.model_dump(by_alias=True, exclude_none=True, mode="json") for block in content]


def _progress_for(spec: ToolSpec, call: ToolCall) -> ProgressListener | None:
    """What the connection thread calls with the server's progress: it hands each report to the caller's
    listener on the caller's own loop (in order), or logs it; None (no progress asked for) when nobody hears."""
    listener = progress_listener.get()
    loop = _running_asyncio_loop()
    if listener is None or loop is None:
        if not log.isEnabledFor(logging.DEBUG):
            return None

        def log_it(value: float, total: float | None, message: str | None) -> None:
            log.debug("%s (call %s): progress %s/%s %s", spec.ref, call.id, value, total, message or "")

        return log_it
    pending: set[asyncio.Task[Any]] = set()

    def deliver(value: float, total: float | None, message: str | None) -> None:
        try:
            outcome = listener(value, total, message)
        except Exception as exc:  # a listener's bug must not fail the call it observes
            log.warning("progress listener failed: %s: %s", type(exc).__name__, exc)
            return
        if outcome is not None:
            task = asyncio.ensure_future(outcome)
            pending.add(task)  # held until done: the loop keeps only weak references to tasks
            task.add_done_callback(pending.discard)

    def forward(value: float, total: float | None, message: str | None) -> None:
        loop.call_soon_threadsafe(deliver, value, total, message)

    return forward


def _running_asyncio_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
