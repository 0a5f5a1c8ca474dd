"""Loosening governance is itself governed (``[governance] guard_loosening = true``).

Two changes weaken what the gate enforces: lifting a kill switch, and a policy reload that removes an
enforced rule, switches one to observe or warn, or turns a deny or approve rule into an allow. With the
guard on, each needs an approval granted by someone other than who asked for it (four eyes), through the
workspace's approvals queue: a ticket whose tool is :data:`UNKILL` (arguments ``target``, ``scope``) or
:data:`POLICY` (arguments ``version``, the policy files and what weakens). Both are audited like every
approval.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from toolnexus.governance.approvals import ApprovalQueue, ApprovalRefused
from toolnexus.governance.policy.model import Effect
from toolnexus.governance.policy.policy import Policy
from toolnexus.governance.policy.rule import Rule
from toolnexus.store.approvals import ApprovalRecord

UNKILL = "governance.unkill"
"""The tool name of a ticket asking to lift a kill switch."""

POLICY = "governance.policy"
"""The tool name of a ticket asking to apply a policy version that weakens the one in force."""

TICKETS_SEARCHED = 200
"""Recent tickets looked through for an approval of a policy version."""


def weakenings(old: Policy, new: Policy) -> list[str]:
    """How ``new`` weakens ``old``, one line per change: an enforced rule removed or no longer enforced, a
    deny or approve rule turned into an allow (empty: ``new`` is at least as strict, rule by rule)."""
    found: list[str] = []
    for rule in old.rules:
        found.extend(_weakened(rule, new.rule(rule.id)))
    return found


def _weakened(before: Rule, after: Rule | None) -> list[str]:
    if after is None:
        return [f"enforced rule {before.id} removed"] if before.enforced else []
    found = []
    if before.enforced and not after.enforced:
        found.append(f"rule {before.id} switched from enforce to {after.mode.value}")
    if before.effect is not Effect.ALLOW and after.effect is Effect.ALLOW:
        found.append(f"rule {before.id} changed from {before.effect.value} to allow")
    return found


def _lifting(target: str, scope: str | None) -> str:
    if scope == "all":
        return "the kill switch on everything"
    return f"the kill switch on {scope + ' ' if scope else ''}{target}"


class ApprovalNeeded(ApprovalRefused):
    """A loosening of governance that waits for an approval: :attr:`ticket` is the request filed for it."""

    def __init__(self, message: str, ticket: ApprovalRecord, hint: str | None = None) -> None:
        super().__init__(message, hint)
        self.ticket = ticket


class LooseningGuard:
    """Files and checks the approvals that loosening governance needs, on the workspace's approvals ``queue``."""

    def __init__(self, queue: ApprovalQueue) -> None:
        self.queue = queue

    # -- kill switches ------------------------------------------------------------------------

    def lift(self, target: str, scope: str | None, by: str, ticket: str | None) -> ApprovalRecord:
        """The approval that lets ``by`` lift the switches on ``target`` (of ``scope``; None: every scope),
        used up. Without ``ticket`` a request is filed and :class:`ApprovalNeeded` raised naming it; a ticket
        that does not grant exactly this lifting raises :class:`ApprovalRefused`."""
        arguments = {"target": target, "scope": scope}
        what = _lifting(target, scope)
        if ticket is None:
            record = self.queue.request_change(UNKILL, arguments, by, reason=f"lift {what}")
            raise ApprovalNeeded(
                f"lifting {what} needs an approval ([governance] guard_loosening): ticket {record.ticket} filed",
                record, hint=f"someone other than {by} grants it (toolnexus approvals approve {record.ticket}); "
                             f"then lift it with --ticket {record.ticket}")
        record = self.queue.resolve(ticket)
        _check_grant(record, UNKILL, arguments, what)
        if record.uses_left is not None and not self.queue.table.consume(record.ticket):
            raise ApprovalRefused(f"approval {record.ticket} was used already", hint="ask for a new one")
        return record

    # -- policies -----------------------------------------------------------------------------

    def policy_approval(self, version: str, changes: Sequence[str], files: Sequence[str], by: str) -> ApprovalRecord:
        """The approval of policy ``version``: the newest ticket asking for it if one is open or granted, else
        a new request by ``by`` listing ``changes`` (what weakens) and the policy ``files``."""
        for record in self.queue.table.recent(None, TICKETS_SEARCHED):
            if record.tool == POLICY and record.arguments.get("version") == version \
                    and record.status in ("requested", "granted"):
                return record
        arguments = {"version": version, "files": list(files), "weakens": list(changes)}
        return self.queue.request_change(POLICY, arguments, by, reason="apply a policy that " + "; ".join(changes))

    def status(self, ticket: str) -> str:
        """The status of ``ticket`` now (``requested``, ``granted``, ``denied``…), expiring it if overdue."""
        record = self.queue.resolve(ticket)
        if record.open and record.deadline <= self.queue.clock():
            record = self.queue.close(record.ticket, "expired") or self.queue.resolve(ticket)
        return record.status


def _check_grant(record: ApprovalRecord, action: str, arguments: Mapping[str, Any], what: str) -> None:
    """Refuse unless ``record`` is a grant, by someone other than its requester, of ``action`` on ``arguments``."""
    if record.tool != action or dict(record.arguments) != dict(arguments):
        raise ApprovalRefused(f"approval {record.ticket} is not for lifting {what} (it is for {record.tool} "
                              f"{record.arguments})")
    if record.status != "granted":
        raise ApprovalRefused(f"approval {record.ticket} is {record.status}, not granted",
                              hint=f"someone other than {record.principal} grants it: "
                                   f"toolnexus approvals approve {record.ticket}")
    if record.decided_by == record.principal:
        raise ApprovalRefused(f"approval {record.ticket} was granted by its own requester {record.principal}",
                              hint="loosening governance needs a second person")
