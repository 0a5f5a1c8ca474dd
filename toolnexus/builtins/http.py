"""``http.fetch``: HTTP(S) requests that cannot reach private networks unless the context allows it.

Every hop (the first request and each redirect) has its host resolved and each address checked
before connecting; the connection then goes to a checked address, so a DNS answer that changes
between the check and the connection cannot redirect it to an internal service.
"""

from __future__ import annotations

import json
import socket
from ipaddress import IPv4Address, IPv6Address, IPv6Network, ip_address
from typing import TYPE_CHECKING, Annotated, Any, Literal

import anyio
from pydantic import Field
from typing_extensions import TypedDict

from toolnexus.core.context import current_context
from toolnexus.core.errors import ErrorKind, ToolFailure
from toolnexus.registry.decorator import tool

if TYPE_CHECKING:
    # httpx is imported by the functions that make a request: every registry lists this tool (importing this
    # module), few processes fetch anything, and httpx costs ~0.1 s to import.
    import httpx

MAX_REDIRECTS = 5
DEFAULT_MAX_BYTES = 10 * 2**20
METADATA_ADDRESSES = frozenset({ip_address("169.254.169.254"), ip_address("fd00:ec2::254")})
_NAT64 = IPv6Network("64:ff9b::/96")
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# Headers that carry credentials for one origin and must not follow a redirect to another.
_CREDENTIAL_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})
_BODY_HEADERS = frozenset({"content-type", "content-length"})
_IP_CHECKS = (("is_loopback", "loopback"), ("is_link_local", "link-local"), ("is_multicast", "multicast"),
              ("is_unspecified", "unspecified"), ("is_reserved", "reserved"), ("is_private", "private"))

Method = Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
IPAddress = IPv4Address | IPv6Address


class FetchResult(TypedDict):
    """The final response: status, headers, body text, parsed JSON (for a JSON content type) and final URL."""

    status: int
    headers: dict[str, str]
    text: str
    json: Any
    url: str


def forbidden_reason(address: IPAddress) -> str | None:
    """Why ``address`` must not be reached by default (``"loopback"``, ...), or ``None`` if it may."""
    if address in METADATA_ADDRESSES:
        return "cloud metadata"
    if isinstance(address, IPv6Address):
        # IPv6 forms that carry an IPv4 address are judged by that address.
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in _NAT64:
            embedded = IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            return forbidden_reason(embedded)
    for attribute, label in _IP_CHECKS:
        if getattr(address, attribute):
            return label
    if not address.is_global:
        return "non-global"
    return None


def _host_allowed(host: str, allowed: list[str]) -> bool:
    host = host.rstrip(".").lower()
    return any(host == entry.strip("[]").rstrip(".").lower() for entry in allowed)


async def check_url(url: httpx.URL) -> list[str]:
    """Refuse ``url`` unless its scheme is http(s) and its host is allowed; return the addresses to use.

    An empty list means "connect by name": the context allows private networks or this host.
    """
    if url.scheme not in ("http", "https"):
        raise ToolFailure(f"only http and https URLs can be fetched, not {str(url)!r}",
                          kind=ErrorKind.INVALID_ARGUMENTS, details={"url": str(url)})
    if not url.raw_host:
        raise ToolFailure(f"URL {str(url)!r} has no host", kind=ErrorKind.INVALID_ARGUMENTS)
    ctx = current_context()
    host = url.host
    if ctx.http_allow_private or _host_allowed(host, ctx.http_allow_hosts):
        return []
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        infos = await anyio.getaddrinfo(url.raw_host.decode("ascii"), port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ToolFailure(f"cannot resolve host {host!r}: {exc.strerror}", kind=ErrorKind.NETWORK,
                          retryable=True, details={"host": host}) from None
    addresses = list(dict.fromkeys(str(info[4][0]).partition("%")[0] for info in infos))
    for address in addresses:
        reason = forbidden_reason(ip_address(address))
        if reason is not None:
            raise ToolFailure(
                f"refusing to fetch {str(url)!r}: host {host!r} resolves to {address}, a {reason} address. "
                f"To allow it, add {host!r} to the context's http_allow_hosts, or set "
                "http_allow_private=True.",
                kind=ErrorKind.DENIED, details={"url": str(url), "host": host, "address": address,
                                                "reason": reason})
    return addresses


def _pinned(url: httpx.URL, address: str | None, headers: dict[str, str]) -> tuple[httpx.URL, dict[str, str],
                                                                                  dict[str, Any]]:
    """The URL, headers and extensions that reach ``address`` while speaking to ``url``'s host."""
    if address is None:
        return url, headers, {}
    extensions: dict[str, Any] = {}
    if url.scheme == "https":
        # TLS still names (and verifies the certificate of) the host, not the address.
        extensions["sni_hostname"] = url.raw_host.decode("ascii")
    headers = {k: v for k, v in headers.items() if k.lower() != "host"}
    headers["Host"] = url.netloc.decode("ascii")
    return url.copy_with(host=address), headers, extensions


async def _send(client: httpx.AsyncClient, method: str, url: httpx.URL, headers: dict[str, str],
                content: bytes | None, addresses: list[str], max_bytes: int,
                read_body: bool) -> tuple[httpx.Response, bytes]:
    """One request, to the first checked address that accepts a connection."""
    import httpx

    last_error: httpx.ConnectError | None = None
    for address in addresses or [None]:
        target, target_headers, extensions = _pinned(url, address, headers)
        request = client.build_request(method, target, headers=target_headers, content=content,
                                       extensions=extensions)
        try:
            response = await client.send(request, stream=True)
        except httpx.ConnectError as exc:
            last_error = exc
            continue
        try:
            body = bytearray()
            redirect = response.status_code in _REDIRECT_STATUSES and "location" in response.headers
            if read_body and not redirect:
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > max_bytes:
                        raise ToolFailure(
                            f"the response from {str(url)!r} is larger than max_bytes={max_bytes}; "
                            "raise max_bytes to fetch it", kind=ErrorKind.LIMIT_EXCEEDED,
                            details={"url": str(url), "max_bytes": max_bytes})
        finally:
            await response.aclose()
        return response, bytes(body)
    assert last_error is not None
    raise last_error


def _decode(response: httpx.Response, body: bytes) -> str:
    try:
        return body.decode(response.charset_encoding or "utf-8", errors="replace")
    except LookupError:
        return body.decode("utf-8", errors="replace")


def _parse_json(response: httpx.Response, text: str) -> Any:
    media_type = response.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _parse_url(url: str) -> httpx.URL:
    import httpx

    try:
        return httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise ToolFailure(f"invalid URL {url!r}: {exc}", kind=ErrorKind.INVALID_ARGUMENTS) from None


async def _follow(client: httpx.AsyncClient, url: httpx.URL, method: str, headers: dict[str, str],
                  content: bytes | None, max_bytes: int) -> FetchResult:
    import httpx

    for hop in range(MAX_REDIRECTS + 1):
        addresses = await check_url(url)
        response, body = await _send(client, method, url, headers, content, addresses, max_bytes,
                                     read_body=method != "HEAD")
        location = response.headers.get("location")
        if response.status_code in _REDIRECT_STATUSES and location:
            if hop == MAX_REDIRECTS:
                raise ToolFailure(f"more than {MAX_REDIRECTS} redirects, last to {location!r}",
                                  kind=ErrorKind.NETWORK, details={"url": str(url)})
            try:
                next_url = url.join(location)
            except httpx.InvalidURL as exc:
                raise ToolFailure(f"{str(url)!r} redirects to an invalid URL {location!r}: {exc}",
                                  kind=ErrorKind.NETWORK) from None
            if (response.status_code == 303 and method != "HEAD") or (
                    response.status_code in (301, 302) and method == "POST"):
                method, content = "GET", None
                headers = {k: v for k, v in headers.items() if k.lower() not in _BODY_HEADERS}
            if (next_url.scheme, next_url.host, next_url.port) != (url.scheme, url.host, url.port):
                headers = {k: v for k, v in headers.items() if k.lower() not in _CREDENTIAL_HEADERS}
            url = next_url
            continue
        text = _decode(response, body)
        if response.status_code >= 500:
            raise ToolFailure(f"{str(url)!r} answered {response.status_code} {response.reason_phrase}",
                              kind=ErrorKind.NETWORK, retryable=True,
                              details={"url": str(url), "status": response.status_code, "text": text[:2000]})
        return {"status": response.status_code, "headers": dict(response.headers.items()), "text": text,
                "json": _parse_json(response, text), "url": str(url)}
    raise AssertionError("unreachable")  # the loop returns or raises


@tool(name="http.fetch", version="1.0.0", tier="read_only", tags=["http", "network"], register=False,
      examples=[{"arguments": {"url": "https://api.example.com/items?limit=2"},
                 "result": {"status": 200, "headers": {"content-type": "application/json"},
                            "text": "[1, 2]", "json": [1, 2], "url": "https://api.example.com/items?limit=2"}}])
async def fetch(url: str, method: Method = "GET", headers: dict[str, str] = {},  # noqa: B006 - never mutated
                body: str | None = None, timeout: Annotated[float, Field(gt=0)] = 30,
                max_bytes: Annotated[int, Field(gt=0)] = DEFAULT_MAX_BYTES) -> FetchResult:
    """Fetch a URL over HTTP(S); private, loopback and metadata addresses are refused unless allowed.

    Redirects are followed (at most 5), each checked like the first URL. A 4xx answer is returned;
    a 5xx answer or a connection failure is a retryable ``network`` error.

    Args:
        url: The http:// or https:// URL to fetch.
        method: HTTP method.
        headers: Request headers.
        body: Request body, sent as UTF-8 text.
        timeout: Seconds the whole fetch, redirects included, may take.
        max_bytes: Refuse response bodies larger than this many bytes.
    """
    import httpx

    start = _parse_url(url)
    content = body.encode("utf-8") if body is not None else None
    result: FetchResult | None = None
    try:
        with anyio.move_on_after(timeout):
            async with httpx.AsyncClient(follow_redirects=False, trust_env=False,
                                         timeout=httpx.Timeout(timeout)) as client:
                result = await _follow(client, start, method, dict(headers), content, max_bytes)
    except httpx.TimeoutException:
        result = None
    except httpx.TransportError as exc:
        raise ToolFailure(f"cannot fetch {url!r}: {type(exc).__name__}: {exc}", kind=ErrorKind.NETWORK,
                          retryable=True, details={"url": url}) from None
    if result is None:
        raise ToolFailure(f"fetching {url!r} took longer than {timeout:g}s", kind=ErrorKind.TIMEOUT,
                          retryable=True, details={"url": url, "timeout": timeout})
    return result
