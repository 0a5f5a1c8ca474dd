"""The MCP server: a workspace's registry (and missions) served through the official ``mcp`` SDK.

:class:`ToolServer` builds an SDK low-level ``Server`` whose handlers read a catalog (paged, toolset-filtered;
:mod:`~toolnexus.mcp_server.toolsets`) and run every call through the workspace's :class:`~toolnexus.api.Nexus` —
the same validation, gate, runtime, tracking and cancellation as a mission step. Its handlers come in groups of
one concept each: tools (:mod:`~toolnexus.mcp_server.tools`), resources, prompts and completion
(:mod:`~toolnexus.mcp_server.resources`) and change notices (:mod:`~toolnexus.mcp_server.notifications`).

One server, two transports: Streamable HTTP (both protocol eras: the 2025-11-25 handshake with sessions and the
stateless 2026-07-28 exchange; see :meth:`ToolServer.http_app`, served by the Jupyter extension) and stdio
(:mod:`toolnexus.mcp_server.stdio`). Both serve the same tools, resources and prompts.

Where the SDK and the specification differ, the specification wins: an unknown tool is the JSON-RPC
error ``-32602``, never an ``isError`` result.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import mcp_types as types
from mcp.server.lowlevel import NotificationOptions, Server
from mcp.server.models import InitializationOptions
from mcp.server.request_state import RequestStateBoundary, RequestStateSecurity
from mcp.server.subscriptions import InMemorySubscriptionBus, ListenHandler
from mcp.server.transport_security import TransportSecuritySettings
from mcp.shared.exceptions import MCPDeprecationWarning
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from toolnexus._version import __version__
from toolnexus.api import Nexus
from toolnexus.core.caller import Surface
from toolnexus.mcp_server.channel import install_log_forwarding
from toolnexus.mcp_server.library import Library
from toolnexus.mcp_server.meta import SEARCH_SPEC
from toolnexus.mcp_server.missions import MissionFolder
from toolnexus.mcp_server.notifications import ChangeNotifier
from toolnexus.mcp_server.requests import AUTHORIZE_SCOPE_KEY, CALLER_SCOPE_KEY, Authorize
from toolnexus.mcp_server.resources import ResourceHandlers
from toolnexus.mcp_server.tools import RunProgressSink, ToolHandlers
from toolnexus.registry.toolsets import ALL_TOOLS, Toolset

if TYPE_CHECKING:
    from starlette.applications import Starlette

__all__ = ["AUTHORIZE_SCOPE_KEY", "CALLER_SCOPE_KEY", "DEBOUNCE", "PAGE_SIZE", "Authorize", "ToolServer"]

PAGE_SIZE = 100
DEBOUNCE = 0.05


class _Server(Server[Any]):
    """The SDK's low-level server, advertising the change notices it sends, and only those.

    It sends tool-list changes (on a handshake-era connection, and on 2026-07-28 ``subscriptions/listen``
    streams) and, on a handshake-era connection, ``resources/updated`` for subscribed tool cards. It never
    sends prompt or resource list changes, nor resource updates on a listen stream, so those are not advertised
    (the SDK would advertise every notice for 2026-07-28 as soon as ``subscriptions/listen`` is served).
    The streamable-HTTP session manager builds initialisation options itself, without notification
    options; this is the one place both transports read them from.
    """

    def get_capabilities(self, notification_options: NotificationOptions | None = None,
                         experimental_capabilities: dict[str, dict[str, Any]] | None = None,
                         extensions: dict[str, dict[str, Any]] | None = None, *,
                         protocol_version: str | None = None) -> types.ServerCapabilities:
        """The SDK's capabilities, less the notices this server never sends (see the class docstring)."""
        capabilities = super().get_capabilities(notification_options, experimental_capabilities, extensions,
                                                protocol_version=protocol_version)
        if capabilities.prompts is not None:
            capabilities.prompts.list_changed = False
        if capabilities.resources is not None:
            capabilities.resources.list_changed = False
            if protocol_version in MODERN_PROTOCOL_VERSIONS:
                capabilities.resources.subscribe = False
        return capabilities

    def create_initialization_options(self, notification_options: NotificationOptions | None = None,
                                      experimental_capabilities: dict[str, dict[str, Any]] | None = None,
                                      extensions: dict[str, dict[str, Any]] | None = None) -> InitializationOptions:
        return super().create_initialization_options(notification_options or NotificationOptions(tools_changed=True),
                                                     experimental_capabilities, extensions)


class ToolServer(ToolHandlers, ResourceHandlers, ChangeNotifier):
    """Serves a Nexus's tools and missions over MCP (see the module docstring).

    ``toolset`` is what a client gets unless its request selects another (``?toolset=NAME``);
    ``missions_dir`` (default ``<workspace>/missions``) holds the missions served as ``mission.<name>``.
    """

    def __init__(self, nexus: Nexus, *, toolset: Toolset | None = None, missions_dir: str | Path | None = None,
                 page_size: int = PAGE_SIZE, debounce: float = DEBOUNCE, name: str = "toolnexus") -> None:
        self.nexus = nexus
        # Whoever the transport does not identify (stdio) calls as the user this server runs as, over MCP.
        self.caller = nexus.caller.model_copy(update={"surface": Surface.MCP})
        self.toolset = toolset or nexus.settings.toolsets.get("all", ALL_TOOLS)
        folder = Path(missions_dir) if missions_dir is not None else nexus.workspace / "missions"
        self.missions = MissionFolder(folder if folder.is_absolute() else nexus.workspace / folder, nexus.compile)
        self.page_size = page_size
        self.debounce = debounce
        self.meta_tools = [SEARCH_SPEC]
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
        self._log_levels = {}
        self.library = Library()  # @resource / @prompt functions (see load)
        # The workspace's tools modules (``tools.modules``) give their @resource and @prompt functions too, on every
        # transport: the Nexus has imported them for their @tool functions already.
        for module in nexus.settings.tools.modules:
            self.library.load(module)
        self._init_catalogs()
        self._connections = {}
        self._generation_told = (nexus.registry.generation, self._kills_version)
        self._wake = None
        self._loop = None
        self._loop_thread = None
        self._unsubscribe_events = nexus.bus.subscribe(RunProgressSink())
        self._unsubscribe_registry = nexus.registry.subscribe(self._on_registry_change)
        # A kill switch set or lifted (here or by another process) changes what clients list. While subscribed,
        # the switches' watcher looks at the store every REFRESH_INTERVAL.
        self._unsubscribe_kills = nexus.kills.subscribe(self._on_kills_change) if nexus.kills is not None else None

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
        """Serve the ``@resource`` and ``@prompt`` functions of ``module`` (:mod:`toolnexus.mcp_server.library`)."""
        return self.library.load(module)

    def close(self) -> None:
        """Stop listening to the registry, the kill switches and the event bus (the Nexus stays open)."""
        self._unsubscribe_registry()
        if self._unsubscribe_kills is not None:
            self._unsubscribe_kills()
            self._unsubscribe_kills = None
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
