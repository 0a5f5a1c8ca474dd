"""What the governance review widget shows and does, without any widget: the reading and the deciding.

:class:`Review` wraps a Nexus's governance (its approvals, kill switches, audit log and policy) for a person
in a notebook. Every action returns an :class:`Outcome` — a refusal (four eyes, a ticket decided elsewhere, a
lifting that needs an approval) is a message to show, never a traceback. Decisions are made as the kernel's
caller (the Nexus's principal: the OS user running the kernel) through the ``notebook`` channel.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from toolnexus.core.units import parse_duration
from toolnexus.errors import ToolnexusError
from toolnexus.governance.approvals import ApprovalRefused, UnknownTicket
from toolnexus.governance.audit.verify import Verification
from toolnexus.governance.loosening import ApprovalNeeded
from toolnexus.governance.policy.observed import Would, audited, with_policy_rules
from toolnexus.store.approvals import ApprovalRecord, GrantScope
from toolnexus.store.kills import KillRecord, KillScope

if TYPE_CHECKING:
    from toolnexus.api import Nexus

CHANNEL = "notebook"
"""The channel the widget's decisions are recorded under (a rule's ``channels`` may name it)."""

EFFECTS = ("allow", "deny", "wait")
MODES = ("observe", "warn", "enforce")


@dataclass(frozen=True, slots=True)
class Outcome:
    """What an action did: ``ok``, a one-line ``message`` for the person, and the record it produced (a grant,
    a denial, a switch, or the ticket a guarded lifting filed)."""

    ok: bool
    message: str
    record: ApprovalRecord | KillRecord | None = None


@dataclass(frozen=True, slots=True)
class DecisionRow:
    """One decision of the audit log, as the widget lists it."""

    seq: int
    at: str
    tool: str
    verdict: str
    rule: str | None
    mode: str | None
    would: str | None
    principal: str | None
    surface: str | None
    reason: str


class NoStore(ToolnexusError, ValueError):
    """The Nexus keeps no state store, so there is no queue, switch or audit log to review."""

    def _render_traceback_(self) -> list[str]:
        """What IPython shows instead of a traceback: the message."""
        return [f"{type(self).__name__}: {self}"]


def refused(exc: BaseException) -> str:
    """The message of a refusal, with its hint when it has one."""
    hint = getattr(exc, "hint", None)
    return f"{exc} ({hint})" if hint else str(exc)


def parse_match(text: str) -> dict[str, str]:
    """``path=glob`` pairs separated by commas or spaces (a pattern grant's match); ValueError if malformed."""
    pairs: dict[str, str] = {}
    for part in text.replace(",", " ").split():
        path, sep, glob = part.partition("=")
        if not sep or not path or not glob:
            raise ValueError(f"{part!r} is not argument=glob (e.g. path=out/*)")
        pairs[path] = glob
    return pairs


class Review:
    """A Nexus's governance, read and decided from a notebook (``approver``: who decides; default the Nexus's
    caller)."""

    def __init__(self, nexus: Nexus, approver: str | None = None) -> None:
        if nexus.store is None or nexus.approvals is None or nexus.kills is None:
            raise NoStore("the review needs a state store: this Nexus keeps none (use Nexus(store=True))")
        self.nexus = nexus
        self.approvals = nexus.approvals
        self.kills = nexus.kills
        self.approver = approver or nexus.caller.principal

    # -- the approvals queue ------------------------------------------------------------------

    def pending(self) -> list[ApprovalRecord]:
        """The tickets waiting for a decision, oldest first (overdue ones are expired first)."""
        return sorted(self.approvals.list("requested", limit=500), key=lambda r: r.requested_at)

    def approve(self, ticket: str, scope: GrantScope = "call", reason: str = "", *, duration: str = "",
                match: str = "") -> Outcome:
        """Grant ``ticket`` with ``scope`` (``pattern``: ``match`` as ``path=glob`` pairs, for ``duration``
        such as ``30m``); the refusal's message if it may not be granted."""
        try:
            seconds = parse_duration(duration) if duration.strip() else None
            pattern = parse_match(match) if scope == "pattern" else None
            record = self.approvals.queue.grant(ticket, self.approver, CHANNEL, scope=scope, reason=reason.strip(),
                                                pattern=pattern, duration=seconds)
        except (ApprovalRefused, UnknownTicket, ValueError) as exc:
            return Outcome(False, refused(exc))
        return Outcome(True, f"approved {record.tool} ({record.scope} scope) as {self.approver}", record)

    def deny(self, ticket: str, reason: str) -> Outcome:
        """Deny ``ticket`` for ``reason`` (the waiting caller is told it)."""
        try:
            record = self.approvals.queue.deny(ticket, self.approver, CHANNEL, reason)
        except (ApprovalRefused, UnknownTicket, ValueError) as exc:
            return Outcome(False, refused(exc))
        return Outcome(True, f"denied {record.tool} as {self.approver}: {reason}", record)

    # -- kill switches --------------------------------------------------------------------------

    def switches(self) -> list[KillRecord]:
        """The kill switches in force."""
        return self.kills.active()

    def kill(self, scope: KillScope, target: str, reason: str) -> Outcome:
        """Set a kill switch (refused without a reason or a target)."""
        try:
            record = self.kills.kill(scope, target, reason, self.approver)
        except (ValueError, ToolnexusError) as exc:
            return Outcome(False, refused(exc))
        what = "everything" if record.scope == "all" else f"{record.scope} {record.target}"
        return Outcome(True, f"killed {what}: {record.reason}", record)

    def unkill(self, target: str, scope: KillScope | None = None, ticket: str = "") -> Outcome:
        """Lift the switches on ``target``; under ``guard_loosening`` the first try files a ticket (shown),
        and a second with that granted ``ticket`` lifts them."""
        try:
            lifted = self.kills.unkill(target, self.approver, scope, ticket=ticket.strip() or None)
        except ApprovalNeeded as exc:
            return Outcome(False, f"{refused(exc)}: ticket {exc.ticket.ticket} filed", exc.ticket)
        except (ValueError, ToolnexusError) as exc:
            return Outcome(False, refused(exc))
        if not lifted:
            return Outcome(False, f"no kill switch in force on {target}")
        return Outcome(True, f"lifted {len(lifted)} switch(es) on {target}")

    # -- the audit log ---------------------------------------------------------------------------

    def decisions(self, tool: str = "", rule: str = "", effect: str = "", mode: str = "",
                  limit: int = 200) -> list[DecisionRow]:
        """The most recent decisions (newest first), filtered: ``tool`` a glob, ``rule`` the deciding rule,
        ``effect`` the verdict (allow, deny, wait), ``mode`` the rule's mode."""
        audit = self.nexus.governed.audit
        if audit is None:
            return []
        self.flush()
        rows = audit.report(tool=tool.strip() or None, kind=f"decision.{effect}" if effect else "decision")
        found: list[DecisionRow] = []
        for row in reversed(rows):
            decision_row = _decision_row(row.seq, row.at, json.loads(row.body))
            if (rule and decision_row.rule != rule) or (mode and decision_row.mode != mode):
                continue
            found.append(decision_row)
            if len(found) >= limit:
                break
        return found

    def flush(self) -> None:
        """Write this process's records still waiting for a batch (a call made from a cell whose event loop
        ended before its deferred write fired), so the decisions just made are read back."""
        self.nexus.store.flush()  # type: ignore[union-attr]  (checked in __init__)

    def observed(self) -> list[Would]:
        """Per observe or warn rule, how many calls it would have denied or sent for approval (audit log)."""
        self.flush()
        found = audited(self.nexus.store, None)  # type: ignore[arg-type]  (checked in __init__)
        gate = self.nexus.governed.gate
        policy = getattr(gate, "policy", None) if gate is not None else None
        return with_policy_rules(found[1] if found is not None else {}, policy)

    def verify(self) -> Verification | None:
        """The audit chain's verification (None without an audit log)."""
        audit = self.nexus.governed.audit
        if audit is None:
            return None
        self.flush()
        return audit.verify()


def _decision_row(seq: int, at: str, body: dict[str, Any]) -> DecisionRow:
    decision = body.get("decision", {})
    return DecisionRow(seq=seq, at=at, tool=body.get("tool", ""), verdict=decision.get("verdict", ""),
                       rule=decision.get("policy"), mode=decision.get("mode"), would=decision.get("would"),
                       principal=body.get("principal"), surface=body.get("surface"),
                       reason=decision.get("reason", ""))
