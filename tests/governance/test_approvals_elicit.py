"""An MCP client that can elicit is asked to approve its own user's call, where the rule allows it — in a
session by ``elicitation/create``, statelessly (2026-07-28) by an ``input_required`` round — with the queue as
the source of truth: the answer is a recorded grant or denial over ``mcp``, and a decision made elsewhere wins."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anyio
import mcp_types as types
import pytest
from mcp import Client

import toolnexus as tn
from tests.engine.support import await_until
from tests.fixtures.tools import echo
from toolnexus.governance import ALLOW, CallPlan, Decision, Verdict
from toolnexus.governance.approvals import ApprovalQueue, Approvals
from toolnexus.governance.approvals_ask import ASKED
from toolnexus.mcp_server.server import ToolServer
from toolnexus.registry import spec_of

pytestmark = pytest.mark.anyio


class NeedsApproval:
    """A gate sending every call of ``test.echo`` for approval under the rule ``review``."""

    def __init__(self, queue: ApprovalQueue) -> None:
        self.queue = queue

    async def check(self, plan: CallPlan) -> Decision:
        """Wait for test.echo; allow anything else."""
        return Decision(verdict=Verdict.WAIT, policy="review", reason="echoes need a review") \
            if plan.tool == "test.echo" else ALLOW

    async def settle(self, plan: CallPlan, pending: Decision) -> Decision:
        """The queue's verdict."""
        return await self.queue.settle(plan, pending)


@pytest.fixture
def server(nexus: tn.Nexus) -> Iterator[ToolServer]:
    nexus.registry.register(spec_of(echo))
    tool_server = ToolServer(nexus)
    yield tool_server
    tool_server.close()


def _queue(nexus: tn.Nexus, **options: Any) -> ApprovalQueue:
    assert nexus.store is not None
    queue = ApprovalQueue(nexus.store, timeout=60, announce=nexus.bus.emit, **options)
    nexus.governance.gate = NeedsApproval(queue)
    return queue


def _answering(content: dict[str, Any] | None, action: str = "accept", asked: list[str] | None = None) -> Any:
    async def on_elicit(context: Any, params: Any) -> types.ElicitResult:
        if asked is not None:
            asked.append(params.message)
        return types.ElicitResult(action=action, content=content)  # type: ignore[arg-type]

    return on_elicit


async def test_a_client_in_a_session_approves_its_users_call(nexus: tn.Nexus, server: ToolServer) -> None:
    queue = _queue(nexus)
    asked: list[str] = []
    on_elicit = _answering({"approve": True, "reason": "my own call"}, asked=asked)
    async with Client(server.server, mode="legacy", elicitation_callback=on_elicit) as client:
        result = await client.call_tool("test.echo", {"value": "hi"})
    assert result.is_error is False and result.structured_content == {"result": "hi"}
    [ticket] = queue.list()
    assert (ticket.status, ticket.channel, ticket.decided_by, ticket.decision_reason) == (
        "granted", "mcp", ticket.principal, "my own call")
    assert asked == [f"Approve the call of test.echo with {{'value': 'hi'}} (rule review — echoes need a review)? "
                     f"Ticket {ticket.ticket}."]


async def test_declining_denies_the_call(nexus: tn.Nexus, server: ToolServer) -> None:
    queue = _queue(nexus)
    async with Client(server.server, mode="legacy", elicitation_callback=_answering(None, "decline")) as client:
        result = await client.call_tool("test.echo", {"value": "hi"})
    assert result.is_error is True
    error = result.structured_content["error"]  # type: ignore[index]
    assert error["kind"] == "denied" and "declined by the user of the MCP client" in error["message"]
    assert [t.status for t in queue.list()] == ["denied"]


async def test_a_stateless_client_approves_through_an_input_required_round(nexus: tn.Nexus,
                                                                          server: ToolServer) -> None:
    queue = _queue(nexus)
    asked: list[str] = []
    on_elicit = _answering({"approve": True}, asked=asked)
    async with Client(server.server, mode="2026-07-28", elicitation_callback=on_elicit) as client:
        result = await client.call_tool("test.echo", {"value": "hi"})  # the SDK client calls again with the answer
    assert result.is_error is False and result.structured_content == {"result": "hi"}
    assert len(asked) == 1
    second, first = queue.list()
    assert (first.status, first.decision_reason) == ("withdrawn", ASKED)
    assert (second.status, second.channel, second.digest) == ("granted", "mcp", first.digest)


async def test_under_four_eyes_the_client_is_not_asked(nexus: tn.Nexus, server: ToolServer) -> None:
    queue = _queue(nexus, rule_of=lambda rule: {"four_eyes": True})
    assert nexus.store is not None
    asked: list[str] = []
    results: list[Any] = []
    async with Client(server.server, mode="legacy", elicitation_callback=_answering({}, asked=asked)) as client, \
            anyio.create_task_group() as tg:
        async def call() -> None:
            results.append(await client.call_tool("test.echo", {"value": "hi"}))

        tg.start_soon(call)
        await await_until(lambda: queue.list("requested"), what="the request")
        Approvals(nexus.store, principal="a-colleague").approve(queue.list("requested")[0].ticket)
    assert asked == [] and results[0].is_error is False


async def test_a_decision_made_elsewhere_wins_over_the_clients_pending_question(nexus: tn.Nexus,
                                                                                server: ToolServer) -> None:
    queue = _queue(nexus)
    assert nexus.store is not None
    asked = anyio.Event()

    async def never_answers(context: Any, params: Any) -> types.ElicitResult:
        asked.set()
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    results: list[Any] = []
    async with Client(server.server, mode="legacy", elicitation_callback=never_answers) as client, \
            anyio.create_task_group() as tg:
        async def call() -> None:
            results.append(await client.call_tool("test.echo", {"value": "hi"}))

        tg.start_soon(call)
        await asked.wait()
        Approvals(nexus.store, principal="reviewer").deny(queue.list("requested")[0].ticket, "not this one")
    assert results[0].is_error is True
    assert "not this one" in results[0].structured_content["error"]["message"]
