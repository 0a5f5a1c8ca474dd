"""Jupyter's authorizer is asked per tool call (``execute`` on ``toolnexus``): a user who may not
execute can still list tools, and a call comes back as a ``denied`` error result."""

from __future__ import annotations

from typing import Any

import pytest
from jupyter_server.auth.authorizer import Authorizer

from toolnexus.jupyter.extension import ToolnexusExtension


class ListButNoCalls(Authorizer):
    """Lets everyone in, but nobody execute toolnexus tools."""

    def is_authorized(self, handler: Any, user: Any, action: str, resource: str) -> bool:
        return not (resource == "toolnexus" and action == "execute")


@pytest.fixture
def jp_server_config(jp_server_config: dict[str, Any]) -> dict[str, Any]:
    return {**jp_server_config, "ServerApp": {**jp_server_config["ServerApp"], "authorizer_class": ListButNoCalls}}


async def test_the_authorizer_decides_each_call(toolnexus_server: ToolnexusExtension, mcp_connect: Any) -> None:
    async with mcp_connect("legacy") as client:
        names = {t.name for t in (await client.list_tools()).tools}
        denied = await client.call_tool("test.echo", {"value": "x"})
    assert "test.echo" in names
    assert denied.is_error is True
    assert denied.structured_content["error"]["kind"] == "denied"
