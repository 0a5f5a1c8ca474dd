"""A real Jupyter server with the toolnexus extension, for the endpoint tests (and the conformance suite).

pytest-jupyter ships no pytest entry point, so its fixtures and hooks are imported here (they apply to
this folder only). Its ``jp_*`` fixtures are function-scoped: each test gets a fresh server.

Use::

    async def test_x(mcp_url, mcp_headers, toolnexus_server):
        async with Client(...mcp_url, headers=mcp_headers...) as client: ...

Extra tools, registered only in the test's server:

- override ``mcp_tool_modules`` (a list of ``@tool`` module names) in a test module or test, or
- at run time, ``toolnexus_server.service.nexus.registry.register(spec)``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest_jupyter.jupyter_server import *  # noqa: F403  (fixtures and hooks of pytest-jupyter)

from toolnexus.jupyter.extension import ENDPOINT, ToolnexusExtension, toolnexus_extension


@pytest.fixture
def mcp_tool_modules() -> list[str]:
    """``@tool`` modules loaded into the test server's registry (and no other)."""
    return ["tests.fixtures.tools"]


@pytest.fixture
def toolnexus_workspace(jp_root_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The server's workspace (its root_dir), with no TOOLNEXUS_/MLFLOW_ variables leaking in."""
    for name in list(os.environ):
        if name.startswith(("TOOLNEXUS_", "MLFLOW_")):
            monkeypatch.delenv(name)
    # MLflow tracking is tested in tests/tracking; here it would only add time.
    monkeypatch.setenv("TOOLNEXUS_TRACKING__ENABLED", "false")
    return jp_root_dir


@pytest.fixture
def jp_server_config(mcp_tool_modules: list[str], toolnexus_workspace: Path) -> dict[str, Any]:
    return {
        "ServerApp": {"jpserver_extensions": {"toolnexus.jupyter": True}},
        "ToolnexusExtension": {"tool_modules": mcp_tool_modules},
    }


@pytest.fixture
def toolnexus_server(jp_serverapp: Any, jp_asyncio_loop: Any) -> Iterator[ToolnexusExtension]:
    """The started extension (its ``service`` holds the Nexus, the ToolServer and the bridge).

    pytest-jupyter does not start extensions, so this does (as ``jupyter server`` would), and stops
    them afterwards: the MCP sessions end and the Nexus's worker processes stop.
    """
    extension = toolnexus_extension(jp_serverapp)
    jp_asyncio_loop.run_until_complete(extension.ensure_started())
    yield extension
    jp_asyncio_loop.run_until_complete(extension.stop_extension())


@pytest.fixture
def mcp_url(toolnexus_server: ToolnexusExtension, http_server_client: Any, jp_base_url: str) -> str:
    """The endpoint's absolute URL on the test server (its base URL is not ``/``)."""
    return f"http://127.0.0.1:{http_server_client.get_http_port()}{jp_base_url}{ENDPOINT}"


@pytest.fixture
def mcp_headers(jp_auth_header: dict[str, str]) -> dict[str, str]:
    """Headers that authenticate with the test server's token."""
    return dict(jp_auth_header)


@pytest.fixture
def mcp_connect(mcp_url: str, mcp_headers: dict[str, str]) -> Any:
    """``async with mcp_connect(mode="legacy" | "auto", **client_kwargs) as client`` — the official SDK
    client on the endpoint (``legacy``: the 2025-11-25 handshake; ``auto``: 2026-07-28)."""
    from contextlib import asynccontextmanager

    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    @asynccontextmanager
    async def connect(mode: str = "legacy", url: str | None = None, **kwargs: Any) -> Any:
        async with httpx2.AsyncClient(headers=mcp_headers, timeout=httpx2.Timeout(30, read=120)) as http:
            transport = streamable_http_client(url or mcp_url, http_client=http)
            async with Client(transport, mode=mode, cache=None, **kwargs) as client:
                yield client

    return connect
