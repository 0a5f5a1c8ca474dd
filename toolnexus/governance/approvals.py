"""The approvals queue: a call a rule sends for approval waits here until a person decides, in any process.

:class:`ApprovalQueue` is what a policy gate's ``settle`` delegates to. For a parked call it first looks
for a live grant that covers it (:mod:`toolnexus.governance.approvals_scope`); otherwise it records a
ticket in the state store (arguments scrubbed, caller, run and step, rule, digest, deadline) and waits,
cancellably, for a decision made by any process sharing the store (the CLI, the Jupyter server, a
notebook). The calls waiting in an event loop share one look at the database's ``data_version`` every
:data:`~toolnexus.governance.approvals_watch.POLL` seconds — a read of shared memory — so a grant
made in another process releases its call within a few tens of milliseconds.

- granted → allow (decider ``approval``; the reason names who granted it); the grant's digest is checked
  again first, so a grant made under another policy version parks the call anew;
- denied → deny with the reviewer's reason;
- expired (nobody decided before the deadline) → deny with decider :data:`EXPIRED_DECIDER`, which the
  invocation pipeline reports as a ``ToolError`` of kind ``approval_expired``;
- the waiting call cancelled → the ticket is withdrawn.

Each change is announced as a :class:`~toolnexus.core.events.GovernanceChanged` event (``approval_requested``,
``…_granted``, ``…_denied``, ``…_expired``, ``…_withdrawn``) through ``announce``.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal

import anyio

from toolnexus.core.caller import os_user
from toolnexus.core.context import current_channel, report_progress
from toolnexus.core.decision import Decision, Verdict
from toolnexus.core.events import GovernanceAction, GovernanceChanged
from toolnexus.core.ids import new_id
from toolnexus.core.secrets import scrub
from toolnexus.core.units import format_duration
from toolnexus.errors import InvalidInput, NotFound
from toolnexus.governance.approvals_ask import ask_the_caller, may_ask
from toolnexus.governance.approvals_scope import SCOPES, ApprovalRule, Asked, call_digest, caller_of, canonical_json
from toolnexus.governance.approvals_watch import Watchers
from toolnexus.governance.plan import CallPlan
from toolnexus.store.approvals import ApprovalRecord, ApprovalsTable, ApprovalStatus, GrantScope

if TYPE_CHECKING:
    from toolnexus.store.sqlite import StateStore

DECIDER = "approval"
"""The decider of a decision an approval made (granted or denied)."""

EXPIRED_DECIDER = "approval-expiry"
"""The decider of a call denied because its approval expired: the pipeline's ToolError is ``approval_expired``."""

NOTE_EVERY = 5.0
"""Seconds between two progress notes to a waiting call's caller (an MCP client's request stays alive)."""

DEFAULT_TIMEOUT = 3600.0

PATTERN_GRANT_FOR = 3600.0
"""Seconds a pattern grant holds when the approver gives no duration (the CLI's ``--for``, REST's ``for``)."""

Announce = Callable[[GovernanceChanged], None]
PolicyVersion = Callable[[], "str | None"]
RuleOf = Callable[[str | None], Any]


class UnknownTicket(NotFound, LookupError):
    """No approval ticket matches what was given (or several do)."""

    def __init__(self, message: str, hint: str | None = "see `toolnexus approvals list`") -> None:
        super().__init__(message)
        self.hint = hint


class ApprovalRefused(InvalidInput):
    """A grant or denial that may not be made: the ticket is decided already, or the approver may not decide it."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


class NotAnApprover(ApprovalRefused):
    """The approver may not decide this ticket: the requester under four eyes, someone the rule does not name,
    or a channel the rule does not allow."""


class ApprovalQueue:
    """Parks calls until a person grants or denies them, in this process or another sharing ``store``.

    ``timeout`` is how long a call waits (a rule may set its own); ``announce`` gets the GovernanceChanged
    events; ``policy_version`` gives the version of the policy in force (part of what a grant is bound to);
    ``rule_of(rule_id)`` gives what a rule asks of its approvals (``four_eyes``, ``approvers``,
    ``channels``, ``timeout``: a mapping or an object; None asks nothing special).
    """

    def __init__(self, store: StateStore, timeout: float = DEFAULT_TIMEOUT, announce: Announce | None = None,
                 *, policy_version: PolicyVersion | None = None, rule_of: RuleOf | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.table = ApprovalsTable(store)
        self.watchers = Watchers(self.table)
        self.timeout = timeout
        self.announce = announce
        self.policy_version = policy_version or (lambda: None)
        self.rule_of = rule_of or (lambda rule: None)
        self.clock = clock

    # -- the gate's side: a parked call ---------------------------------------------------------

    async def settle(self, plan: CallPlan, pending: Decision) -> Decision:
        """The final verdict on ``plan``, parked by ``pending`` (its ``policy`` names the rule): allow once a
        covering grant exists, deny when denied or expired; cancelling the wait withdraws the request."""
        ticket = pending.ticket  # a gate may name the ticket in its wait decision (and so in its event)
        while True:
            covered = await anyio.to_thread.run_sync(self._covered, self.asking(plan, pending.policy))
            if covered is not None:
                return covered
            record = self.ticket_for(plan, pending, ticket=ticket)
            ticket = None  # asked again: a new ticket
            with anyio.CancelScope(shield=True):  # recorded and announced, or not at all; then withdrawn if cancelled
                await anyio.to_thread.run_sync(self.table.add, record)
            self._announce("approval_requested", record, by=record.principal, reason=record.reason)
            final = await self._outcome(record)
            decision = await anyio.to_thread.run_sync(self._verdict, final, self.asking(plan, pending.policy))
            if decision is not None:
                return decision
            # Granted under another policy version (or its single use taken meanwhile): ask again.

    def asking(self, plan: CallPlan, rule: str | None) -> Asked:
        """``plan`` as it asks for approval now: with its digest under the current policy version."""
        version = self.policy_version()
        return Asked(plan=plan, rule=rule, digest=call_digest(plan, version), policy_version=version)

    def request(self, plan: CallPlan, pending: Decision, **conditions: Any) -> ApprovalRecord:
        """Record a new ticket for ``plan`` (parked by ``pending``) and announce it; returns the ticket.
        ``conditions`` (``four_eyes``, ``approvers``, ``channels``, ``timeout``) override the rule's."""
        record = self.ticket_for(plan, pending, **conditions)
        self.table.add(record)
        self._announce("approval_requested", record, by=record.principal, reason=record.reason)
        return record

    def request_change(self, action: str, arguments: Mapping[str, Any], by: str, reason: str) -> ApprovalRecord:
        """Record and announce a ticket asking to loosen governance rather than to run a call: ``action`` (e.g.
        ``governance.unkill``) on ``arguments``, asked by ``by``, who may not grant it (four eyes)."""
        now = self.clock()
        record = ApprovalRecord(
            ticket=new_id("apr-"), tool=action, digest=change_digest(action, arguments), requested_at=now,
            deadline=now + self.timeout, arguments=scrub(dict(arguments)), principal=by, rule="guard_loosening",
            reason=reason, policy_version=self.policy_version(), four_eyes=True)
        self.table.add(record)
        self._announce("approval_requested", record, by=by, reason=reason)
        return record

    def ticket_for(self, plan: CallPlan, pending: Decision, *, ticket: str | None = None,
                   four_eyes: bool | None = None, approvers: list[str] | None = None,
                   channels: list[str] | None = None, timeout: float | None = None) -> ApprovalRecord:
        """A new ticket (id ``ticket``, else a new one) for ``plan`` under the rule ``pending.policy`` (its
        conditions from ``rule_of`` unless given): arguments scrubbed, caller, run and step, digest, deadline."""
        rule = ApprovalRule.of(self.rule_of(pending.policy))
        asked = self.asking(plan, pending.policy)
        caller = caller_of(plan)
        call = plan.call
        now = self.clock()
        wait = timeout if timeout is not None else (rule.timeout if rule.timeout is not None else self.timeout)
        return ApprovalRecord(
            ticket=ticket or new_id("apr-"), tool=plan.tool, digest=asked.digest, requested_at=now, deadline=now + wait,
            version=plan.spec.version if plan.spec is not None else call.version,
            arguments=scrub(call.arguments) if call.arguments else {},
            principal=caller.principal, tenant=caller.tenant, surface=caller.surface.value,
            correlation_id=call.correlation_id or call.id, run_id=call.run_id, step_id=call.step_id,
            rule=pending.policy, reason=pending.reason, policy_version=asked.policy_version,
            four_eyes=rule.four_eyes if four_eyes is None else four_eyes,
            approvers=_listed(approvers, rule.approvers), channels=_listed(channels, rule.channels))

    def _covered(self, asked: Asked) -> Decision | None:
        """Allow ``asked`` if a live grant covers it (using up a single-call grant); None otherwise."""
        for grant in self.table.grants_for(asked.plan.tool, self.clock()):
            if asked.covered_by(grant) and (grant.uses_left is None or self.table.consume(grant.ticket)):
                return self._allowed(grant, covered=True)
        return None

    def _verdict(self, final: ApprovalRecord, asked: Asked) -> Decision | None:
        """The decision of a ticket that is no longer open; None when its grant does not hold any more."""
        if final.status != "granted":
            return self._refused(final)
        if final.digest != asked.digest:
            return None  # the policy changed while the call waited: the grant was for another version
        if final.uses_left is not None and not self.table.consume(final.ticket):
            return None
        return self._allowed(final)

    @staticmethod
    def _allowed(grant: ApprovalRecord, *, covered: bool = False) -> Decision:
        how = f"{grant.scope} scope, " if grant.scope != "call" else ""
        lead = "covered by an approval" if covered else "approved"
        reason = f"{lead} of {grant.decided_by} ({how}ticket {grant.ticket})"
        if grant.decision_reason:
            reason += f": {grant.decision_reason}"
        return Decision(verdict=Verdict.ALLOW, decider=DECIDER, policy=grant.rule, ticket=grant.ticket, reason=reason)

    @staticmethod
    def _refused(final: ApprovalRecord) -> Decision:
        if final.status == "expired":
            waited = format_duration(final.deadline - final.requested_at)
            return Decision(verdict=Verdict.DENY, decider=EXPIRED_DECIDER, policy=final.rule, ticket=final.ticket,
                            reason=f"the approval of {final.tool} (ticket {final.ticket}) expired: "
                                   f"nobody decided within {waited}")
        who = f"{final.status} by {final.decided_by}" if final.decided_by else final.status
        reason = final.decision_reason or f"the approval of {final.tool} was {final.status}"
        return Decision(verdict=Verdict.DENY, decider=DECIDER, policy=final.rule, ticket=final.ticket,
                        reason=f"{reason} ({who}, ticket {final.ticket})")

    async def _outcome(self, record: ApprovalRecord) -> ApprovalRecord:
        """``record``'s ticket once decided; meanwhile its caller's user is asked, where the rule lets the
        requester approve their own call and the caller can be asked (an MCP client that elicits)."""
        channel = current_channel()
        if not may_ask(record, channel):
            return await self._wait(record)
        async with anyio.create_task_group() as asking:
            asking.start_soon(ask_the_caller, self, record, channel)
            final = await self._wait(record)
            asking.cancel_scope.cancel()  # decided (maybe elsewhere): the question is dropped
        return final

    async def _wait(self, record: ApprovalRecord) -> ApprovalRecord:
        """Wait until ``record``'s ticket is decided (by anyone) or expires; withdraw it if cancelled. The
        caller (an MCP client) is told it waits, at once and every :data:`NOTE_EVERY` seconds."""
        note_at = self.clock()
        try:
            with self.watchers.waiting(record.ticket) as watcher:
                while True:
                    current = self.table.get(record.ticket, watcher.watch.conn)
                    if current is not None and not current.open:
                        return current
                    now = self.clock()
                    if now >= note_at:
                        note_at = now + NOTE_EVERY
                        _tell_waiting(record, now)
                    if now >= record.deadline:
                        expired = await anyio.to_thread.run_sync(self._settle, record.ticket, "expired")
                        if expired is not None:
                            self._announce("approval_expired", expired)
                            return expired
                        continue  # decided just now: read it
                    await watcher.until_decided(record.ticket, min(record.deadline, note_at) - now)
        except anyio.get_cancelled_exc_class():
            with anyio.CancelScope(shield=True):
                withdrawn = await anyio.to_thread.run_sync(self._settle, record.ticket, "withdrawn")
            if withdrawn is not None:
                self._announce("approval_withdrawn", withdrawn, by=withdrawn.principal)
            raise

    def _settle(self, ticket: str, status: ApprovalStatus, reason: str | None = None) -> ApprovalRecord | None:
        """Close the open ticket ``ticket`` as ``status`` (expired, withdrawn) now; None if it was not open."""
        return self.table.settle(ticket, status, decided_at=self.clock(), decision_reason=reason)

    def close(self, ticket: str, status: Literal["expired", "withdrawn"], *, reason: str | None = None
              ) -> ApprovalRecord | None:
        """Expire or withdraw the open ticket ``ticket`` (``reason``: why) and announce it; None if it was
        decided already."""
        closed = self._settle(ticket, status, reason)
        if closed is not None:
            self._announce(f"approval_{status}", closed, reason=reason or "")  # type: ignore[arg-type]
        return closed

    # -- decisions, from any process ----------------------------------------------------------

    def resolve(self, ticket: str) -> ApprovalRecord:
        """The ticket ``ticket`` names (its id, or a unique prefix or tail of it)."""
        found = self.table.matching(ticket)
        if not found:
            raise UnknownTicket(f"no approval ticket {ticket!r} in {self.table.store.where}")
        if len(found) > 1:
            raise UnknownTicket(f"{ticket!r} names several approval tickets ({found[0].ticket}, {found[1].ticket})",
                                hint="give more of the ticket id")
        return found[0]

    def grant(self, ticket: str, by: str, channel: str, *, scope: GrantScope = "call", reason: str = "",
              pattern: Mapping[str, str] | None = None, duration: float | None = None) -> ApprovalRecord:
        """Grant the open ticket ``ticket`` as ``by`` through ``channel``; ``scope`` says what it lets through
        (``pattern``: argument path → glob, with ``duration`` seconds of validity). Returns the grant."""
        record = self._decidable(ticket, by, channel, granting=True)
        if scope not in SCOPES:
            raise ApprovalRefused(f"unknown scope {scope!r}", hint=f"one of {', '.join(SCOPES)}")
        if scope == "pattern" and not pattern:
            raise ApprovalRefused("a pattern grant needs a pattern of arguments",
                                  hint="e.g. --match path='out/*' (an argument path and a glob)")
        now = self.clock()
        granted = self.table.settle(
            record.ticket, "granted", decided_by=by, decided_at=now, decision_reason=reason or None,
            channel=channel, scope=scope, pattern=dict(pattern) if pattern else None,
            grant_until=None if duration is None else now + duration, uses_left=1 if scope == "call" else None)
        return self._decided(record, granted, "approval_granted", by, reason)

    def deny(self, ticket: str, by: str, channel: str, reason: str) -> ApprovalRecord:
        """Deny the open ticket ``ticket`` as ``by`` through ``channel``, for ``reason`` (told to the caller)."""
        if not reason.strip():
            raise ApprovalRefused("a denial needs a reason: the caller is told it", hint="e.g. --reason 'not today'")
        record = self._decidable(ticket, by, channel, granting=False)
        denied = self.table.settle(record.ticket, "denied", decided_by=by, decided_at=self.clock(),
                                   decision_reason=reason, channel=channel)
        return self._decided(record, denied, "approval_denied", by, reason)

    def expire_overdue(self) -> list[ApprovalRecord]:
        """Expire every open ticket past its deadline (their waiting calls, if any, are then denied)."""
        expired = (self._expire(record) for record in self.table.overdue(self.clock()))
        return [record for record in expired if record is not None]

    def _expire(self, record: ApprovalRecord) -> ApprovalRecord | None:
        expired = self._settle(record.ticket, "expired")
        if expired is not None:
            self._announce("approval_expired", expired)
        return expired

    def _decidable(self, ticket: str, by: str, channel: str, *, granting: bool) -> ApprovalRecord:
        """The open ticket ``ticket`` if ``by`` may decide it through ``channel``; else ApprovalRefused."""
        record = self._open(ticket)
        if not granting and by == record.principal:
            return record  # a requester may always turn down their own request
        if granting and record.four_eyes and by == record.principal:
            raise NotAnApprover(f"approval {record.ticket} needs an approver other than its requester {by} "
                                  f"(rule {record.rule} asks for four eyes)")
        if record.approvers is not None and by not in record.approvers:
            raise NotAnApprover(f"{by} may not decide approval {record.ticket}: rule {record.rule} names its "
                                  f"approvers ({', '.join(record.approvers)})")
        if record.channels is not None and channel not in record.channels:
            raise NotAnApprover(f"approval {record.ticket} may not be decided over {channel}: rule "
                                  f"{record.rule} allows {', '.join(record.channels)}")
        return record

    def _open(self, ticket: str) -> ApprovalRecord:
        """The ticket ``ticket`` names if it still waits for a decision (expiring it if overdue)."""
        record = self.resolve(ticket)
        if record.open and record.deadline <= self.clock():
            record = self._expire(record) or self.resolve(record.ticket)
        if not record.open:
            raise _already_decided(record)
        return record

    def _decided(self, record: ApprovalRecord, decided: ApprovalRecord | None, action: GovernanceAction,
                 by: str, reason: str) -> ApprovalRecord:
        if decided is None:  # another process decided between our read and our write
            raise _already_decided(self.resolve(record.ticket))
        self._announce(action, decided, by=by, reason=reason)
        return decided

    def _announce(self, action: GovernanceAction, record: ApprovalRecord, *, by: str | None = None,
                  reason: str = "") -> None:
        if self.announce is None:
            return
        details = {"tool": record.tool, "version": record.version, "rule": record.rule, "status": record.status,
                   "arguments": record.arguments, "principal": record.principal, "tenant": record.tenant,
                   "step_id": record.step_id, "correlation_id": record.correlation_id, "digest": record.digest,
                   "deadline": record.deadline, "scope": record.scope, "channel": record.channel}
        self.announce(GovernanceChanged(action=action, target=record.ticket, by=by, reason=reason,
                                        run_id=record.run_id, details=scrub(details)))

    # -- reading ------------------------------------------------------------------------------

    def list(self, status: ApprovalStatus | None = None, limit: int = 100) -> list[ApprovalRecord]:
        """The most recent tickets, newest first (only those of ``status`` if given)."""
        return self.table.recent(status, limit)

    def show(self, ticket: str) -> ApprovalRecord:
        """The ticket ``ticket`` names (its id, or a unique prefix or tail of it)."""
        return self.resolve(ticket)


def change_digest(action: str, arguments: Mapping[str, Any]) -> str:
    """The SHA-256 (hex) of a governance change asked for approval: its action and arguments."""
    return hashlib.sha256(canonical_json({"tool": action, "arguments": dict(arguments)}).encode()).hexdigest()


def _tell_waiting(record: ApprovalRecord, now: float) -> None:
    """Tell the waiting call's caller (through its channel: an MCP client's progress notifications) that it
    waits for an approval; the progress is the share of its deadline gone, on the 0-to-1 scale of a call's
    own start and end notes (so the end still counts as progress)."""
    rule = f"rule {record.rule}, " if record.rule else ""
    wait = record.deadline - record.requested_at
    gone = min((now - record.requested_at) / wait, 0.99) if wait > 0 else 0.99
    report_progress(gone, 1.0, f"waiting for approval of {record.tool} ({rule}ticket {record.ticket})")


def _already_decided(record: ApprovalRecord) -> ApprovalRefused:
    """The refusal of a decision on ``record``, which someone decided (or closed) already."""
    by_whom = f" by {record.decided_by}" if record.decided_by else ""
    return ApprovalRefused(f"approval {record.ticket} is already {record.status}{by_whom}")


def _listed(given: list[str] | None, ruled: tuple[str, ...] | None) -> list[str] | None:
    """The names given, else the rule's; None (no restriction) when neither names any."""
    names = given if given is not None else ruled
    return list(names) if names else None


class Approvals:
    """The approvals of a workspace, for people: list, show, approve and deny (``tn.approvals``).

    Decisions are made as ``principal`` (default: the OS user) through ``channel`` (default ``python``).
    """

    def __init__(self, store: StateStore, announce: Announce | None = None, *, principal: str | None = None,
                 channel: str = "python", queue: ApprovalQueue | None = None) -> None:
        self.queue = queue or ApprovalQueue(store, announce=announce)
        self.principal = principal
        self.channel = channel

    @property
    def _by(self) -> str:
        return self.principal or os_user()

    def list(self, status: ApprovalStatus | None = None, limit: int = 100) -> list[ApprovalRecord]:
        """The most recent tickets, newest first (only those of ``status``, e.g. ``requested``, if given)."""
        self.queue.expire_overdue()
        return self.queue.list(status, limit)

    def show(self, ticket: str) -> ApprovalRecord:
        """One ticket (its id, or a unique prefix or tail of it)."""
        return self.queue.show(ticket)

    def approve(self, ticket: str, *, scope: GrantScope = "call", duration: float | None = None, reason: str = "",
                match: Mapping[str, str] | None = None, by: str | None = None) -> ApprovalRecord:
        """Grant ``ticket``: ``scope`` ``call`` (this call), ``run`` (this tool for this run) or ``pattern``
        (this tool with arguments matching ``match``, for ``duration`` seconds)."""
        return self.queue.grant(ticket, by or self._by, self.channel, scope=scope, reason=reason, pattern=match,
                                duration=duration)

    def deny(self, ticket: str, reason: str, *, by: str | None = None) -> ApprovalRecord:
        """Deny ``ticket`` for ``reason`` (the waiting caller is told it)."""
        return self.queue.deny(ticket, by or self._by, self.channel, reason)
