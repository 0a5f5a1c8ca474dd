"""Resource, prompt and completion handlers of the MCP server.

Built-in resources and prompts (tool cards, missions, ``mission-step``: :mod:`toolnexus.mcp_server.builtins`) and
the author's ``@resource`` / ``@prompt`` functions (:mod:`toolnexus.mcp_server.library`). An author's function
runs only once the gate allows it (subject ``resource`` or ``prompt``, with the transport's check if any).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any, Literal

import anyio
import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.shared.exceptions import MCPError

from toolnexus.core.call import ToolCall
from toolnexus.core.caller import Caller
from toolnexus.core.context import reset_channel, use_channel
from toolnexus.core.diagnostics import did_you_mean
from toolnexus.core.errors import ToolFailure
from toolnexus.governance import CallPlan
from toolnexus.mcp_server import builtins
from toolnexus.mcp_server.channel import McpChannel, answers_of
from toolnexus.mcp_server.library import Library, complete, prompt_messages, resource_contents
from toolnexus.mcp_server.requests import authorizer_of, caller_of, connection_of
from toolnexus.mcp_server.toolsets import ToolsetCatalogs


class ResourceHandlers(ToolsetCatalogs):
    """``resources/*``, ``prompts/*`` and ``completion/complete``."""

    library: Library
    caller: Caller  # the caller of a request whose transport identified none (stdio: the OS user)

    async def _decide(self, ctx: ServerRequestContext[Any, Any], subject: Literal["prompt", "resource"], name: str,
                      arguments: dict[str, Any]) -> None:
        """Ask the gate (with the transport's check, if any) before an author's function runs; refused, the
        request is an MCP error naming the prompt or resource and the reason."""
        plan = CallPlan(call=ToolCall(tool=name, arguments=arguments, origin="mcp", caller=caller_of(ctx, self.caller)),
                        subject=subject)
        with authorizer_of(ctx):
            decision = await self.nexus.governance.decide(plan)
        if not decision.allowed:
            raise MCPError(types.INVALID_REQUEST, f"{subject} {name} refused by {decision.decider}: "
                           f"{decision.reason or 'not allowed'}", {subject: name, "decider": decision.decider})

    async def _list_resources(self, ctx: ServerRequestContext[Any, Any],
                              params: types.PaginatedRequestParams | None) -> types.ListResourcesResult:
        own = [types.Resource(uri=r.uri, name=r.name, description=r.description, mime_type=r.mime_type)
               for r in self.library.fixed()]
        missions = builtins.mission_resources(self.catalog(self._toolset_of(ctx)))
        return types.ListResourcesResult(resources=own + missions)

    async def _list_resource_templates(self, ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams
                                       | None) -> types.ListResourceTemplatesResult:
        own = [types.ResourceTemplate(uri_template=r.uri, name=r.name, description=r.description,
                                      mime_type=r.mime_type) for r in self.library.templates()]
        return types.ListResourceTemplatesResult(resource_templates=builtins.templates() + own)

    async def _read_resource(self, ctx: ServerRequestContext[Any, Any],
                             params: types.ReadResourceRequestParams) -> types.ReadResourceResult:
        uri = str(params.uri)
        contents: list[Any] | None = builtins.read(self.catalog(self._toolset_of(ctx)), uri)
        if contents is None:
            found = self.library.find(uri)
            if found is not None:
                definition, values = found
                await self._decide(ctx, "resource", uri, values)
                try:
                    value = await _call_user(definition.fn, values)
                except Exception as exc:  # the author's function failed: say so, as data about the request
                    raise MCPError(types.INTERNAL_ERROR, f"reading {uri} failed: {type(exc).__name__}: {exc}",
                                   {"uri": uri}) from None
                contents = resource_contents(uri, value, definition.mime_type)
        if not contents:  # SEP-2164: an unknown resource is -32602 with the URI, never empty contents
            raise MCPError(types.INVALID_PARAMS, "Resource not found", {"uri": uri})
        return types.ReadResourceResult(contents=contents)

    async def _subscribe(self, ctx: ServerRequestContext[Any, Any],
                         params: types.SubscribeRequestParams) -> types.EmptyResult:
        """``resources/subscribe`` (2025-11-25): tool cards are re-announced when the registry changes."""
        connection = connection_of(ctx)
        key = id(connection)
        if key not in self._subscriptions:
            self._subscriptions[key] = (connection, self._key(self._toolset_of(ctx)), set())
            if connection is not None:
                connection.exit_stack.callback(self._subscriptions.pop, key, None)
        self._subscriptions[key][2].add(str(params.uri))
        return types.EmptyResult()

    async def _unsubscribe(self, ctx: ServerRequestContext[Any, Any],
                           params: types.UnsubscribeRequestParams) -> types.EmptyResult:
        held = self._subscriptions.get(id(connection_of(ctx)))
        if held is not None:
            held[2].discard(str(params.uri))
        return types.EmptyResult()

    async def _list_prompts(self, ctx: ServerRequestContext[Any, Any],
                            params: types.PaginatedRequestParams | None) -> types.ListPromptsResult:
        own = [p.definition() for _, p in sorted(self.library.prompts.items())]
        return types.ListPromptsResult(prompts=[builtins.mission_step_prompt(), *own])

    async def _get_prompt(self, ctx: ServerRequestContext[Any, Any], params: types.GetPromptRequestParams
                          ) -> types.GetPromptResult | types.InputRequiredResult:
        arguments = dict(params.arguments or {})
        if params.name == builtins.MISSION_STEP:
            result = builtins.mission_step(self.catalog(self._toolset_of(ctx)), arguments)
            if isinstance(result, str):
                raise MCPError(types.INVALID_PARAMS, result, {"prompt": params.name})
            return result
        definition = self.library.prompts.get(params.name)
        if definition is None:
            names = [builtins.MISSION_STEP, *self.library.prompts]
            hint = did_you_mean(params.name, names)
            raise MCPError(types.INVALID_PARAMS, f"Unknown prompt: {params.name}",
                           {"prompt": params.name, **({"hint": hint} if hint else {})})
        missing = [a.name for a in definition.arguments() if a.required and a.name not in arguments]
        if missing:
            raise MCPError(types.INVALID_PARAMS, f"prompt {params.name} needs the argument(s) {', '.join(missing)}",
                           {"prompt": params.name, "missing": missing})
        await self._decide(ctx, "prompt", params.name, arguments)
        channel = McpChannel(ctx, progress=False, log_threshold=None, answers=answers_of(params))
        token = use_channel(channel)
        try:
            value = await _call_user(definition.fn, arguments)
            messages = prompt_messages(value)
        except TypeError as exc:  # arguments the function does not take
            raise MCPError(types.INVALID_PARAMS, f"prompt {params.name}: {exc}", {"prompt": params.name}) from None
        except ToolFailure as exc:
            missing = channel.missing_capability()
            if missing is not None:
                raise missing from None
            if channel.pending:  # the prompt asked a stateless client: it answers, then asks again
                return channel.input_required()
            raise MCPError(types.INVALID_PARAMS, f"prompt {params.name}: {exc}", {"prompt": params.name}) from None
        finally:
            reset_channel(token)
        return types.GetPromptResult(description=definition.description, messages=messages)

    async def _complete(self, ctx: ServerRequestContext[Any, Any],
                        params: types.CompleteRequestParams) -> types.CompleteResult:
        ref, argument, prefix = params.ref, params.argument.name, params.argument.value
        completers: dict[str, Any] = {}
        tool_names = lambda p: builtins.complete_tool_name(self.catalog(self._toolset_of(ctx)), p)  # noqa: E731
        if isinstance(ref, types.PromptReference):
            if ref.name == builtins.MISSION_STEP:
                completers = {"tool": tool_names}
            elif ref.name in self.library.prompts:
                completers = self.library.prompts[ref.name].complete
        else:
            if ref.uri in (builtins.TOOL_TEMPLATE, builtins.TOOL_LEVEL_TEMPLATE):
                completers = {"name": tool_names, "level": lambda p: [v for v in builtins.LEVELS if v.startswith(p)]}
            elif ref.uri in self.library.resources:
                completers = self.library.resources[ref.uri].complete
        return types.CompleteResult(completion=complete(completers, argument, prefix))


async def _call_user(fn: Callable[..., Any], arguments: Mapping[str, Any]) -> Any:
    """An author's resource or prompt function: async on the loop, sync in a worker thread."""
    if inspect.iscoroutinefunction(fn):
        return await fn(**arguments)
    return await anyio.to_thread.run_sync(lambda: fn(**arguments))
