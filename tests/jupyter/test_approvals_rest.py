"""REST on the Jupyter server for the approvals queue: an MCP client's call parked for approval is released by a
grant over ``/toolnexus/api/approvals`` (or fails with a denial's reason); errors are JSON with their status."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from jupyter_server.auth.authorizer import Authorizer
from tornado.httpclient import HTTPClientError

from toolnexus.core.decision import ALLOW, Decision, Verdict
from toolnexus.governance import CallPlan
from toolnexus.governance.approvals import ApprovalQueue
from toolnexus.jupyter.extension import ToolnexusExtension


class NeedsApproval:
    """A gate sending every call of ``test.echo`` for approval under the rule ``review``."""

    def __init__(self, queue: ApprovalQueue) -> None:
        self.queue = queue

    async def check(self, plan: CallPlan) -> Decision:
        """Wait for test.echo; allow anything else."""
        return Decision(verdict=Verdict.WAIT, policy="review") if plan.tool == "test.echo" else ALLOW

    async def settle(self, plan: CallPlan, pending: Decision) -> Decision:
        """The queue's verdict."""
        return await self.queue.settle(plan, pending)


@pytest.fixture
def approvals_api(toolnexus_server: ToolnexusExtension, jp_serverapp: Any, jp_base_url: str,
                  jp_fetch: Any) -> Any:
    """``await approvals_api(*path, method=..., body=...)`` → (status, JSON) on the REST endpoint; the server's
    gate sends test.echo for approval (the extension registers the handlers itself)."""
    assert toolnexus_server.service is not None
    nexus = toolnexus_server.service.nexus
    assert nexus.store is not None
    nexus.governance.gate = NeedsApproval(ApprovalQueue(nexus.store, timeout=60, announce=nexus.bus.emit))

    async def call(*path: str, method: str = "GET", body: Any = None, **params: str) -> tuple[int, Any]:
        try:
            response = await jp_fetch("toolnexus", "api", "approvals", *path, method=method, params=params,
                                      body=None if body is None else json.dumps(body), allow_nonstandard_methods=True)
        except HTTPClientError as exc:
            assert exc.response is not None
            return exc.code, json.loads(exc.response.body)
        return response.code, json.loads(response.body)

    return call


async def _requested(approvals_api: Any) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while True:
        status, tickets = await approvals_api(status="requested")
        assert status == 200, tickets
        if tickets:
            return tickets[0]
        assert time.monotonic() < deadline, "no approval was requested"
        await asyncio.sleep(0.02)


async def test_a_grant_over_rest_releases_an_mcp_clients_call(approvals_api: Any, mcp_connect: Any) -> None:
    notes: list[str | None] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        notes.append(message)

    async with mcp_connect("legacy") as client:
        call = asyncio.ensure_future(client.call_tool("test.echo", {"value": "hello"}, progress_callback=on_progress))
        ticket = await _requested(approvals_api)
        assert ticket["tool"] == "test.echo" and ticket["surface"] == "mcp" and ticket["rule"] == "review"
        status, shown = await approvals_api(ticket["ticket"][-6:])
        assert status == 200 and shown["ticket"] == ticket["ticket"]
        status, granted = await approvals_api(ticket["ticket"], "approve", method="POST", body={"reason": "ok"})
        assert status == 200, granted
        result = await asyncio.wait_for(call, 30)
    assert result.is_error is not True, result
    assert f"waiting for approval of test.echo (rule review, ticket {ticket['ticket']})" in notes
    # (A token-authenticated request is made by an anonymous Jupyter user with a name of its own.)
    assert (granted["status"], granted["channel"], granted["decision_reason"]) == ("granted", "rest", "ok")
    assert granted["decided_by"]
    status, again = await approvals_api(ticket["ticket"], "approve", method="POST")
    assert status == 409 and "already granted" in again["error"]["message"]


async def test_a_denial_over_rest_fails_the_call_with_its_reason(approvals_api: Any, mcp_connect: Any) -> None:
    async with mcp_connect("legacy") as client:
        call = asyncio.ensure_future(client.call_tool("test.echo", {"value": "hello"}))
        ticket = await _requested(approvals_api)
        status, problem = await approvals_api(ticket["ticket"], "deny", method="POST", body={})
        assert status == 400 and "needs a reason" in problem["error"]["message"]
        status, denied = await approvals_api(ticket["ticket"], "deny", method="POST", body={"reason": "not now"})
        assert status == 200, denied
        result = await asyncio.wait_for(call, 30)
    assert result.is_error is True
    error = result.structured_content["error"]
    assert error["kind"] == "denied" and "not now" in error["message"]


@pytest.mark.parametrize(("body", "message"), [
    ({"scope": "forever"}, "unknown scope"),
    ({"scope": "pattern"}, "a pattern grant and its match go together"),
    ({"scope": "run", "for": "soon"}, "is not a duration"),
    ({"scope": "pattern", "match": {"value": 3}}, "match must map argument paths to globs"),
])
async def test_a_bad_grant_is_a_400(approvals_api: Any, mcp_connect: Any, body: dict[str, Any], message: str) -> None:
    async with mcp_connect("legacy") as client:
        call = asyncio.ensure_future(client.call_tool("test.echo", {"value": "hello"}))
        ticket = await _requested(approvals_api)
        status, problem = await approvals_api(ticket["ticket"], "approve", method="POST", body=body)
        assert status == 400 and message in problem["error"]["message"], problem
        await approvals_api(ticket["ticket"], "deny", method="POST", body={"reason": "done"})
        await asyncio.wait_for(call, 30)


async def test_an_unknown_ticket_is_a_404(approvals_api: Any) -> None:
    status, problem = await approvals_api("apr-nope")
    assert status == 404 and "no approval ticket 'apr-nope'" in problem["error"]["message"]
    status, problem = await approvals_api("apr-nope", "approve", method="POST", body={})
    assert status == 404


class ReadOnly(Authorizer):
    """Lets everyone in, but nobody approve."""

    def is_authorized(self, handler: Any, user: Any, action: str, resource: str) -> bool:
        return not (resource == "toolnexus" and action == "approve")


class TestAuthorizer:
    """Granting and denying ask Jupyter's authorizer for ``approve`` on ``toolnexus``."""

    @pytest.fixture
    def jp_server_config(self, jp_server_config: dict[str, Any]) -> dict[str, Any]:
        return {**jp_server_config, "ServerApp": {**jp_server_config["ServerApp"], "authorizer_class": ReadOnly}}

    async def test_a_user_who_may_not_approve_can_list_but_not_grant(self, approvals_api: Any) -> None:
        status, tickets = await approvals_api()
        assert status == 200 and tickets == []
        status, _ = await approvals_api("apr-any", "approve", method="POST", body={})
        assert status == 403


async def test_a_cancelled_mcp_request_withdraws_its_approval_request(approvals_api: Any, mcp_connect: Any) -> None:
    async with mcp_connect("legacy") as client:
        call = asyncio.ensure_future(client.call_tool("test.echo", {"value": "hello"}))
        ticket = await _requested(approvals_api)
        call.cancel()
        deadline = time.monotonic() + 20
        while (await approvals_api(ticket["ticket"]))[1]["status"] == "requested":
            assert time.monotonic() < deadline, "the request was not withdrawn"
            await asyncio.sleep(0.02)
    assert (await approvals_api(ticket["ticket"]))[1]["status"] == "withdrawn"
