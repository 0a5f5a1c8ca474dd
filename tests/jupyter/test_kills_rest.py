"""REST on the Jupyter server for the kill switches: a switch set over ``/toolnexus/api/kills`` refuses an MCP
client's call and a call made by another Nexus on the workspace; lifting it (with an approval someone else granted,
under ``guard_loosening``) lets them run again; errors are JSON with their status."""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

import pytest
from jupyter_server.auth.identity import IdentityProvider, User
from tornado.httpclient import HTTPClientError
from tornado.web import RequestHandler

from toolnexus.api import Nexus
from toolnexus.jupyter.extension import ToolnexusExtension

USER_HEADER = "X-Test-User"


class NamedUsers(IdentityProvider):
    """Token authentication as usual, but the authenticated user is the one ``X-Test-User`` names: a token-only
    request is otherwise a new anonymous user each time, and four eyes need two stable ones."""

    async def get_user(self, handler: RequestHandler) -> User | None:  # type: ignore[override]
        user = super().get_user(handler)
        user = await user if inspect.isawaitable(user) else user
        name = handler.request.headers.get(USER_HEADER)
        return User(username=name) if user is not None and name else user


@pytest.fixture
def jp_server_config(jp_server_config: dict[str, Any]) -> dict[str, Any]:
    return {**jp_server_config, "ServerApp": {**jp_server_config["ServerApp"], "identity_provider_class": NamedUsers}}


@pytest.fixture
def kills_api(toolnexus_server: ToolnexusExtension, jp_fetch: Any) -> Any:
    """``await kills_api(*path, method=..., body=..., user=..., headers=..., **params)`` → (status, JSON) on the
    REST endpoint, as the Jupyter user ``user`` (default ann)."""

    async def call(*path: str, method: str = "GET", body: Any = None, user: str = "ann",
                   headers: dict[str, str] | None = None, **params: str) -> tuple[int, Any]:
        try:
            response = await jp_fetch("toolnexus", "api", "kills", *path, method=method, params=params,
                                      headers={USER_HEADER: user, **(headers or {})},
                                      body=None if body is None else json.dumps(body))
        except HTTPClientError as exc:
            assert exc.response is not None
            return exc.code, json.loads(exc.response.body) if exc.response.body else None
        return response.code, json.loads(response.body)

    return call


async def _echo_error(mcp_connect: Any) -> dict[str, Any] | None:
    """The error of an MCP client's call of test.echo (None: it ran)."""
    async with mcp_connect("legacy") as client:
        result = await client.call_tool("test.echo", {"value": "hello"})
    return result.structured_content["error"] if result.is_error else None


async def test_a_switch_set_over_rest_refuses_mcp_calls_and_other_processes_until_lifted(
        kills_api: Any, mcp_connect: Any, toolnexus_workspace: Path) -> None:
    status, record = await kills_api(method="POST", body={"target": "test.*", "reason": "leaks data"})
    assert status == 201, record
    assert (record["scope"], record["target"], record["reason"], record["active"]) == ("tool", "test.*",
                                                                                       "leaks data", True)
    user = record["by"]
    assert user == "ann"  # the Jupyter user

    error = await _echo_error(mcp_connect)
    assert error is not None and error["kind"] == "denied"
    assert f"test.echo is stopped by a kill switch on tool test.* by {user}: leaks data" in error["message"]
    with Nexus(toolnexus_workspace) as other:  # another process's view: the same store
        assert other.kills is not None
        stopping = other.kills.stopping("test.echo")
        assert stopping is not None and stopping.reason == "leaks data"

    status, again = await kills_api(method="POST", body={"target": "test.*", "reason": "still"})
    assert status == 200 and again["id"] == record["id"] and again["reason"] == "leaks data"
    status, active = await kills_api()
    assert status == 200 and [r["id"] for r in active] == [record["id"]]

    status, lifted = await kills_api("unkill", method="POST", body={"target": "test.*"}, user="bob")
    assert status == 200, lifted
    assert [(r["id"], r["active"], r["lifted_by"]) for r in lifted] == [(record["id"], False, "bob")]
    assert await _echo_error(mcp_connect) is None
    status, active = await kills_api()
    assert status == 200 and active == []
    status, history = await kills_api(all="1")
    assert status == 200 and [(r["id"], r["active"]) for r in history] == [(record["id"], False)]


async def test_a_namespace_switch_stops_a_call_in_another_nexus(kills_api: Any, toolnexus_workspace: Path) -> None:
    status, _ = await kills_api(method="POST", body={"target": "json", "scope": "namespace", "reason": "review"})
    assert status == 201
    with Nexus(toolnexus_workspace) as other:
        result = other.call("json.query", {"data": {"a": 1}, "query": "a"})
    assert result.error is not None and result.error.kind == "denied"
    assert "kill switch on namespace json" in result.error.message


@pytest.mark.parametrize(("path", "body", "status", "message"), [
    ((), {"target": "test.echo"}, 400, "a kill switch needs a reason"),
    ((), {"target": "test.echo", "reason": "  "}, 400, "a kill switch needs a reason"),
    ((), {"reason": "why"}, 400, "a tool switch needs a target"),
    ((), {"target": "x", "scope": "planet", "reason": "why"}, 400, "unknown scope 'planet'"),
    ((), {"target": 3, "reason": "why"}, 400, "target must be a string"),
    ((), [1], 400, "the body must be a JSON object"),
    (("unkill",), {"target": "test.echo"}, 404, "no kill switch is set on test.echo"),
    (("unkill",), {}, 400, "needs a target"),
])
async def test_bad_requests_are_json_errors(kills_api: Any, path: tuple[str, ...], body: Any, status: int,
                                            message: str) -> None:
    got, problem = await kills_api(*path, method="POST", body=body)
    assert got == status and message in problem["error"]["message"], problem
    assert (await kills_api())[1] == []  # nothing was set


async def test_an_unauthenticated_request_is_refused(kills_api: Any) -> None:
    wrong = {"Authorization": "token not-the-token"}
    assert (await kills_api(headers=wrong))[0] == 403
    status, _ = await kills_api(method="POST", body={"target": "test.echo", "reason": "x"}, headers=wrong)
    assert status == 403
    assert (await kills_api())[1] == []


class TestGuardedUnkill:
    """Under ``[governance] guard_loosening``, lifting needs an approval granted by someone else."""

    @pytest.fixture
    def toolnexus_workspace(self, toolnexus_workspace: Path) -> Path:
        (toolnexus_workspace / "toolnexus.toml").write_text("[governance]\nguard_loosening = true\n")
        return toolnexus_workspace

    async def test_lifting_files_a_ticket_that_a_second_principal_grants(
            self, kills_api: Any, jp_fetch: Any, mcp_connect: Any) -> None:
        status, record = await kills_api(method="POST", body={"target": "test.echo", "reason": "incident 42"})
        assert status == 201
        status, needed = await kills_api("unkill", method="POST", body={"target": "test.echo", "scope": "tool"})
        assert status == 409, needed
        ticket = needed["ticket"]
        assert (ticket["tool"], ticket["arguments"], ticket["principal"], ticket["status"]) == (
            "governance.unkill", {"target": "test.echo", "scope": "tool"}, "ann", "requested")
        assert f"ticket {ticket['ticket']} filed" in needed["error"]["message"]
        assert (await kills_api())[1][0]["active"] is True  # nothing lifted

        body = {"target": "test.echo", "scope": "tool", "ticket": ticket["ticket"]}
        status, problem = await kills_api("unkill", method="POST", body=body)
        assert status == 409 and "requested, not granted" in problem["error"]["message"]

        async def approve(user: str) -> int:
            try:
                response = await jp_fetch("toolnexus", "api", "approvals", ticket["ticket"], "approve",
                                          method="POST", body="{}", headers={USER_HEADER: user})
            except HTTPClientError as exc:
                return exc.code
            return response.code

        assert await approve("ann") == 403  # the requester may not grant it: four eyes
        assert await approve("bob") == 200  # a second principal does, over the approvals API

        status, lifted = await kills_api("unkill", method="POST", body=body)
        assert status == 200, lifted
        assert [(r["id"], r["active"]) for r in lifted] == [(record["id"], False)]
        assert await _echo_error(mcp_connect) is None

        # The ticket is used up: a switch set again needs a new approval.
        await kills_api(method="POST", body={"target": "test.echo", "reason": "again"})
        status, problem = await kills_api("unkill", method="POST", body=body)
        assert status == 409 and "used already" in problem["error"]["message"], problem
