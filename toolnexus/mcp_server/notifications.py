"""Change notices of the MCP server: ``tools/list_changed`` (handshake-era connections), ``resources/updated``
for subscribed tool cards, and ``ToolsListChanged`` on 2026-07-28 ``subscriptions/listen`` streams.

Registry changes and kill switches set or lifted (here or in another process sharing the state store; from any
thread) wake a notifier task on the server's loop; a burst becomes one notice. Each client is told only when
what it lists (:meth:`~toolnexus.mcp_server.toolsets.ToolsetCatalogs.listing`) changed.
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
from toolnexus.mcp_server.toolsets import ToolsetCatalogs, View

log = logging.getLogger("toolnexus.mcp")


class ChangeNotifier(ToolsetCatalogs):
    """Tells clients when the tools they see changed (see the module docstring)."""

    debounce: float
    bus: InMemorySubscriptionBus
    _connections: dict[int, tuple[Any, View]]  # id(connection) → (connection, what it lists)
    _generation_told: tuple[int, int]  # (registry generation, kills version) last published on listen streams
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
                toolset, view = self._view_of(ctx)
            except MCPError:
                return result
            if view not in self._listed:
                self._listed[view] = self.listing(toolset, view.tenant).fingerprint()
            self._connections[id(connection)] = (connection, view)
            connection.exit_stack.callback(self._connections.pop, id(connection), None)
        return result

    def _on_registry_change(self, event: str, spec: ToolSpec) -> None:
        self._wake_notifier()

    def _on_kills_change(self) -> None:
        # Called by the kill switches on whichever thread noticed (the watcher's, for another process's switch).
        # Two threads bumping at once may lose one step: the version still moves, which is all listings check.
        self._kills_version += 1
        self._wake_notifier()

    def _wake_notifier(self) -> None:
        # Any thread may change the registry or the switches; the notifier runs on the server's event loop. From
        # another thread the wake-up is handed over without waiting, so that thread never blocks on us.
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
        """Tell every client whose tool list changed: handshake-era sessions on their connection (and their
        subscriptions to tool cards), 2026-07-28 clients on their ``subscriptions/listen`` streams."""
        changed = self._changed_views()
        for connection, view in list(self._connections.values()):
            if view in changed and connection.initialized.is_set():
                await connection.send_tool_list_changed()
        await self._tell_card_subscribers({view.toolset for view in changed})
        generation = (self.nexus.registry.generation, self._kills_version)
        if generation != self._generation_told:
            self._generation_told = generation
            await self.bus.publish(ToolsListChanged())

    def _changed_views(self) -> set[View]:
        """The views whose listing changed since their clients were last told (now marked as told)."""
        changed: set[View] = set()
        for view in {view for _, view in self._connections.values()} | set(self._listed):
            fingerprint = self.listing(self._toolsets[view.toolset], view.tenant).fingerprint()
            if self._listed.get(view) != fingerprint:
                self._listed[view] = fingerprint
                changed.add(view)
        return changed

    async def _tell_card_subscribers(self, toolsets: set[str]) -> None:
        """``resources/updated`` for the tool cards subscribed to by connections whose toolset changed."""
        for connection, key, uris in list(self._subscriptions.values()):
            if key in toolsets and connection is not None:
                for uri in sorted(u for u in uris if u.startswith(builtins.TOOLS)):
                    await connection.send_resource_updated(uri)
