"""Change notices of the MCP server: ``tools/list_changed`` (handshake-era connections), ``resources/updated``
for subscribed tool cards, and ``ToolsListChanged`` on 2026-07-28 ``subscriptions/listen`` streams.

Registry changes (from any thread) wake a notifier task on the server's loop; a burst becomes one notice.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any

import anyio
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.server.subscriptions import InMemorySubscriptionBus, ToolsListChanged
from mcp.shared.exceptions import MCPError
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from toolnexus.core.spec import ToolSpec
from toolnexus.mcp_server import builtins
from toolnexus.mcp_server.requests import connection_of
from toolnexus.mcp_server.toolsets import ToolsetCatalogs

log = logging.getLogger("toolnexus.mcp")


class ChangeNotifier(ToolsetCatalogs):
    """Tells clients when the tools they see changed (see the module docstring)."""

    debounce: float
    bus: InMemorySubscriptionBus
    _connections: dict[int, tuple[Any, str]]  # id(connection) → (connection, toolset key)
    _generation_told: int
    _wake: anyio.Event | None
    _loop: asyncio.AbstractEventLoop | None
    _loop_thread: int | None

    async def _track_connection(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        """Remember each handshake-era connection (and its toolset) to tell it when its tool list changes."""
        result = await call_next(ctx)
        connection = connection_of(ctx)
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
