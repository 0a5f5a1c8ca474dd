"""What observe and warn rules would have done: read from the decisions the audit log recorded, or
worked out by replaying a policy over the recorded calls when the audit log holds none."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from toolnexus.core.decision import Verdict
from toolnexus.governance.audit.chain import at_text
from toolnexus.governance.policy.policy import Policy
from toolnexus.governance.policy.replay import Replay
from toolnexus.store.audit import AuditStore, RecordFilter
from toolnexus.store.sqlite import StateStore


@dataclass
class Would:
    """One unenforced rule's tally: how many calls it would have denied or sent for approval."""

    rule: str
    mode: str
    deny: int = 0
    approve: int = 0

    def add(self, verdict: str) -> None:
        """Count one would-verdict (``deny`` or ``wait``)."""
        if verdict == Verdict.DENY:
            self.deny += 1
        elif verdict == Verdict.WAIT:
            self.approve += 1


def _has_audit(store: StateStore) -> bool:
    row = store.connection().execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'audit_records'").fetchone()
    return row is not None


def audited(store: StateStore, since: datetime | None) -> tuple[int, dict[str, Would]] | None:
    """The decisions the audit log recorded since ``since`` (how many), and per rule the would-verdicts of
    those an observe or warn rule decided; None when the audit log holds no decision of that period."""
    if not _has_audit(store):
        return None
    rows = AuditStore(store).query(RecordFilter(kind="decision", since=at_text(since) if since else None))
    if not rows:
        return None
    tallies: dict[str, Would] = {}
    for row in rows:
        decision = json.loads(row.body).get("decision", {})
        rule, would = decision.get("policy"), decision.get("would")
        if rule and would and decision.get("mode") in ("observe", "warn"):
            tallies.setdefault(rule, Would(rule, decision["mode"])).add(would)
    return len(rows), tallies


def replayed(result: Replay) -> dict[str, Would]:
    """Per unenforced rule of a replay's policy, the would-verdicts of the decisions it made."""
    return {rule.id: Would(rule.id, rule.mode.value, result.rules[rule.id].would.get(Verdict.DENY, 0),
                           result.rules[rule.id].would.get(Verdict.WAIT, 0))
            for rule in result.policy.rules if not rule.enforced}


def with_policy_rules(tallies: dict[str, Would], policy: Policy | None) -> list[Would]:
    """``tallies`` with a zero row for each unenforced rule of ``policy`` that decided nothing, in the policy's
    order (rules no longer in the policy last)."""
    if policy is None:
        return list(tallies.values())
    rows = [tallies.get(rule.id) or Would(rule.id, rule.mode.value) for rule in policy.rules if not rule.enforced]
    listed = {row.rule for row in rows}
    return rows + [w for rule, w in tallies.items() if rule not in listed]
