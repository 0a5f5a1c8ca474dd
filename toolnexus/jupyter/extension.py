"""The Jupyter server extension: the workspace's tools served over MCP at ``<base_url>toolnexus/mcp``.

Enabled on install by ``jupyter_extension/jupyter_server_config.d/toolnexus.json``. On start it opens
the workspace's :class:`~toolnexus.api.Nexus` (the server's root directory unless configured), builds
the :class:`~toolnexus.mcp_server.server.ToolServer` and starts the SDK's Streamable HTTP app (its session
manager) through the bridge; on stop it shuts them down and stops the Nexus's worker processes.

Tools only one server should have (test fixtures, say) come from ``ToolnexusExtension.tool_modules``
(``@tool`` modules loaded into this server's registry only), or at run time from
``toolnexus_extension(serverapp).nexus.registry.register(spec)``.

Kernels that call ``tn.serve()`` offer their ``@tn.tool`` functions too, as ``kernel.<name>``, while they
live (``kernel_tools``; see ``toolnexus.jupyter.kernel_tools``); they need approval unless a policy allows them.
"""

from __future__ import annotations

import asyncio
import gc
import os
import re
from typing import Any

from jupyter_server.extension.application import ExtensionApp
from jupyter_server.utils import url_path_join
from tornado import web
from tornado.routing import HostMatches, PathMatches, Rule
from traitlets import Bool, Float, Int, List, Unicode

from toolnexus.api import Nexus
from toolnexus.jupyter.approvals import approval_handlers
from toolnexus.jupyter.bridge import AsgiBridge
from toolnexus.jupyter.handlers import McpHandler
from toolnexus.jupyter.kernel_tools import KernelTools
from toolnexus.jupyter.kernel_tools_gate import install as require_kernel_tool_approval
from toolnexus.jupyter.kills import kill_handlers
from toolnexus.jupyter.service import Service
from toolnexus.mcp_server.server import ToolServer
from toolnexus.registry import load_module

ENDPOINT = "toolnexus/mcp"


class ToolnexusExtension(ExtensionApp):
    """Serves the toolnexus registry (and missions, as tools) over MCP from the Jupyter server."""

    name = "toolnexus"
    extension_url = "/" + ENDPOINT
    load_other_extensions = True

    workspace = Unicode(None, allow_none=True, config=True,
                        help="toolnexus workspace (default: $TOOLNEXUS_WORKSPACE, else the server's root_dir)")
    missions_dir = Unicode(None, allow_none=True, config=True,
                           help="folder of missions served as mission.<name> (default: <workspace>/missions)")
    tool_modules = List(Unicode(), config=True,
                        help="extra modules whose @tool functions join this server's registry only, and whose "
                             "@resource/@prompt functions (toolnexus.mcp_server.library) it serves "
                             "(e.g. test fixtures)")

    kernel_tools = Bool(True, config=True,
                        help="serve the @tn.tool functions of kernels that call tn.serve() as kernel.<name> "
                             "(nothing is served from a kernel that does not)")
    kernel_tools_approval = Bool(True, config=True,
                                 help="kernel tools need a person's approval unless an enforced policy rule "
                                      "allows them")
    kernel_tools_busy_timeout = Float(10.0, config=True,
                                      help="seconds a kernel tool's call waits for a busy kernel (running a cell) "
                                           "before it fails with 'kernel busy'")

    endpoint_first = Bool(True, config=True,
                          help="look the MCP endpoint up before the server's other routes: an agent's every tool call "
                               "is a request, and Tornado tries the routes in order (some 25 patterns of other "
                               "extensions came first). Only done when no earlier route matches the endpoint's paths, "
                               "so no request is served by another handler than before")

    freeze_startup_heap = Bool(True, config=True,
                               help="after start, move the objects the server was started with (modules, classes, "
                                    "configuration) out of the garbage collector's reach (gc.freeze): each full "
                                    "collection then walks only what requests made, not the whole server")

    gc_young_threshold = Int(20_000, config=True,
                             help="the garbage collector's youngest-generation threshold in the server process while "
                                  "the extension runs (Python's default is 700): each MCP call leaves some 200 "
                                  "objects for the collector, so at 700 a young collection ran every few calls "
                                  "and a middle one every 40; 0 leaves the threshold as it is")

    service: Service | None = None
    _gc_threshold: tuple[int, int, int] | None = None
    _starting: asyncio.Lock | None = None
    _stopped = False
    _froze = False

    def initialize_handlers(self) -> None:
        """Add the MCP endpoint's handler (with and without a toolset in the path) and the approvals and kill-switch
        REST APIs."""
        self.handlers.append((rf"/{ENDPOINT}(?:/([A-Za-z0-9_.-]+))?/?", McpHandler, {"extension": self}))
        self.handlers.extend(approval_handlers(self))
        self.handlers.extend(kill_handlers(self))

    def _workspace(self) -> str:
        if self.workspace:
            return self.workspace
        env = os.environ.get("TOOLNEXUS_WORKSPACE")
        if env:
            return env
        assert self.serverapp is not None
        return str(self.serverapp.root_dir)

    async def ensure_started(self) -> Service:
        """The running service, started now if the server did not start extensions (pytest-jupyter)."""
        if self.service is not None:
            return self.service
        if self._stopped:
            raise web.HTTPError(503, "toolnexus has stopped with the server")
        if self._starting is None:
            self._starting = asyncio.Lock()
        async with self._starting:
            if self.service is None:
                self.service = await self._start()
        return self.service

    async def _start(self) -> Service:
        nexus = Nexus(self._workspace())
        try:
            for module in self.tool_modules:
                load_module(nexus.registry, module)
            tool_server = ToolServer(nexus, missions_dir=self.missions_dir)
            for module in self.tool_modules:  # their @resource and @prompt functions too
                tool_server.load(module)
            bridge = AsgiBridge(tool_server.http_app("/mcp"))
            await bridge.start()
            kernels = self._kernel_tools(nexus)
        except BaseException:
            nexus.close()
            raise
        self.log.info("toolnexus: MCP endpoint at %s%s (%d tools)", self.serverapp.base_url if self.serverapp
                      else "/", ENDPOINT, len(nexus.registry))
        return Service(nexus, tool_server, bridge, kernels)

    def _kernel_tools(self, nexus: Nexus) -> KernelTools | None:
        manager = getattr(self.serverapp, "kernel_manager", None)
        if not self.kernel_tools or manager is None:
            return None
        if self.kernel_tools_approval:
            require_kernel_tool_approval(nexus)
        kernels = KernelTools(nexus, manager, busy_timeout=self.kernel_tools_busy_timeout)
        kernels.start()
        return kernels

    async def _start_jupyter_server_extension(self, serverapp: Any) -> None:
        await self.ensure_started()
        if self.endpoint_first:
            route_first(serverapp.web_app, url_path_join(serverapp.base_url, ENDPOINT))
        if self.freeze_startup_heap:
            # A Jupyter server holds some 300,000 objects once started, nearly all of them for good; a full
            # collection walks every one (about 0.1 s here) and a busy endpoint triggers one every few
            # seconds. Frozen, they are skipped (and never freed, which they would not be anyway).
            gc.collect()
            gc.freeze()
            self._froze = True
        current = gc.get_threshold()
        if self.gc_young_threshold > current[0]:  # only ever raised: a host that set a larger one keeps it
            self._gc_threshold = current
            gc.set_threshold(self.gc_young_threshold, *current[1:])

    async def stop_extension(self) -> None:
        """Stop the service with the server: the bridge, the tool server, then the Nexus's workers."""
        self._stopped = True
        if self._froze:  # what the server held at start may be garbage once it stops
            gc.unfreeze()
            self._froze = False
        if self._gc_threshold is not None:
            gc.set_threshold(*self._gc_threshold)
            self._gc_threshold = None
        service, self.service = self.service, None
        if service is None:
            return
        if service.kernel_tools is not None:
            await service.kernel_tools.stop()
        await service.bridge.stop()
        service.tool_server.close()
        await asyncio.get_running_loop().run_in_executor(None, service.nexus.close)


def route_first(webapp: web.Application, endpoint: str) -> bool:
    """Route requests to ``endpoint`` (its URL path) to :class:`McpHandler` before any other route; whether it did.

    Tornado tries an application's routes in order, the server's own last and each extension's in the order they
    were added; every request to the endpoint first failed to match the patterns of the extensions before this one.
    A copy of the endpoint's rule goes first, unless a route before it matches one of the endpoint's paths (then
    that route keeps serving them, as before) or is one this function cannot look into.
    """
    rules = webapp.default_router.rules
    probes = [endpoint, endpoint + "/", endpoint + "/toolset"]
    for index, host_rule in enumerate(rules):
        routes = getattr(host_rule.target, "rules", None)
        if not isinstance(host_rule.matcher, HostMatches) or routes is None:
            return False  # a route we cannot look into comes first: leave the order alone
        ours = next((route for route in routes if route.target is McpHandler), None)
        if ours is not None:
            if index > 0:
                rules.insert(0, Rule(host_rule.matcher, type(host_rule.target)(webapp, [ours])))
            return True
        if any(not isinstance(route.matcher, PathMatches) or any(route.matcher.regex.match(p) for p in probes)
               or _names(route.matcher.regex.pattern, endpoint) for route in routes):
            return False  # an earlier route may serve the endpoint's paths (or we cannot tell): it still does
    return False


def _names(pattern: str, endpoint: str) -> bool:
    """Whether a route's ``pattern`` spells out a path under ``endpoint`` (``/toolnexus/mcp/admin``): the probes
    above cannot find every such path, and the endpoint's ``/<toolset>`` pattern would take it over."""
    return endpoint in pattern or re.escape(endpoint) in pattern or endpoint.replace("/", r"\/") in pattern


def toolnexus_extension(serverapp: Any) -> ToolnexusExtension:
    """The extension loaded in ``serverapp``."""
    point = serverapp.extension_manager.extensions["toolnexus.jupyter"].extension_points["toolnexus"]
    return point.app
