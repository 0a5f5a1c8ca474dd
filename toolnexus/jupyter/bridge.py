"""Serve an ASGI application from a Tornado handler: the Jupyter server hosts the SDK's Starlette app.

One request: Tornado has read the body; the app gets an ASGI ``http`` scope, a ``receive`` that yields
the body and then, once the client goes away or the response is complete, ``http.disconnect`` (how a
streamed response learns that its reader left), and a ``send`` whose body chunks are flushed as they come
(Server-Sent Events).

The first chunk of a streamed response waits up to :data:`COALESCE_SECONDS` for the response to end:
an MCP POST answered as an event stream usually ends right after its one event, and sent whole it is
one write with a ``Content-Length`` instead of three chunked writes (and cheaper for the client to read).
A stream still open after that is flushed, and from then on every chunk as it comes.
The app's lifespan (startup, shutdown) runs in a task of its own for as long as the bridge is started.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from tornado.iostream import StreamClosedError
from tornado.web import RequestHandler

from toolnexus.errors import Unavailable

log = logging.getLogger("toolnexus.jupyter")

COALESCE_SECONDS = 0.002  # how long a streamed response's first chunk may wait for the response's end

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]]


class LifespanFailed(Unavailable, RuntimeError):
    """The app reported ``lifespan.startup.failed`` (or crashed while starting)."""


class AsgiBridge:
    """Runs ``app``'s lifespan and serves Tornado requests through it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._task: asyncio.Task[None] | None = None
        self._to_app: asyncio.Queue[Message] = asyncio.Queue()
        self._started = asyncio.Event()
        self._stopped = asyncio.Event()
        self._failure: str | None = None

    # -- lifespan ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Run the app's startup; returns once it completed (LifespanFailed if it failed)."""
        self._task = asyncio.ensure_future(self._lifespan())
        started = asyncio.ensure_future(self._started.wait())
        await asyncio.wait([started, self._task], return_when=asyncio.FIRST_COMPLETED)
        started.cancel()
        if self._failure is not None or not self._started.is_set():
            raise LifespanFailed(self._failure or "the application ended during startup")

    async def stop(self) -> None:
        """Run the app's shutdown and wait for it."""
        task, self._task = self._task, None
        if task is None:
            return
        await self._to_app.put({"type": "lifespan.shutdown"})
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout=10)
        except TimeoutError:
            log.warning("the MCP app did not shut down within 10 s; cancelling it")
            task.cancel()

    async def _lifespan(self) -> None:
        await self._to_app.put({"type": "lifespan.startup"})

        async def send(message: Message) -> None:
            kind = message["type"]
            if kind == "lifespan.startup.complete":
                self._started.set()
            elif kind in ("lifespan.startup.failed", "lifespan.shutdown.failed"):
                self._failure = message.get("message", kind)
                log.error("MCP app %s: %s", kind, self._failure)
            elif kind == "lifespan.shutdown.complete":
                self._stopped.set()

        try:
            await self.app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, self._to_app.get, send)
        except Exception as exc:  # a crash at startup is a failed start, reported by start()
            self._failure = f"{type(exc).__name__}: {exc}"
            log.exception("MCP app lifespan crashed")

    # -- requests ------------------------------------------------------------------------------

    async def serve(self, handler: RequestHandler, *, path: str, root_path: str = "",
                    extra: dict[str, Any] | None = None) -> None:
        """Answer ``handler``'s request with the app, as if it had been made to ``path``."""
        request = handler.request
        disconnected = asyncio.Event()

        def closed() -> None:
            disconnected.set()
            handler.on_connection_close()

        # Tornado bound the handler's close callback when it made the handler; chain ours in front of it.
        request.connection.set_close_callback(closed)  # type: ignore[union-attr]
        body_sent = False
        held: asyncio.TimerHandle | None = None  # a first chunk waiting (see the module docstring)
        streaming = False  # something was flushed: every later chunk goes out as it comes

        def flushed(future: asyncio.Future[None]) -> None:
            if not future.cancelled() and isinstance(future.exception(), StreamClosedError):
                disconnected.set()

        def flush_held() -> None:
            nonlocal held, streaming
            held, streaming = None, True
            if not handler._finished and not disconnected.is_set():
                handler.flush().add_done_callback(flushed)

        async def receive() -> Message:
            nonlocal body_sent
            if not body_sent:
                body_sent = True
                return {"type": "http.request", "body": request.body or b"", "more_body": False}
            await disconnected.wait()
            return {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            nonlocal held
            if disconnected.is_set():
                return
            kind = message["type"]
            try:
                if kind == "http.response.start":
                    handler.set_status(message["status"])
                    handler.clear_header("Content-Type")
                    for raw_name, raw_value in message.get("headers", []):
                        name, value = raw_name.decode("latin-1"), raw_value.decode("latin-1")
                        if name.lower() == "content-length":
                            continue  # Tornado frames the body itself (chunked while streaming)
                        handler.add_header(name, value)
                elif kind == "http.response.body":
                    body = message.get("body", b"")
                    if body:
                        handler.write(body)
                    if not message.get("more_body", False):
                        if held is not None:
                            held.cancel()
                            held = None
                        await handler.finish()
                        # The response is complete: from now on receive() says the client is gone, as ASGI has it
                        # (and as uvicorn does). Told now, before the app's streaming task ends, a task waiting in
                        # receive() (an event stream's disconnect listener) ends normally instead of being
                        # cancelled with the rest of its task group, a cancellation that cost every call.
                        disconnected.set()
                    elif streaming:
                        await handler.flush()
                    elif held is None:
                        held = asyncio.get_running_loop().call_later(COALESCE_SECONDS, flush_held)
            except StreamClosedError:
                disconnected.set()

        host, _, port = (request.host or "").partition(":")
        scope: Scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": request.version.removeprefix("HTTP/") if request.version else "1.1",
            "method": request.method,
            "scheme": request.protocol,
            "path": path,
            "raw_path": path.encode(),
            "query_string": (request.query or "").encode("latin-1"),
            "root_path": root_path,
            "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in request.headers.get_all()],
            "client": (request.remote_ip, 0),
            "server": (host, int(port) if port.isdigit() else (443 if request.protocol == "https" else 80)),
            "state": {},
            **(extra or {}),
        }
        try:
            await self.app(scope, receive, send)
        finally:
            if held is not None:
                held.cancel()
        if not handler._finished and not disconnected.is_set():
            await handler.finish()
