"""The MCP server: a workspace's registry (and missions) served through the official ``mcp`` SDK.

:class:`ToolServer` builds an SDK low-level ``Server`` whose handlers read a :class:`Catalog` (paged,
toolset-filtered) and run every call through the workspace's :class:`~toolnexus.api.Nexus` — the same
validation, gate, runtime, tracking and cancellation as a mission step. The same server is served over
Streamable HTTP (both protocol eras: the 2025-11-25 handshake with sessions and the stateless
2026-07-28 exchange; see :meth:`ToolServer.http_app`) and over stdio (:mod:`toolnexus.mcp.stdio`).

Where the SDK and the specification differ, the specification wins: an unknown tool is the JSON-RPC
error ``-32602``, never an ``isError`` result.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import logging
import threading
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import anyio
import mcp_types as types
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.lowlevel import NotificationOptions, Server
from mcp.server.models import InitializationOptions
from mcp.server.request_state import RequestStateBoundary, RequestStateSecurity
from mcp.server.subscriptions import InMemorySubscriptionBus, ListenHandler, ToolsListChanged
from mcp.server.transport_security import TransportSecuritySettings
from mcp.shared.exceptions import MCPDeprecationWarning, MCPError
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from toolnexus import __version__
from toolnexus.core.call import ToolCall
from toolnexus.core.context import reset_channel, use_channel
from toolnexus.core.diagnostics import DiagnosticError, did_you_mean
from toolnexus.core.errors import ErrorKind, ToolError, ToolFailure
from toolnexus.core.events import Event
from toolnexus.core.spec import ToolSpec
from toolnexus.mcp import builtins
from toolnexus.mcp.catalog import Catalog, Entry, EntryKind, InvalidCursor
from toolnexus.mcp.channel import McpChannel, answers_of, install_log_forwarding, open_logger_of, request_threshold
from toolnexus.mcp.library import Library, complete, prompt_messages, resource_contents
from toolnexus.mcp.meta import SEARCH_SPEC, search_spec
from toolnexus.mcp.missions import MissionFolder
from toolnexus.mcp.results import call_result, error_result, run_result
from toolnexus.mcp.run_channel import RunChannel
from toolnexus.mcp.selection import BadSelection, UnknownToolset, describe_error, toolset_from_query
from toolnexus.mission import load_mission
from toolnexus.registry.toolsets import ALL_TOOLS, Toolset

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from toolnexus.api import Nexus

log = logging.getLogger("toolnexus.mcp")

PAGE_SIZE = 100
DEBOUNCE = 0.05
# Scope key under which a transport (the Jupyter handler) puts a per-request authorisation check.
AUTHORIZE_SCOPE_KEY = "toolnexus.authorize"
Authorize = Callable[[ToolSpec], Awaitable[bool] | bool]

# The channel of the mission run in this task (and the engine tasks it starts): its events move its progress.
_run: contextvars.ContextVar[RunChannel | None] = contextvars.ContextVar("toolnexus_mcp_run", default=None)


class _Server(Server[Any]):
    """The SDK's low-level server, advertising ``tools.listChanged`` on every handshake.

    The streamable-HTTP session manager builds initialisation options itself, without notification
    options; this is the one place both transports read them from.
    """

    def create_initialization_options(self, notification_options: NotificationOptions | None = None,
                                      experimental_capabilities: dict[str, dict[str, Any]] | None = None,
                                      extensions: dict[str, dict[str, Any]] | None = None) -> InitializationOptions:
        return super().create_initialization_options(notification_options or NotificationOptions(tools_changed=True),
                                                     experimental_capabilities, extensions)


def _progress_token(ctx: ServerRequestContext[Any, Any]) -> Any:
    meta = ctx.meta or {}
    return meta.get("progress_token", meta.get("progressToken"))  # type: ignore[call-overload]


def _connection_of(ctx: ServerRequestContext[Any, Any]) -> Any:
    # SDK 2.3 hands low-level handlers no public handle on the connection, and list_changed outside a
    # request has to go out on it (the standalone stream). Read defensively: None means "not tracked".
    return getattr(ctx.session, "_connection", None)


class ToolServer:
    """Serves a Nexus's tools and missions over MCP (see the module docstring).

    ``toolset`` is what a client gets unless its request selects another (``?toolset=NAME``);
    ``missions_dir`` (default ``<workspace>/missions``) holds the missions served as ``mission.<name>``.
    """

    def __init__(self, nexus: Nexus, *, toolset: Toolset | None = None, missions_dir: str | Path | None = None,
                 page_size: int = PAGE_SIZE, debounce: float = DEBOUNCE, name: str = "toolnexus") -> None:
        self.nexus = nexus
        self.toolset = toolset or nexus.settings.toolsets.get("all", ALL_TOOLS)
        folder = Path(missions_dir) if missions_dir is not None else nexus.workspace / "missions"
        self.missions = MissionFolder(folder if folder.is_absolute() else nexus.workspace / folder, nexus.compile)
        self.page_size = page_size
        self.debounce = debounce
        self.meta_tools: list[ToolSpec] = [SEARCH_SPEC]
        self.bus = InMemorySubscriptionBus()
        install_log_forwarding()
        with warnings.catch_warnings():
            # The SDK warns that logging/setLevel is gone at 2026-07-28; 2025-11-25 clients still use it.
            warnings.simplefilter("ignore", MCPDeprecationWarning)
            self.server = self._build_server(name)
        self.server.middleware.append(self._track_connection)
        # Input-required rounds (2026-07-28) carry earlier answers in requestState: sealed and verified by the
        # SDK under a key held by this process (a tampered or foreign state is -32602).
        self.server.middleware.append(RequestStateBoundary(RequestStateSecurity.ephemeral(), default_audience=name))
        self._log_levels: dict[int, str] = {}  # id(connection) → the level its client set (2025-11-25)
        self.library = Library()  # @resource / @prompt functions (see load)
        self._subscriptions: dict[int, tuple[Any, str, set[str]]] = {}  # id(connection) → (it, toolset key, uris)
        self._catalogs: dict[str, tuple[tuple[int, int], Catalog]] = {}
        self._toolsets: dict[str, Toolset] = {}
        self._keys: dict[int, tuple[Toolset, str]] = {}
        self._by_query: dict[bytes, Toolset] = {}
        self._connections: dict[int, tuple[Any, str]] = {}  # id(connection) → (connection, toolset key)
        self._listed: dict[str, str] = {}  # toolset key → fingerprint clients were last told about
        self._generation_told = nexus.registry.generation
        self._wake: anyio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._unsubscribe_events = nexus.bus.subscribe(self._on_event)
        self._unsubscribe_registry = nexus.registry.subscribe(self._on_registry_change)

    def _build_server(self, name: str) -> _Server:
        return _Server(
            name, version=__version__, title="toolnexus",
            instructions="Tools of a toolnexus workspace. Call tools.search to find a tool by what it does.",
            lifespan=self._lifespan,
            get_tool_input_schema=self._input_schema,
            on_list_tools=self._list_tools,
            on_call_tool=self._call_tool,
            on_subscriptions_listen=ListenHandler(self.bus),
            on_set_logging_level=self._set_logging_level,
            on_list_resources=self._list_resources,
            on_list_resource_templates=self._list_resource_templates,
            on_read_resource=self._read_resource,
            on_subscribe_resource=self._subscribe,
            on_unsubscribe_resource=self._unsubscribe,
            on_list_prompts=self._list_prompts,
            on_get_prompt=self._get_prompt,
            on_completion=self._complete,
        )

    def load(self, module: str | ModuleType) -> int:
        """Serve the ``@resource`` and ``@prompt`` functions of ``module`` (:mod:`toolnexus.mcp.library`)."""
        return self.library.load(module)

    def close(self) -> None:
        """Stop listening to the registry and the event bus (the Nexus stays open)."""
        self._unsubscribe_registry()
        self._unsubscribe_events()

    # -- transports ----------------------------------------------------------------------------

    def http_app(self, path: str = "/mcp") -> Starlette:
        """The SDK's Streamable HTTP ASGI app at ``path``, both protocol eras on one endpoint.

        DNS-rebinding checks are the host's business: the Jupyter handler checks Host and Origin
        before a request gets here (the SDK's own check would only know of localhost).
        """
        return self.server.streamable_http_app(
            streamable_http_path=path,
            transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        )

    # -- catalog -------------------------------------------------------------------------------

    def catalog(self, toolset: Toolset | None = None) -> Catalog:
        """The tools ``toolset`` offers now (rebuilt only after the registry or the missions changed)."""
        toolset = toolset or self.toolset
        key = self._key(toolset)
        generation = self.nexus.registry.generation
        missions = self.missions.tools(generation)
        stamp = (generation, id(missions))
        cached = self._catalogs.get(key)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        catalog = Catalog.build(self.nexus.registry.list(), [m.spec for m in missions.values()], self.meta_tools,
                                toolset)
        self._catalogs[key] = (stamp, catalog)
        return catalog

    def _key(self, toolset: Toolset) -> str:
        # Toolsets in use are long-lived objects (the default, one per query string): key them once.
        known = self._keys.get(id(toolset))
        if known is not None and known[0] is toolset:
            return known[1]
        key = toolset.model_dump_json()
        self._toolsets.setdefault(key, toolset)
        self._keys[id(toolset)] = (toolset, key)
        return key

    def toolset_for(self, query: Mapping[str, Any] | list[tuple[str, str]]) -> Toolset:
        """The toolset a request's query selects (UnknownToolset or BadSelection if it cannot be)."""
        items = list(query.items()) if isinstance(query, Mapping) else list(query)
        if not items:
            return self.toolset
        return toolset_from_query(self.nexus.settings.toolsets, items, self.nexus.registry.list())

    def _toolset_of(self, ctx: ServerRequestContext[Any, Any]) -> Toolset:
        request = ctx.request
        scope = getattr(request, "scope", None)
        if not scope or not scope.get("query_string"):
            return self.toolset
        raw: bytes = scope["query_string"]
        cached = self._by_query.get(raw)
        if cached is None:
            try:
                cached = self.toolset_for(request.query_params.multi_items())
            except (UnknownToolset, BadSelection) as exc:
                raise MCPError(types.INVALID_PARAMS, describe_error(exc)) from None
            if len(self._by_query) >= 256:  # clients choose query strings: keep the memo bounded
                self._by_query.clear()
            self._by_query[raw] = cached
        return cached

    def _input_schema(self, name: str) -> Mapping[str, Any] | None:
        entry = self.catalog(ALL_TOOLS).by_name.get(name)
        return entry.definition()["inputSchema"] if entry is not None else None

    # -- handlers ------------------------------------------------------------------------------

    async def _list_tools(self, ctx: ServerRequestContext[Any, Any],
                          params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
        toolset = self._toolset_of(ctx)
        catalog = self.catalog(toolset)
        key = self._key(toolset)
        if key not in self._listed:
            self._listed[key] = catalog.fingerprint()
        try:
            entries, cursor = catalog.page(params.cursor if params else None, self.page_size)
        except InvalidCursor as exc:
            raise MCPError(types.INVALID_PARAMS, str(exc)) from None
        # The model, not a dict: it fills what 2026-07-28 requires (ttlMs, cacheScope, resultType).
        return types.ListToolsResult.model_validate(
            {"tools": [e.definition() for e in entries], "nextCursor": cursor})

    async def _call_tool(self, ctx: ServerRequestContext[Any, Any],
                         params: types.CallToolRequestParams) -> types.CallToolResult | types.InputRequiredResult:
        toolset = self._toolset_of(ctx)
        catalog = self.catalog(toolset)
        entry = catalog.by_name.get(params.name)
        if entry is None:
            hint = did_you_mean(params.name, catalog.names) if len(catalog.names) <= 5000 else None
            raise MCPError(types.INVALID_PARAMS, f"Unknown tool: {params.name}",
                           {"tool": params.name, **({"hint": hint} if hint else {})})
        denied = await self._authorize(ctx, entry.spec)
        if denied is not None:
            return error_result(denied)
        arguments = dict(params.arguments or {})
        if entry.kind is EntryKind.META:  # answered by the invoker too: validated, gated and recorded
            return await self._invoke(ctx, search_spec(self.nexus.registry, toolset, catalog.tool_names),
                                      arguments, params)
        if entry.kind is EntryKind.MISSION:
            return await self._run_mission(ctx, entry, arguments, params)
        return await self._invoke(ctx, entry.spec, arguments, params)

    async def _authorize(self, ctx: ServerRequestContext[Any, Any], spec: ToolSpec) -> ToolError | None:
        scope = getattr(ctx.request, "scope", None)
        check = scope.get(AUTHORIZE_SCOPE_KEY) if scope else None
        if check is None:
            return None
        verdict = check(spec)
        if not isinstance(verdict, bool):
            verdict = await verdict
        if verdict:
            return None
        return ToolError(kind=ErrorKind.DENIED, message=f"this user may not call {spec.name}",
                         details={"policy": "jupyter-authorizer"})

    async def _set_logging_level(self, ctx: ServerRequestContext[Any, Any],
                                 params: types.SetLevelRequestParams) -> types.EmptyResult:
        """``logging/setLevel`` (2025-11-25): the level of the log records this connection's calls forward."""
        connection = _connection_of(ctx)
        key = id(connection)
        if connection is not None and key not in self._log_levels:
            connection.exit_stack.callback(self._log_levels.pop, key, None)
        self._log_levels[key] = params.level
        return types.EmptyResult()

    async def _invoke(self, ctx: ServerRequestContext[Any, Any], spec: ToolSpec, arguments: dict[str, Any],
                      params: types.CallToolRequestParams) -> types.CallToolResult | types.InputRequiredResult:
        call = ToolCall(tool=spec.name, version=spec.version, arguments=arguments, origin="mcp")
        channel = self._channel(ctx, params)
        if channel.log_threshold is not None:
            open_logger_of(spec)
        channel.start(f"{spec.ref} started")
        token = use_channel(channel)
        try:
            result = await self.nexus.invoker.invoke(call, spec)
        except BaseException:
            channel.abort()
            raise
        finally:
            reset_channel(token)
        if not channel.reported:  # the tool said nothing of its progress
            channel.progress(1.0, 1.0, f"{spec.ref} {'failed' if result.error else 'finished'}")
        asked = await channel.finish()  # the tool asked a stateless client: it answers, then calls again
        return asked if asked is not None else call_result(result)

    def _channel(self, ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams) -> McpChannel:
        """The way back to the client of this ``tools/call``: progress if it asked, logs at its level, its answers."""
        return McpChannel(ctx, progress=_progress_token(ctx) is not None,
                          log_threshold=request_threshold(ctx, self._log_levels.get(id(_connection_of(ctx)))),
                          answers=answers_of(params))

    # -- resources, prompts, completion ----------------------------------------------------------

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
        connection = _connection_of(ctx)
        key = id(connection)
        if key not in self._subscriptions:
            self._subscriptions[key] = (connection, self._key(self._toolset_of(ctx)), set())
            if connection is not None:
                connection.exit_stack.callback(self._subscriptions.pop, key, None)
        self._subscriptions[key][2].add(str(params.uri))
        return types.EmptyResult()

    async def _unsubscribe(self, ctx: ServerRequestContext[Any, Any],
                           params: types.UnsubscribeRequestParams) -> types.EmptyResult:
        held = self._subscriptions.get(id(_connection_of(ctx)))
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
            result = await self._arun(loaded, arguments, entry)
        except BaseException:
            mcp.abort()
            raise
        finally:
            _run.reset(reset)
            reset_channel(token)
        asked = await mcp.finish()  # a step asked a stateless client: it answers, then calls the mission again
        return asked if asked is not None else result

    async def _arun(self, loaded: Any, arguments: dict[str, Any], entry: Entry) -> types.CallToolResult:
        try:
            result = await self.nexus.arun(loaded, arguments)
        except DiagnosticError as exc:
            first = exc.diagnostics[0]
            return error_result(ToolError(
                kind=ErrorKind.INVALID_ARGUMENTS,
                message=f"invalid arguments for {entry.name}: {first.message}",
                details={"errors": [{"message": d.message, "hint": d.hint} for d in exc.diagnostics]}))
        return run_result(result)

    def _on_event(self, event: Event) -> None:
        run = _run.get()
        if run is not None:
            run.feed(event)

    # -- list_changed --------------------------------------------------------------------------

    async def _track_connection(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        """Remember each handshake-era connection (and its toolset) to tell it when its tool list changes."""
        result = await call_next(ctx)
        connection = _connection_of(ctx)
        if connection is not None and id(connection) not in self._connections \
                and connection.protocol_version not in MODERN_PROTOCOL_VERSIONS:
            try:
                toolset = self._toolset_of(ctx)
            except MCPError:
                return result
            key = self._key(toolset)
            if key not in self._listed:
                self._listed[key] = self.catalog(toolset).fingerprint()
            self._connections[id(connection)] = (connection, key)
            connection.exit_stack.callback(self._connections.pop, id(connection), None)
        return result

    def _on_registry_change(self, event: str, spec: ToolSpec) -> None:
        # Any thread may change the registry; the notifier runs on the server's event loop. From another
        # thread the wake-up is handed over without waiting, so a registering thread never blocks on us.
        wake, loop = self._wake, self._loop
        if wake is None or loop is None:
            return
        if threading.get_ident() == self._loop_thread:
            wake.set()
        else:
            with suppress(RuntimeError):  # the loop has closed: nobody is left to notify
                loop.call_soon_threadsafe(wake.set)

    @asynccontextmanager
    async def _lifespan(self, server: Server[Any]) -> AsyncIterator[dict[str, Any]]:
        self._loop = asyncio.get_running_loop()  # Jupyter and `anyio.run` both serve on asyncio
        self._loop_thread = threading.get_ident()
        self._wake = anyio.Event()
        async with anyio.create_task_group() as group:
            group.start_soon(self._notify_changes)
            try:
                yield {}
            finally:
                self._wake = None
                group.cancel_scope.cancel()

    async def _notify_changes(self) -> None:
        while self._wake is not None:
            await self._wake.wait()
            # A burst of changes (a provider registering hundreds of tools) becomes one notification.
            await anyio.sleep(self.debounce)
            self._wake = anyio.Event()
            try:
                await self.notify_changes()
            except Exception:  # a notifier bug must not stop later notifications
                log.exception("sending tools/list_changed failed")

    async def notify_changes(self) -> None:
        """Tell every client whose tool list changed: handshake-era sessions on their connection,
        2026-07-28 clients on their ``subscriptions/listen`` streams."""
        changed: set[str] = set()
        for key in {key for _, key in self._connections.values()} | set(self._listed):
            fingerprint = self.catalog(self._toolsets[key]).fingerprint()
            if self._listed.get(key) != fingerprint:
                self._listed[key] = fingerprint
                changed.add(key)
        for connection, key in list(self._connections.values()):
            if key in changed and connection.initialized.is_set():
                await connection.send_tool_list_changed()
        for connection, key, uris in list(self._subscriptions.values()):
            if key in changed and connection is not None:
                for uri in sorted(u for u in uris if u.startswith(builtins.TOOLS)):
                    await connection.send_resource_updated(uri)
        generation = self.nexus.registry.generation
        if generation != self._generation_told:
            self._generation_told = generation
            await self.bus.publish(ToolsListChanged())



async def _call_user(fn: Callable[..., Any], arguments: Mapping[str, Any]) -> Any:
    """An author's resource or prompt function: async on the loop, sync in a worker thread."""
    if inspect.iscoroutinefunction(fn):
        return await fn(**arguments)
    return await anyio.to_thread.run_sync(lambda: fn(**arguments))
