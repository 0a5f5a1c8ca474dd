"""The approvals queue through a real Nexus: a parked call waits in the state store until a person decides —
from the CLI in a second process, or from Python — and is released, denied, expired or withdrawn."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import anyio
import pytest

import toolnexus as tn
from tests.engine.support import Recorder, await_until
from toolnexus.core.call import ToolResult
from toolnexus.core.caller import os_user
from toolnexus.core.context import CallChannel, reset_channel, use_channel
from toolnexus.core.events import GovernanceChanged
from toolnexus.governance import ALLOW, CallPlan, Decision, Verdict
from toolnexus.governance.approvals import ApprovalQueue, Approvals
from toolnexus.store.approvals import ApprovalRecord

pytestmark = pytest.mark.anyio


class NeedsApproval:
    """A gate sending every call of ``eng.mark`` for approval under the rule ``review``, settled by ``queue``."""

    def __init__(self, queue: ApprovalQueue, ticket: str | None = None) -> None:
        self.queue = queue
        self.ticket = ticket

    async def check(self, plan: CallPlan) -> Decision:
        """Wait for eng.mark (naming the ticket, if this gate has one); allow anything else."""
        if plan.tool == "eng.mark":
            return Decision(verdict=Verdict.WAIT, policy="review", reason="marks need a review", ticket=self.ticket)
        return ALLOW

    async def settle(self, plan: CallPlan, pending: Decision) -> Decision:
        """The queue's verdict."""
        return await self.queue.settle(plan, pending)


def _queue(enx: tn.Nexus, **options: Any) -> ApprovalQueue:
    assert enx.store is not None
    queue = ApprovalQueue(enx.store, announce=enx.bus.emit, **{"timeout": 60.0, **options})
    enx.governance.gate = NeedsApproval(queue)
    return queue


@pytest.fixture
def queue(enx: tn.Nexus) -> ApprovalQueue:
    return _queue(enx)


async def _requested(queue: ApprovalQueue, besides: Iterable[str] = ()) -> ApprovalRecord:
    """The newest open ticket not in ``besides``, once one is recorded."""
    seen = set(besides)
    fresh: list[ApprovalRecord] = []

    def found() -> bool:
        fresh[:] = [r for r in queue.list("requested") if r.ticket not in seen]
        return bool(fresh)

    await await_until(found, what="an approval request")
    return fresh[0]


async def _cli(workspace: Path, *args: str) -> tuple[int, str]:
    done = await anyio.run_process([sys.executable, "-m", "toolnexus.cli", "approvals", *args, "-w", str(workspace)],
                                   check=False)
    return done.returncode, done.stderr.decode()


async def _while_parked(enx: tn.Nexus, queue: ApprovalQueue, decide: Callable[[ApprovalRecord], Any],
                        marker: str = "m.count", **arguments: Any) -> tuple[ToolResult, ApprovalRecord]:
    """Call eng.mark, wait for its ticket, run ``decide(ticket)`` (may be async); the call's result and ticket."""
    results: list[ToolResult] = []
    before = [r.ticket for r in queue.list()]
    path = Path(enx.workspace) / marker
    count = path.read_text() if path.exists() else None

    async def call() -> None:
        results.append(await enx.acall("eng.mark", marker=marker, **arguments))

    async with anyio.create_task_group() as tg:
        tg.start_soon(call)
        ticket = await _requested(queue, before)
        assert (path.read_text() if path.exists() else None) == count  # parked: the tool has not run
        outcome = decide(ticket)
        if hasattr(outcome, "__await__"):
            await outcome
    return results[0], ticket


async def test_a_grant_from_the_cli_in_another_process_releases_the_call(
        enx: tn.Nexus, queue: ApprovalQueue, events: Recorder, workspace: Path) -> None:
    async def approve(ticket: ApprovalRecord) -> None:
        code, err = await _cli(workspace, "approve", ticket.ticket[-6:], "--reason", "looks fine")
        assert code == 0, err

    result, ticket = await _while_parked(enx, queue, approve, value="x")
    assert result.ok, result.error
    assert (workspace / "m.count").read_text() == "1"
    stored = queue.show(ticket.ticket)
    assert (stored.status, stored.decided_by, stored.channel, stored.uses_left) == ("granted", os_user(), "cli", 0)
    assert stored.arguments == {"marker": "m.count", "value": "x"} and stored.rule == "review"
    decided = [e.decision for e in events.of("gate_decided")]
    assert [d.verdict for d in decided] == [Verdict.WAIT, Verdict.ALLOW]
    assert decided[-1].decider == "approval" and os_user() in decided[-1].reason and "looks fine" in decided[-1].reason
    [requested] = events.of("governance_changed")
    assert isinstance(requested, GovernanceChanged) and requested.action == "approval_requested"
    assert requested.target == ticket.ticket


async def test_a_denied_call_fails_with_the_reviewers_reason(enx: tn.Nexus, queue: ApprovalQueue,
                                                             workspace: Path) -> None:
    async def deny(ticket: ApprovalRecord) -> None:
        code, err = await _cli(workspace, "deny", ticket.ticket, "--reason", "not on a Friday")
        assert code == 0, err

    result, _ = await _while_parked(enx, queue, deny)
    assert result.error is not None and result.error.kind == tn.ErrorKind.DENIED
    assert "not on a Friday" in result.error.message and result.error.details == {"policy": "review"}
    assert not (workspace / "m.count").exists()


async def test_an_approval_nobody_gives_expires(enx: tn.Nexus, events: Recorder, workspace: Path) -> None:
    queue = _queue(enx, timeout=0.2)
    result = await enx.acall("eng.mark", marker="m.count")
    assert result.error is not None and result.error.kind == tn.ErrorKind.APPROVAL_EXPIRED, result.error
    assert "expired" in result.error.message
    [record] = queue.list()
    assert record.status == "expired" and record.ticket in result.error.message
    assert [e.action for e in events.of("governance_changed")] == ["approval_requested", "approval_expired"]
    assert not (workspace / "m.count").exists()


async def test_a_rule_may_set_its_own_deadline(enx: tn.Nexus) -> None:
    queue = _queue(enx, rule_of=lambda rule: {"timeout": 0.1} if rule == "review" else None)
    result = await enx.acall("eng.mark", marker="m.count")
    assert result.error is not None and result.error.kind == tn.ErrorKind.APPROVAL_EXPIRED
    [record] = queue.list()
    assert record.deadline - record.requested_at == pytest.approx(0.1)


async def test_cancelling_the_waiting_call_withdraws_its_request(enx: tn.Nexus, queue: ApprovalQueue,
                                                                events: Recorder, workspace: Path) -> None:
    async with anyio.create_task_group() as tg:
        tg.start_soon(enx.acall, "eng.mark", {"marker": "m.count"})
        ticket = await _requested(queue)
        tg.cancel_scope.cancel()
    assert queue.show(ticket.ticket).status == "withdrawn"
    assert [e.action for e in events.of("governance_changed")] == ["approval_requested", "approval_withdrawn"]
    [finished] = events.of("call_finished")
    assert finished.result.error.kind == tn.ErrorKind.CANCELLED
    with pytest.raises(tn.ToolnexusError, match="already withdrawn"):
        Approvals(enx.store).approve(ticket.ticket)


async def test_a_single_call_grant_is_used_once_and_never_on_other_arguments(enx: tn.Nexus, queue: ApprovalQueue,
                                                                            workspace: Path) -> None:
    assert enx.store is not None
    approvals = Approvals(enx.store)
    # Granted while nobody waits for it (the caller gave up): a retry of exactly that call may use it, once.
    plan = CallPlan(call=tn.ToolCall(tool="eng.mark", arguments={"marker": "a.count"}),
                    spec=enx.registry.get("eng.mark", None))
    first = queue.request(plan, Decision(verdict=Verdict.WAIT, policy="review"))
    approvals.approve(first.ticket)
    # Other arguments: not covered, parked anew.
    other, second = await _while_parked(enx, queue, lambda t: approvals.deny(t.ticket, "other arguments"),
                                        marker="b.count")
    assert other.error is not None and other.error.kind == tn.ErrorKind.DENIED and second.ticket != first.ticket
    # The approved arguments: covered by the grant, which is then used up.
    assert (await enx.acall("eng.mark", marker="a.count")).ok
    assert queue.show(first.ticket).uses_left == 0
    again, third = await _while_parked(enx, queue, lambda t: approvals.deny(t.ticket, "once was enough"),
                                       marker="a.count")
    assert again.error is not None and third.ticket not in (first.ticket, second.ticket)
    assert (workspace / "a.count").read_text() == "1"


async def test_a_grant_does_not_outlive_a_policy_change(enx: tn.Nexus, workspace: Path) -> None:
    version = ["v1"]
    queue = _queue(enx, policy_version=lambda: version[0])
    assert enx.store is not None
    approvals = Approvals(enx.store, principal="reviewer")
    tickets: list[ApprovalRecord] = []

    async def grant_under_a_new_policy(ticket: ApprovalRecord) -> None:
        tickets.append(ticket)
        version[0] = "v2"  # the policy is reloaded while the call waits
        approvals.approve(ticket.ticket)
        tickets.append(await _requested(queue, [ticket.ticket]))  # parked again, under v2
        approvals.approve(tickets[-1].ticket)

    result, _ = await _while_parked(enx, queue, grant_under_a_new_policy)
    assert result.ok, result.error
    assert [t.policy_version for t in tickets] == ["v1", "v2"] and tickets[0].digest != tickets[1].digest
    assert (workspace / "m.count").read_text() == "1"


async def test_four_eyes_refuses_the_requesters_own_grant(enx: tn.Nexus, workspace: Path) -> None:
    queue = _queue(enx, rule_of=lambda rule: {"four_eyes": True})
    assert enx.store is not None

    async def decide(ticket: ApprovalRecord) -> None:
        assert ticket.four_eyes and ticket.principal == os_user()
        code, err = await _cli(workspace, "approve", ticket.ticket)
        assert code == 1 and "needs an approver other than its requester" in err, err
        assert queue.show(ticket.ticket).open
        Approvals(enx.store, principal="second-pair-of-eyes").approve(ticket.ticket)

    result, ticket = await _while_parked(enx, queue, decide)
    assert result.ok, result.error
    assert queue.show(ticket.ticket).decided_by == "second-pair-of-eyes"


async def test_a_rule_may_name_its_approvers_and_channels(enx: tn.Nexus) -> None:
    queue = _queue(enx, rule_of=lambda rule: {"approvers": ["alice"], "channels": ["rest"]})
    assert enx.store is not None

    def decide(ticket: ApprovalRecord) -> None:
        with pytest.raises(tn.ToolnexusError, match="bob may not decide"):
            Approvals(enx.store, principal="bob", channel="rest").approve(ticket.ticket)
        with pytest.raises(tn.ToolnexusError, match="may not be decided over python"):
            Approvals(enx.store, principal="alice").approve(ticket.ticket)
        Approvals(enx.store, principal="alice", channel="rest").approve(ticket.ticket)

    result, _ = await _while_parked(enx, queue, decide)
    assert result.ok, result.error


RUN = """
mission: reviewed
steps:
  - id: first
    uses: eng.mark
    with: {marker: first.count}
  - id: second
    uses: eng.mark
    needs: first
    with: {marker: second.count}
"""


async def test_a_run_scoped_grant_lets_the_tools_later_calls_in_that_run_through(
        enx: tn.Nexus, queue: ApprovalQueue, workspace: Path) -> None:
    assert enx.store is not None
    approvals = Approvals(enx.store)
    async with anyio.create_task_group() as tg:
        results: list[tn.RunResult] = []

        async def run() -> None:
            results.append(await enx.arun(RUN))

        tg.start_soon(run)
        ticket = await _requested(queue)
        assert (ticket.step_id, ticket.run_id is not None) == ("first", True)
        approvals.approve(ticket.ticket, scope="run")
    assert results[0].ok, results[0].error
    assert [r.ticket for r in queue.list()] == [ticket.ticket]  # the second step was never parked
    assert (workspace / "second.count").read_text() == "1"
    # Another run of the same mission asks again.
    async with anyio.create_task_group() as tg:
        tg.start_soon(enx.arun, RUN)
        again = await _requested(queue, [ticket.ticket])
        approvals.deny(again.ticket, "one run was enough")


async def test_a_pattern_grant_covers_matching_arguments_for_its_time(enx: tn.Nexus, queue: ApprovalQueue,
                                                                     workspace: Path) -> None:
    assert enx.store is not None
    approvals = Approvals(enx.store)
    (workspace / "out").mkdir()
    result, _ = await _while_parked(
        enx, queue, lambda t: approvals.approve(t.ticket, scope="pattern", match={"marker": "out/*"}, duration=3600),
        marker="out/one.count")
    assert result.ok, result.error
    assert (await enx.acall("eng.mark", marker="out/two.count")).ok  # covered: no new ticket
    assert len(queue.list()) == 1
    outside, _ = await _while_parked(enx, queue, lambda t: approvals.deny(t.ticket, "outside out/"),
                                     marker="elsewhere.count")
    assert outside.error is not None and outside.error.kind == tn.ErrorKind.DENIED


class Told(CallChannel):
    """A caller's channel keeping the progress notes it is sent."""

    wants_progress = True

    def __init__(self) -> None:
        self.notes: list[tuple[float, float | None, str | None]] = []

    def progress(self, progress: float, total: float | None = None, message: str | None = None) -> None:
        """Keep the note."""
        self.notes.append((progress, total, message))


async def test_the_waiting_caller_is_told_what_it_waits_for(enx: tn.Nexus, queue: ApprovalQueue) -> None:
    assert enx.store is not None
    told = Told()
    token = use_channel(told)
    try:
        result, ticket = await _while_parked(enx, queue, lambda t: Approvals(enx.store).approve(t.ticket))
    finally:
        reset_channel(token)
    assert result.ok, result.error
    waited, total, message = told.notes[0]
    assert message == f"waiting for approval of eng.mark (rule review, ticket {ticket.ticket})"
    assert total == 1.0 and 0 <= waited < 1  # the share of the deadline gone


async def test_a_gate_may_name_the_ticket_in_its_wait_decision(enx: tn.Nexus, queue: ApprovalQueue,
                                                               events: Recorder) -> None:
    assert enx.store is not None
    enx.governance.gate = NeedsApproval(queue, ticket="apr-named-by-the-gate")
    result, ticket = await _while_parked(enx, queue, lambda t: Approvals(enx.store).approve(t.ticket))
    assert result.ok, result.error
    assert ticket.ticket == "apr-named-by-the-gate"
    assert [e.decision.ticket for e in events.of("gate_decided")] == [ticket.ticket, ticket.ticket]
