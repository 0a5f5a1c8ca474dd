"""Tool handlers of the MCP server: ``tools/list``, ``tools/call`` (tools, ``tools.search``, missions), and
``logging/setLevel`` for the logs calls forward.

``tools/list`` and ``tools.search`` leave out the tools a kill switch stops; a call naming one is still made,
and refused by the switch with its reason (a recorded decision).

Every call runs through the Nexus's invoker (or ``arun`` for a mission): the same validation, gate, runtime,
tracking and cancellation as a mission step. A transport may put a per-request check under
:data:`~toolnexus.mcp_server.requests.AUTHORIZE_SCOPE_KEY` (the Jupyter handler does): the gate applies it
(:func:`toolnexus.governance.authorizing`), so its refusal is a recorded gate decision.
"""

from __future__ import annotations

import contextvars
from pathlib import Path
from typing import Any

import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.shared.exceptions import MCPError

from toolnexus.core.call import ToolCall
from toolnexus.core.caller import Caller, reset_identity, use_identity
from toolnexus.core.context import reset_channel, use_channel
from toolnexus.core.diagnostics import DiagnosticError, did_you_mean
from toolnexus.core.errors import ErrorKind, ToolError
from toolnexus.core.events import Event, RunStarted, StepFinished
from toolnexus.core.ids import new_id
from toolnexus.core.spec import ToolSpec
from toolnexus.mcp_server.catalog import Entry, EntryKind, InvalidCursor
from toolnexus.mcp_server.channel import McpChannel, answers_of, open_logger_of, request_threshold
from toolnexus.mcp_server.meta import search_spec
from toolnexus.mcp_server.requests import authorizer_of, caller_of, connection_of, progress_token
from toolnexus.mcp_server.results import call_result, error_result, run_result
from toolnexus.mcp_server.run_channel import RunChannel
from toolnexus.mcp_server.toolsets import ToolsetCatalogs
from toolnexus.mission import load_mission

# The channel of the mission run in this task (and the engine tasks it starts): its events move its progress.
_run: contextvars.ContextVar[RunChannel | None] = contextvars.ContextVar("toolnexus_mcp_run", default=None)


class ToolHandlers(ToolsetCatalogs):
    """``tools/list``, ``tools/call`` and ``logging/setLevel`` (see the module docstring)."""

    page_size: int
    _log_levels: dict[int, str]  # id(connection) → the level its client set (2025-11-25)

    async def _list_tools(self, ctx: ServerRequestContext[Any, Any],
                          params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
        toolset, view = self._view_of(ctx)
        listing = self.listing(toolset, view.tenant)  # less the tools a kill switch stops
        if view not in self._listed:
            self._listed[view] = listing.fingerprint()
        try:
            entries, cursor = listing.page(params.cursor if params else None, self.page_size)
        except InvalidCursor as exc:
            raise MCPError(types.INVALID_PARAMS, str(exc)) from None
        # The model, not a dict: it fills what 2026-07-28 requires (ttlMs, cacheScope, resultType).
        return types.ListToolsResult.model_validate(
            {"tools": [e.definition() for e in entries], "nextCursor": cursor})

    async def _call_tool(self, ctx: ServerRequestContext[Any, Any],
                         params: types.CallToolRequestParams) -> types.CallToolResult | types.InputRequiredResult:
        toolset = self._toolset_of(ctx)
        catalog = self.catalog(toolset)  # a killed tool too: the switch refuses it, saying why
        entry = catalog.by_name.get(params.name)
        if entry is None:
            hint = did_you_mean(params.name, catalog.names) if len(catalog.names) <= 5000 else None
            raise MCPError(types.INVALID_PARAMS, f"Unknown tool: {params.name}",
                           {"tool": params.name, **({"hint": hint} if hint else {})})
        arguments = dict(params.arguments or {})
        # The transport's check (Jupyter's authorizer) is the gate's to apply: its refusal is recorded like any.
        with authorizer_of(ctx):
            if entry.kind is EntryKind.META:  # answered by the invoker too: validated, gated and recorded
                listed = self.listing(toolset, caller_of(ctx, self.caller).tenant).tool_names  # finds no killed tool
                return await self._invoke(ctx, search_spec(self.nexus.registry, toolset, listed), arguments, params)
            if entry.kind is EntryKind.MISSION:  # each step's call is decided by the gate
                return await self._run_mission(ctx, entry, arguments, params)
            return await self._invoke(ctx, entry.spec, arguments, params)

    async def _set_logging_level(self, ctx: ServerRequestContext[Any, Any],
                                 params: types.SetLevelRequestParams) -> types.EmptyResult:
        """``logging/setLevel`` (2025-11-25): the level of the log records this connection's calls forward."""
        connection = connection_of(ctx)
        key = id(connection)
        if connection is not None and key not in self._log_levels:
            connection.exit_stack.callback(self._log_levels.pop, key, None)
        self._log_levels[key] = params.level
        return types.EmptyResult()

    async def _invoke(self, ctx: ServerRequestContext[Any, Any], spec: ToolSpec, arguments: dict[str, Any],
                      params: types.CallToolRequestParams) -> types.CallToolResult | types.InputRequiredResult:
        call_id = new_id("call-")  # a call over MCP is its own correlation
        call = ToolCall(id=call_id, tool=spec.name, version=spec.version, arguments=arguments, origin="mcp",
                        caller=caller_of(ctx, self.caller), correlation_id=call_id)
        channel = self._channel(ctx, params)
        if channel.log_threshold is not None:
            open_logger_of(spec)
        channel.start(f"{spec.ref} started")
        token, identity = use_channel(channel), use_identity(call.caller, call.correlation_id)
        try:
            result = await self.nexus.invoker.invoke(call, spec)
        except BaseException:
            channel.abort()
            raise
        finally:
            reset_identity(identity)
            reset_channel(token)
        if not channel.reported:  # the tool said nothing of its progress
            channel.progress(1.0, 1.0, f"{spec.ref} {'failed' if result.error else 'finished'}")
        asked = await channel.finish()  # the tool asked a stateless client: it answers, then calls again
        return asked if asked is not None else call_result(result, channel.warnings)

    def _channel(self, ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams) -> McpChannel:
        """The way back to the client of this ``tools/call``: progress if it asked, logs at its level, its answers."""
        return McpChannel(ctx, progress=progress_token(ctx) is not None,
                          log_threshold=request_threshold(ctx, self._log_levels.get(id(connection_of(ctx)))),
                          answers=answers_of(params))

    async def _run_mission(self, ctx: ServerRequestContext[Any, Any], entry: Entry, arguments: dict[str, Any],
                           params: types.CallToolRequestParams) -> types.CallToolResult | types.InputRequiredResult:
        path = Path(entry.spec.source or "")
        try:
            loaded = load_mission(path)
        except DiagnosticError as exc:
            return error_result(ToolError(kind=ErrorKind.RUNTIME_ERROR, message=exc.diagnostics[0].message))
        # The run's progress and its steps' own progress, logs and questions go to the client as a tool's do.
        mcp = self._channel(ctx, params)
        run = RunChannel(mcp)
        token, reset = use_channel(run), _run.set(run)
        try:
            result = await self._arun(loaded, arguments, entry, caller_of(ctx, self.caller))
        except BaseException:
            mcp.abort()
            raise
        finally:
            _run.reset(reset)
            reset_channel(token)
        asked = await mcp.finish()  # a step asked a stateless client: it answers, then calls the mission again
        if asked is not None:
            return asked
        if mcp.warnings:  # what the gate told the steps' caller, as a tool call's result carries it
            result = result.model_copy(update={"meta": {**(result.meta or {}), "toolnexus/warnings": mcp.warnings}})
        return result

    async def _arun(self, loaded: Any, arguments: dict[str, Any], entry: Entry,
                    caller: Caller) -> types.CallToolResult:
        try:
            result = await self.nexus.arun(loaded, arguments, caller=caller)
        except DiagnosticError as exc:
            first = exc.diagnostics[0]
            return error_result(ToolError(
                kind=ErrorKind.INVALID_ARGUMENTS,
                message=f"invalid arguments for {entry.name}: {first.message}",
                details={"errors": [{"message": d.message, "hint": d.hint} for d in exc.diagnostics]}))
        return run_result(result)



class RunProgressSink:
    """The server's subscription to the engine's events: a mission run's progress (``RunStarted`` and each
    ``StepFinished``, what :meth:`RunChannel.feed` reads), so the bus builds no other event for it."""

    event_types = (RunStarted, StepFinished)

    def __call__(self, event: Event) -> None:
        """Feed ``event`` to the channel of the mission run in this task, if any."""
        run = _run.get()
        if run is not None:
            run.feed(event)
