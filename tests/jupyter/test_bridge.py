"""The ASGI bridge on a bare Tornado server: what the app's ``receive`` says once its response is complete."""

from __future__ import annotations

import asyncio
from typing import Any

from tornado import web
from tornado.httpserver import HTTPServer
from tornado.testing import bind_unused_port

from toolnexus.jupyter.bridge import AsgiBridge, Message

REQUEST = b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 4\r\n\r\nping"


def test_receive_says_disconnect_once_the_response_is_complete_while_the_client_stays() -> None:
    # ASGI: receive() called after the response was sent answers http.disconnect (an event stream's disconnect
    # listener then ends by itself, instead of being cancelled). The client keeps its connection open meanwhile.
    received: list[Message] = []

    async def main() -> bytes:
        done = asyncio.Event()

        async def app(scope: Any, receive: Any, send: Any) -> None:
            received.append(await receive())
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "http.response.body", "body": b"pong", "more_body": False})
            received.append(await receive())
            done.set()

        bridge = AsgiBridge(app)

        class Handler(web.RequestHandler):
            async def post(self) -> None:
                await bridge.serve(self, path="/")

        sock, port = bind_unused_port()
        server = HTTPServer(web.Application([("/", Handler)]))
        server.add_sockets([sock])
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(REQUEST)
            head = await reader.readuntil(b"\r\n\r\n")
            body = await reader.readexactly(4)
            await asyncio.wait_for(done.wait(), 10)  # a guard against a hang, not a synchronisation
            return head + body
        finally:
            writer.close()
            server.stop()

    response = asyncio.run(main())
    assert response.startswith(b"HTTP/1.1 200") and response.endswith(b"pong")
    assert received == [{"type": "http.request", "body": b"ping", "more_body": False}, {"type": "http.disconnect"}]
