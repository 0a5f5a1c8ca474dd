"""http.fetch: private addresses refused by default, each redirect re-checked; a real local server."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import ip_address
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from toolnexus.builtins import http as http_module
from toolnexus.builtins.http import check_url, fetch, forbidden_reason
from toolnexus.core.errors import ErrorKind, ToolFailure
from toolnexus.registry.decorator import spec_of

pytestmark = pytest.mark.anyio

get = spec_of(fetch).callable.acall


class Handler(BaseHTTPRequestHandler):
    server: LocalServer

    def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
        pass

    def _send(self, status: int, body: bytes = b"", content_type: str = "text/plain; charset=utf-8",
              headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _handle(self) -> None:
        self.server.paths.append(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else None
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        if url.path == "/json":
            self._send(200, b'{"hello": "world"}', "application/json")
        elif url.path == "/text":
            self._send(200, "héllo".encode(), "text/plain; charset=utf-8")
        elif url.path == "/redirect":
            self._send(int(query.get("status", ["302"])[0]), headers={"Location": query["to"][0]})
        elif url.path == "/loop":
            self._send(302, headers={"Location": "/loop"})
        elif url.path == "/echo":
            echoed = {"method": self.command, "body": body, "host": self.headers.get("Host")}
            self._send(200, json.dumps(echoed).encode(), "application/problem+json")
        elif url.path == "/fail":
            self._send(503, b"down for maintenance")
        elif url.path == "/big":
            self._send(200, b"x" * 5000)
        elif url.path == "/slow":
            self.server.release.wait(30)
            self._send(200, b"late")
        else:
            self._send(404, b"no such page")

    do_GET = do_POST = do_HEAD = _handle


class LocalServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.paths: list[str] = []
        self.release = threading.Event()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@pytest.fixture
def server() -> Iterator[LocalServer]:
    httpd = LocalServer()
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        httpd.release.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join()


async def test_loopback_is_refused_by_default_before_connecting(in_workspace, server):
    with in_workspace(), pytest.raises(ToolFailure) as failure:
        await get({"url": f"{server.base}/json"})
    error = failure.value.error
    assert error.kind is ErrorKind.DENIED
    assert "127.0.0.1" in error.message and "loopback" in error.message
    assert "http_allow_hosts" in error.message and "http_allow_private" in error.message
    assert server.paths == []


async def test_a_name_resolving_to_loopback_is_refused(in_workspace, server):
    with in_workspace(), pytest.raises(ToolFailure) as failure:
        await get({"url": f"http://localhost:{server.server_address[1]}/json"})
    assert failure.value.error.kind is ErrorKind.DENIED
    assert server.paths == []


async def test_fetches_json_when_private_addresses_are_allowed(in_workspace, server):
    with in_workspace(http_allow_private=True):
        result = await get({"url": f"{server.base}/json"})
    assert result["status"] == 200
    assert result["json"] == {"hello": "world"}
    assert result["text"] == '{"hello": "world"}'
    assert result["headers"]["content-type"] == "application/json"
    assert result["url"] == f"{server.base}/json"


async def test_text_is_decoded_and_json_is_none_for_other_types(in_workspace, server):
    with in_workspace(http_allow_hosts=["127.0.0.1"]):
        result = await get({"url": f"{server.base}/text"})
    assert result["text"] == "héllo"
    assert result["json"] is None


async def test_redirects_are_followed(in_workspace, server):
    with in_workspace(http_allow_private=True):
        result = await get({"url": f"{server.base}/redirect?to=/json"})
    assert result["url"] == f"{server.base}/json"
    assert result["json"] == {"hello": "world"}
    assert server.paths == ["/redirect?to=/json", "/json"]


async def test_redirect_to_a_host_not_allowed_is_refused(in_workspace, server):
    port = server.server_address[1]
    with in_workspace(http_allow_hosts=["127.0.0.1"]), pytest.raises(ToolFailure) as failure:
        await get({"url": f"{server.base}/redirect?to=http://localhost:{port}/json"})
    assert failure.value.error.kind is ErrorKind.DENIED
    assert "localhost" in failure.value.error.message
    assert server.paths == [f"/redirect?to=http://localhost:{port}/json"]


async def test_too_many_redirects(in_workspace, server):
    with in_workspace(http_allow_private=True), pytest.raises(ToolFailure) as failure:
        await get({"url": f"{server.base}/loop"})
    assert failure.value.error.kind is ErrorKind.NETWORK
    assert "more than 5 redirects" in failure.value.error.message
    assert len(server.paths) == 6


async def test_post_body_and_303_turns_into_get(in_workspace, server):
    with in_workspace(http_allow_private=True):
        posted = await get({"url": f"{server.base}/echo", "method": "POST", "body": "a=1"})
        redirected = await get({"url": f"{server.base}/redirect?status=303&to=/echo", "method": "POST",
                                "body": "a=1"})
    host = f"127.0.0.1:{server.server_address[1]}"
    assert posted["json"] == {"method": "POST", "body": "a=1", "host": host}
    assert redirected["json"]["method"] == "GET" and redirected["json"]["body"] is None


async def test_4xx_is_returned_and_5xx_is_a_retryable_network_error(in_workspace, server):
    with in_workspace(http_allow_private=True):
        assert (await get({"url": f"{server.base}/nothing"}))["status"] == 404
        with pytest.raises(ToolFailure) as failure:
            await get({"url": f"{server.base}/fail"})
    assert failure.value.error.kind is ErrorKind.NETWORK
    assert failure.value.error.retryable is True
    assert failure.value.error.details["status"] == 503


async def test_connection_refused_is_a_retryable_network_error(in_workspace):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound but not listening: connections are refused
        with in_workspace(http_allow_private=True), pytest.raises(ToolFailure) as failure:
            await get({"url": f"http://127.0.0.1:{port}/"})
    assert failure.value.error.kind is ErrorKind.NETWORK
    assert failure.value.error.retryable is True


async def test_timeout_is_a_retryable_timeout(in_workspace, server):
    with in_workspace(http_allow_private=True), pytest.raises(ToolFailure) as failure:
        await get({"url": f"{server.base}/slow", "timeout": 0.5})
    assert failure.value.error.kind is ErrorKind.TIMEOUT
    assert failure.value.error.retryable is True


async def test_body_over_max_bytes_is_refused(in_workspace, server):
    with in_workspace(http_allow_private=True):
        assert len((await get({"url": f"{server.base}/big", "max_bytes": 5000}))["text"]) == 5000
        with pytest.raises(ToolFailure) as failure:
            await get({"url": f"{server.base}/big", "max_bytes": 4999})
    assert failure.value.error.kind is ErrorKind.LIMIT_EXCEEDED


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/x", "gopher://127.0.0.1/"])
async def test_only_http_and_https(in_workspace, url):
    with in_workspace(http_allow_private=True), pytest.raises(ToolFailure) as failure:
        await get({"url": url})
    assert failure.value.error.kind is ErrorKind.INVALID_ARGUMENTS


async def test_connection_goes_to_the_checked_address_under_the_host_name(in_workspace, server, monkeypatch):
    # Pretend loopback is public, so the checked-and-pinned path (used for public hosts) runs locally.
    monkeypatch.setattr(http_module, "forbidden_reason", lambda address: None)
    port = server.server_address[1]
    with in_workspace():
        assert await check_url(httpx.URL(f"http://localhost:{port}/")) != []
        result = await get({"url": f"http://localhost:{port}/echo"})
    assert result["json"]["host"] == f"localhost:{port}"
    assert result["url"] == f"http://localhost:{port}/echo"


@pytest.mark.parametrize(("address", "reason"), [
    ("127.0.0.1", "loopback"), ("::1", "loopback"), ("10.1.2.3", "private"), ("192.168.0.1", "private"),
    ("172.16.5.4", "private"), ("169.254.169.254", "cloud metadata"), ("fd00:ec2::254", "cloud metadata"),
    ("169.254.1.1", "link-local"), ("fe80::1", "link-local"), ("0.0.0.0", "unspecified"),
    ("224.0.0.1", "multicast"), ("240.0.0.1", "reserved"), ("100.64.0.1", "non-global"),
    ("::ffff:127.0.0.1", "loopback"), ("64:ff9b::a9fe:a9fe", "cloud metadata"), ("2002:7f00:1::", "loopback"),
    ("8.8.8.8", None), ("2606:4700:4700::1111", None),
])
def test_forbidden_reason(address, reason):
    assert forbidden_reason(ip_address(address)) == reason


async def test_public_address_passes_the_check(in_workspace):
    with in_workspace():
        assert await check_url(httpx.URL("https://8.8.8.8/dns-query")) == ["8.8.8.8"]
