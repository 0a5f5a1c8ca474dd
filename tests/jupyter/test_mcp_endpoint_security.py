"""Who may reach the endpoint: Jupyter's credentials, Host and Origin checks against DNS rebinding,
and toolsets that narrow what a client sees."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx2
import pytest
from jupyter_server.base.handlers import JupyterHandler

from toolnexus.jupyter import handlers
from toolnexus.jupyter.extension import ToolnexusExtension

INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
              "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                         "clientInfo": {"name": "probe", "version": "1"}}}
MCP_ACCEPT = {"Accept": "application/json, text/event-stream"}


@pytest.fixture
def toolnexus_workspace(toolnexus_workspace: Path) -> Path:
    (toolnexus_workspace / "toolnexus.toml").write_text(
        '[toolsets.testing]\ndescription = "the test fixtures"\nnamespaces = ["test"]\n')
    return toolnexus_workspace


async def post(url: str, headers: dict[str, str], body: Any = INITIALIZE) -> httpx2.Response:
    async with httpx2.AsyncClient(timeout=30) as http:
        return await http.post(url, json=body, headers={**MCP_ACCEPT, **headers})


async def test_a_request_without_credentials_is_refused(mcp_url: str) -> None:
    refused = await post(mcp_url, {})
    async with httpx2.AsyncClient(timeout=30) as http:
        stream = await http.get(mcp_url, headers={"Accept": "text/event-stream"})
    assert refused.status_code == 403
    assert stream.status_code == 403  # a status, not a redirect to the login page
    # Told what is missing, not Jupyter's "'_xsrf' argument missing" (its XSRF check runs first).
    assert "authentication required" in refused.json()["error"]["message"]


async def test_a_token_is_enough_without_an_xsrf_token(mcp_url: str, mcp_headers: dict[str, str]) -> None:
    accepted = await post(mcp_url, mcp_headers)
    assert accepted.status_code == 200
    assert accepted.headers.get("mcp-session-id")


async def test_a_foreign_origin_is_refused_even_with_a_token(mcp_url: str, mcp_headers: dict[str, str]) -> None:
    foreign = await post(mcp_url, {**mcp_headers, "Origin": "http://evil.example.com"})
    same = await post(mcp_url, {**mcp_headers, "Origin": "http://" + httpx2.URL(mcp_url).netloc.decode()})
    assert foreign.status_code == 403
    assert "Origin" in foreign.json()["error"]["message"]
    assert same.status_code == 200


async def test_a_foreign_host_is_refused(mcp_url: str, mcp_headers: dict[str, str]) -> None:
    rebound = await post(mcp_url, {**mcp_headers, "Host": "evil.example.com"})
    assert rebound.status_code == 403


async def test_a_local_host_is_remembered_and_a_foreign_one_refused_every_time(
        jp_serverapp: Any, mcp_url: str, mcp_headers: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[str] = []
    original = JupyterHandler.check_host  # Jupyter's own check, under the endpoint's memory of its answers

    def check_host(handler: JupyterHandler) -> bool:
        asked.append(handler.request.host)
        return original(handler)

    monkeypatch.setattr(JupyterHandler, "check_host", check_host)
    monkeypatch.setattr(handlers, "_local_hosts", {})
    local = httpx2.URL(mcp_url).netloc.decode()
    statuses = [(await post(mcp_url, {**mcp_headers, "Host": host})).status_code
                for host in (local, local, "evil.example.com", "evil.example.com")]
    jp_serverapp.web_app.settings["local_hostnames"] = ["localhost", "other.example"]  # the settings changed
    statuses.append((await post(mcp_url, {**mcp_headers, "Host": local})).status_code)
    assert statuses == [200, 200, 403, 403, 200]
    # Jupyter was asked for the first local request, for each foreign one, and again once its settings changed.
    assert asked == [local, "evil.example.com", "evil.example.com", local]


@pytest.mark.parametrize("where", ["path", "query"])
async def test_a_toolset_narrows_the_catalog_and_search(toolnexus_server: ToolnexusExtension, mcp_url: str,
                                                        mcp_connect: Any, where: str) -> None:
    url = f"{mcp_url}/testing" if where == "path" else f"{mcp_url}?toolset=testing"
    async with mcp_connect("legacy", url=url) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        hits = (await client.call_tool("tools.search", {"query": "read a file of the workspace"})).structured_content
        outside = None
        try:
            await client.call_tool("files.read", {"path": "x"})
        except Exception as exc:  # not in the toolset: an unknown tool to this client
            outside = exc
    assert names and all(n.startswith("test.") or n == "tools.search" for n in names)
    assert "test.echo" in names and "files.read" not in names
    assert all(h["name"].startswith("test.") for h in hits["hits"])
    assert getattr(outside, "code", None) == -32602


async def test_an_unknown_toolset_is_not_found(mcp_url: str, mcp_headers: dict[str, str]) -> None:
    missing = await post(f"{mcp_url}/tesitng", mcp_headers)
    assert missing.status_code == 404
    assert "testing" in missing.json()["error"]["message"]  # did you mean …


async def test_a_connection_reuses_its_identity_only_for_the_same_credentials(
        jp_serverapp: Any, mcp_url: str, mcp_headers: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    provider = jp_serverapp.identity_provider
    asked: list[str] = []
    original = provider.get_user_token  # where Jupyter's provider checks a token (once it has no user yet)

    def get_user_token(handler: Any) -> Any:
        asked.append(handler.request.headers.get("Authorization", ""))
        return original(handler)

    monkeypatch.setattr(provider, "get_user_token", get_user_token)
    statuses = []
    # One keep-alive connection: the same token twice, then a wrong one, none, and the right one again.
    async with httpx2.AsyncClient(timeout=30, limits=httpx2.Limits(max_connections=1)) as http:
        for headers in (mcp_headers, mcp_headers, {"Authorization": "token wrong"}, {}, mcp_headers):
            reply = await http.post(mcp_url, json=INITIALIZE, headers={**MCP_ACCEPT, **headers})
            statuses.append(reply.status_code)
    assert statuses == [200, 200, 403, 403, 200]
    # Asked for the first request and for each change of credentials; the token's repeats reuse its answer.
    assert asked == [mcp_headers["Authorization"], "token wrong", ""]


async def test_the_endpoint_sets_no_login_cookie(mcp_url: str, mcp_headers: dict[str, str]) -> None:
    accepted = await post(mcp_url, mcp_headers)
    async with httpx2.AsyncClient(timeout=30) as http:  # Jupyter's own API does, for the same token
        status = await http.get(mcp_url.removesuffix("toolnexus/mcp") + "api/status", headers=mcp_headers)
    assert accepted.status_code == 200 and "set-cookie" not in accepted.headers
    assert status.status_code == 200 and "set-cookie" in status.headers
