"""Connections to configured MCP servers, held in one background thread with its own event loop.

An SDK session belongs to the task and event loop that opened it, while a :class:`~toolnexus.api.Nexus`
is used from many loops (``Nexus.run`` spins a fresh one per call, Jupyter has its own). So every
session lives in one daemon thread (:class:`McpConnections`); callers submit work to it and await
the answer from their own loop. Cancelling the caller cancels the work in the connection thread, and
the SDK then sends ``notifications/cancelled`` to the server.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import os
import shutil
import sys
import sysconfig
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

import anyio
import sniffio
from anyio.from_thread import BlockingPortal

from toolnexus.config import McpServerSettings
from toolnexus.errors import Unavailable

if TYPE_CHECKING:
    import mcp_types as types
    from mcp import Client

# The SDK is imported where a server is first contacted, not with this module: a Nexus that finds every
# server's tools in the listing cache never pays for it.

log = logging.getLogger("toolnexus.mcp")
T = TypeVar("T")

# Pages of tools/list drained before giving up on a server whose cursors never end.
MAX_PAGES = 1000
# How long a cancelled caller waits for the connection thread to pass the cancellation on to the server.
CANCEL_GRACE = 5.0
# How long closing waits for each server to shut down (the SDK escalates to SIGTERM/SIGKILL within it).
CLOSE_GRACE = 10.0

ListingListener = Callable[[str, list[dict[str, Any]], str | None], None]
ProgressListener = Callable[[float, float | None, str | None], Awaitable[None] | None]


class McpUnavailable(Unavailable):
    """A server could not be reached: it did not start, stopped answering or died. Trying again may help."""

    def __init__(self, server: str, reason: str) -> None:
        self.server = server
        self.reason = reason
        super().__init__(f"MCP server {server!r} is unavailable: {reason}")


class Listing:
    """A server's complete tool listing, as MCP JSON (``name``, ``inputSchema``, ``annotations`` …)."""

    def __init__(self, tools: list[dict[str, Any]], version: str | None) -> None:
        self.tools = tools
        self.version = version


class ServerConnection:
    """One configured server: connects on demand, holds its session, restarts after it dies.

    Every method runs in the connection thread's loop.
    """

    def __init__(self, key: str, settings: McpServerSettings, workspace: Path, log_dir: Path,
                 on_listing: ListingListener, spawn: Callable[[Callable[[], Coroutine[Any, Any, None]]], None]) -> None:
        self.key = key
        self.settings = settings
        self.workspace = workspace
        self.log_path = log_dir / f"{key}.log"
        self.on_listing = on_listing
        self._spawn = spawn
        self.client: Client | None = None
        self._lock: anyio.Lock | None = None
        self._closing: anyio.Event | None = None
        self._closed: anyio.Event | None = None
        self._scope: anyio.CancelScope | None = None
        self._refreshing = False

    # -- connecting ---------------------------------------------------------------------------

    async def session(self) -> Client:
        """The live session, connecting (and listing the server's tools) first if there is none."""
        if self.client is not None:
            return self.client
        if self._lock is None:
            self._lock = anyio.Lock()
        async with self._lock:
            if self.client is None:
                await self._connect()
        assert self.client is not None
        return self.client

    async def _connect(self) -> None:
        ready = anyio.Event()
        failure: list[BaseException] = []
        self._closing, self._closed = anyio.Event(), anyio.Event()
        self._spawn(lambda: self._hold(ready, failure))
        try:
            with anyio.fail_after(self.settings.timeout):
                await ready.wait()
        except TimeoutError:
            await self.close(grace=0)  # a server that does not even answer the handshake is not waited for
            raise McpUnavailable(self.key, f"no answer within {self.settings.timeout:g}s{self._log_tail()}") from None
        if failure:
            raise McpUnavailable(self.key, _describe(failure[0]) + self._log_tail()) from None
        try:
            with anyio.fail_after(self.settings.timeout):
                await self.refresh()
        except Exception as exc:  # a server that cannot list its tools is of no use
            await self.close()
            if isinstance(exc, McpUnavailable):
                raise
            raise McpUnavailable(self.key, f"listing its tools failed: {_describe(exc)}") from None

    async def _hold(self, ready: anyio.Event, failure: list[BaseException]) -> None:
        """Open the session and keep it open in this task (the SDK requires one task to enter and exit)."""
        closing, closed = self._closing, self._closed
        assert closing is not None and closed is not None
        from mcp import Client
        from mcp_types import Implementation
        from mcp_types.version import MODERN_PROTOCOL_VERSIONS

        client: Client | None = None
        try:
            with anyio.CancelScope() as self._scope, self.log_path.open("a", encoding="utf-8") as errlog:
                client = Client(self._transport(errlog), message_handler=self._on_message,
                                client_info=Implementation(name="toolnexus", version="1"))
                async with client, anyio.create_task_group() as tg:
                    self.client = client
                    ready.set()
                    if client.protocol_version in MODERN_PROTOCOL_VERSIONS:
                        tg.start_soon(self._listen, client)
                    await closing.wait()
                    tg.cancel_scope.cancel()
        except Exception as exc:  # the server failed to start or its transport broke: report, never crash the loop
            if not ready.is_set():
                failure.append(exc)
            else:
                log.warning("MCP server %r: connection lost: %s", self.key, _describe(exc))
        finally:
            if self.client is client:  # not a newer session that replaced this one
                self.client = None
            ready.set()
            closed.set()

    def _transport(self, errlog: TextIO) -> Any:
        from mcp.client.stdio import StdioServerParameters, stdio_client

        s = self.settings
        if s.url is not None:
            return _http_transport(s.url, s.headers)
        if not s.command:
            raise ValueError("neither command nor url is set")
        cwd = Path(s.cwd) if s.cwd else None
        if cwd is not None and not cwd.is_absolute():
            cwd = self.workspace / cwd
        return stdio_client(StdioServerParameters(command=_program(s.command), args=s.args, env=s.env or None,
                                                  cwd=cwd), errlog=errlog)

    def _log_tail(self) -> str:
        try:
            lines = self.log_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
        except OSError:
            return ""
        return f" (its stderr, in {self.log_path}, ends: {lines[-1][:300]!r})" if lines else ""

    async def close(self, grace: float = CLOSE_GRACE) -> None:
        """End the session (the SDK closes stdin, then terminates the server) and wait for it; past
        ``grace`` the session's task is cancelled, which makes the SDK kill the server."""
        if self._closing is None or self._closed is None:
            return
        self._closing.set()
        with anyio.move_on_after(grace):
            await self._closed.wait()
        if not self._closed.is_set() and self._scope is not None:
            self._scope.cancel()
            with anyio.move_on_after(CLOSE_GRACE):
                await self._closed.wait()
        self.client = None

    # -- tools --------------------------------------------------------------------------------

    async def refresh(self) -> Listing:
        """Drain ``tools/list`` page by page and hand the complete listing to the listener."""
        client = self.client
        if client is None:
            raise McpUnavailable(self.key, "not connected")
        tools: list[dict[str, Any]] = []
        cursor: str | None = None
        for _ in range(MAX_PAGES):
            page = await client.list_tools(cursor=cursor, cache_mode="refresh")
            tools.extend(t.model_dump(by_alias=True, exclude_none=True, mode="json") for t in page.tools)
            cursor = page.next_cursor
            if not cursor:
                break
        else:
            log.warning("MCP server %r: stopped listing tools after %d pages", self.key, MAX_PAGES)
        info = client.server_info
        listing = Listing(tools, info.version if info is not None else None)
        self.on_listing(self.key, listing.tools, listing.version)
        return listing

    async def call(self, name: str, arguments: dict[str, Any],
                   progress: ProgressListener | None = None) -> types.CallToolResult:
        """Call a tool; a dead or unreachable server raises :class:`McpUnavailable`."""
        from mcp.shared.exceptions import MCPError
        from mcp_types import CONNECTION_CLOSED

        client = await self.session()
        try:
            return await client.call_tool(name, arguments, progress_callback=_progress_fn(progress))
        except (anyio.ClosedResourceError, anyio.BrokenResourceError, anyio.EndOfStream, OSError) as exc:
            await self.close()  # the next call starts the server afresh
            raise McpUnavailable(self.key, f"the connection broke during the call ({_describe(exc)})") from None
        except MCPError as exc:
            if exc.code == CONNECTION_CLOSED:
                await self.close()  # the next call starts the server afresh
                raise McpUnavailable(self.key, f"the server went away during the call ({exc.message})") from None
            raise

    # -- change notifications -----------------------------------------------------------------

    async def _on_message(self, message: Any) -> None:
        from mcp_types import ToolListChangedNotification

        # Handshake-era servers send notifications/tools/list_changed unprompted.
        root = getattr(message, "root", message)
        if isinstance(root, ToolListChangedNotification):
            self._schedule_refresh()
        await anyio.lowlevel.checkpoint()

    async def _listen(self, client: Client) -> None:
        # 2026-07-28 servers send change events only to a subscriptions/listen stream.
        try:
            async with client.listen(tools_list_changed=True) as subscription:
                async for _event in subscription:
                    self._schedule_refresh()
        except Exception as exc:
            log.info("MCP server %r: no tools/list_changed subscription: %s", self.key, _describe(exc))

    def _schedule_refresh(self) -> None:
        # Never list from inside the message handler: the answer would queue behind the handler itself.
        if self._refreshing:
            return
        self._refreshing = True

        async def run() -> None:
            try:
                await self.refresh()
            except Exception as exc:
                log.warning("MCP server %r: refreshing its tools failed: %s", self.key, _describe(exc))
            finally:
                self._refreshing = False

        self._spawn(run)


class McpConnections:
    """The configured servers' connections, in one daemon thread started on first use; ``close()`` ends them."""

    def __init__(self, servers: dict[str, McpServerSettings], workspace: Path, state_dir: Path,
                 on_listing: ListingListener) -> None:
        self.servers = servers
        self.workspace = workspace
        self.log_dir = state_dir / "mcp"
        self.on_listing = on_listing
        self._connections: dict[str, ServerConnection] = {}
        self._portal: BlockingPortal | None = None
        self._tg: anyio.abc.TaskGroup | None = None
        self._stop: anyio.Event | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = False

    @property
    def started(self) -> bool:
        """Whether any server has been contacted (the connection thread runs)."""
        return self._portal is not None

    # -- the connection thread ----------------------------------------------------------------

    def _ensure_thread(self) -> BlockingPortal:
        with self._lock:
            if self._closed:
                raise RuntimeError("the MCP connections are closed")
            if self._portal is None:
                self.log_dir.mkdir(parents=True, exist_ok=True)
                started = threading.Event()
                # A daemon thread: a Nexus never closed must not keep the interpreter from exiting.
                self._thread = threading.Thread(target=anyio.run, args=(self._main, started),
                                                name="toolnexus-mcp", daemon=True)
                self._thread.start()
                started.wait()
            assert self._portal is not None
            return self._portal

    async def _main(self, started: threading.Event) -> None:
        async with BlockingPortal() as portal, anyio.create_task_group() as tg:
            self._portal, self._tg, self._stop = portal, tg, anyio.Event()
            started.set()
            await self._stop.wait()
            tg.cancel_scope.cancel()

    def _spawn(self, make: Callable[[], Coroutine[Any, Any, None]]) -> None:
        assert self._tg is not None
        self._tg.start_soon(make)

    def _connection(self, key: str) -> ServerConnection:
        conn = self._connections.get(key)
        if conn is None:
            settings = self.servers.get(key)
            if settings is None:
                raise McpUnavailable(key, "no such server in mcp.servers")
            conn = self._connections[key] = ServerConnection(key, settings, self.workspace, self.log_dir,
                                                             self.on_listing, self._spawn)
        return conn

    # -- from any thread ----------------------------------------------------------------------

    def list_now(self, keys: list[str]) -> dict[str, Listing | McpUnavailable]:
        """Connect to ``keys`` side by side and list their tools (blocking); failures come back as values."""
        portal = self._ensure_thread()

        async def gather() -> dict[str, Listing | McpUnavailable]:
            found: dict[str, Listing | McpUnavailable] = {}

            async def one(key: str) -> None:
                conn = self._connection(key)
                try:
                    await conn.session()
                    found[key] = await conn.refresh()
                except McpUnavailable as exc:
                    found[key] = exc

            async with anyio.create_task_group() as tg:
                for key in keys:
                    tg.start_soon(one, key)
            return found

        return portal.call(gather)

    async def call(self, server: str, tool: str, arguments: dict[str, Any],
                   progress: ProgressListener | None = None) -> types.CallToolResult:
        """Call ``tool`` on ``server`` from the caller's own loop; cancelling the caller cancels the call."""
        try:
            portal = self._ensure_thread()
        except RuntimeError as exc:
            raise McpUnavailable(server, str(exc)) from None
        finished: concurrent.futures.Future[None] = concurrent.futures.Future()

        async def in_loop() -> types.CallToolResult:
            try:
                return await self._connection(server).call(tool, arguments, progress)
            finally:
                finished.set_result(None)

        future = portal.start_task_soon(in_loop)
        try:
            return await _wait(future)
        except anyio.get_cancelled_exc_class():
            future.cancel()  # cancels the task over there; the SDK sends notifications/cancelled
            with anyio.CancelScope(shield=True), anyio.move_on_after(CANCEL_GRACE):
                await _wait(finished)
            raise

    def close(self) -> None:
        """Close every session and stop the thread (bounded by ``CLOSE_GRACE`` per server)."""
        with self._lock:
            self._closed = True
            portal, thread = self._portal, self._thread
        if portal is None or thread is None:
            return

        async def shutdown() -> None:
            async with anyio.create_task_group() as tg:
                for conn in list(self._connections.values()):
                    tg.start_soon(conn.close)
            assert self._stop is not None
            self._stop.set()

        with contextlib.suppress(RuntimeError):  # the loop already stopped
            portal.call(shutdown)
        thread.join(CLOSE_GRACE)


async def _wait(future: concurrent.futures.Future[T]) -> T:
    """Await a future of another thread without blocking this loop; cancellation cancels the wait."""
    if sniffio.current_async_library() == "asyncio":
        return await asyncio.wrap_future(future)
    return await anyio.to_thread.run_sync(future.result, abandon_on_cancel=True)


@asynccontextmanager
async def _http_transport(url: str, headers: dict[str, str]) -> AsyncIterator[Any]:
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared._httpx_utils import create_mcp_http_client

    async with AsyncExitStack() as stack:
        http = await stack.enter_async_context(create_mcp_http_client(headers=headers or None))
        yield await stack.enter_async_context(streamable_http_client(url, http_client=http))


def _progress_fn(progress: ProgressListener | None) -> Any:
    if progress is None:
        return None

    async def forward(value: float, total: float | None, message: str | None) -> None:
        outcome = progress(value, total, message)
        if outcome is not None:
            await outcome

    return forward


def _describe(exc: BaseException) -> str:
    """One line for a user: the innermost useful message of an exception (groups included)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    if isinstance(exc, FileNotFoundError):
        return f"cannot start {exc.filename or 'the command'}: no such program"
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _program(command: str) -> str:
    """``command`` as given, or, when it is a bare name PATH does not find, the console script of that name
    installed beside our interpreter (an MCP server installed in the same, not activated, environment)."""
    if os.sep in command or shutil.which(command) is not None:
        return command
    for folder in (sysconfig.get_path("scripts"), os.path.dirname(sys.executable)):
        candidate = os.path.join(folder, command)
        if os.access(candidate, os.X_OK):
            return candidate
    return command
