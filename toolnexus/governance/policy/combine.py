"""How the matching rules of a call combine into one decision: deny wins, among enforced rules.

Every matching rule is evaluated. Among the *enforced* rules, ``deny`` wins over ``approve``, which wins
over ``allow``; among rules of the same effect, the first in the policy decides. Rules in ``observe`` or
``warn`` mode never change the verdict: when one of them would have been stricter than the enforced
outcome, the decision records it (``would``, ``mode``, and for warn a ``warning`` the caller is told).
No matching enforced rule: the call is allowed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from toolnexus.core.decision import Decision, Verdict
from toolnexus.governance.policy.cedar_rule import DECIDER as CEDAR, CedarRule, noun
from toolnexus.governance.policy.model import Effect, Mode
from toolnexus.governance.policy.rule import Rule

DECIDER = "policy"

PRECEDENCE: dict[Effect, int] = {Effect.DENY: 2, Effect.APPROVE: 1, Effect.ALLOW: 0}
VERDICTS: dict[Effect, Verdict] = {Effect.ALLOW: Verdict.ALLOW, Effect.DENY: Verdict.DENY, Effect.APPROVE: Verdict.WAIT}

WOULD: dict[Effect, str] = {Effect.ALLOW: "allowed it", Effect.DENY: "denied it",
                            Effect.APPROVE: "sent it for approval"}

NO_RULE = Decision(verdict=Verdict.ALLOW, decider=DECIDER, reason="no enforced policy rule matches: allowed")


def strongest(rules: Iterable[Rule]) -> Rule | None:
    """The rule whose effect wins: the strictest effect, warn before observe, then the first written."""
    best: Rule | None = None
    for rule in rules:
        if best is None or _rank(rule) > _rank(best):
            best = rule
    return best


def _rank(rule: Rule) -> tuple[int, int, int]:
    return PRECEDENCE[rule.effect], rule.mode is Mode.WARN, -rule.order


def combine(matched: Iterable[Rule], *, enforce_all: bool = False) -> Decision:
    """The decision of the ``matched`` rules (``enforce_all``: as if every rule were enforced, for replay)."""
    enforced: list[Rule] = []
    shadow: list[Rule] = []
    for rule in matched:
        (enforced if enforce_all or rule.enforced else shadow).append(rule)
    winner = strongest(enforced)
    if winner is not None and winner.effect is not Effect.ALLOW:
        return enforced_decision(winner)
    stricter = strongest(r for r in shadow if r.effect is not Effect.ALLOW)
    if stricter is not None:
        return _unenforced(stricter, winner)
    return _allowed(winner)


# A rule's enforced decision depends on the rule alone, and a Decision is frozen: each is made once, not per call
# (building one is a pydantic validation on the path of every governed call). Keyed by the rule's id, with the
# rule kept alongside so that the id cannot be reused while the entry lives; bounded, as policies are reloaded.
_MADE: dict[tuple[int, str], tuple[Rule, Decision]] = {}
MAX_MADE = 4096


def _made(rule: Rule, kind: str, make: Callable[[Rule], Decision]) -> Decision:
    key = (id(rule), kind)
    hit = _MADE.get(key)
    if hit is not None and hit[0] is rule:
        return hit[1]
    decision = make(rule)
    if len(_MADE) >= MAX_MADE:
        _MADE.clear()
    _MADE[key] = (rule, decision)
    return decision


def _allowed(rule: Rule | None) -> Decision:
    """Allowed by an enforced allow ``rule``, or by no rule at all."""
    if rule is None:
        return NO_RULE
    return _made(rule, "allow", _make_allowed)


def _make_allowed(rule: Rule) -> Decision:
    return Decision(verdict=Verdict.ALLOW, decider=decider(rule), policy=rule.id, mode="enforce",
                    reason=rule.reason or f"allowed by {noun(rule)} {rule.id}")


def enforced_decision(rule: Rule) -> Decision:
    """The decision of an enforced deny or approve ``rule``."""
    return _made(rule, "enforced", _make_enforced)


def _make_enforced(rule: Rule) -> Decision:
    if rule.effect is Effect.DENY:
        reason = rule.reason or f"denied by {noun(rule)} {rule.id}"
    else:
        reason = rule.reason or f"{noun(rule)} {rule.id} needs a person's approval"
    return Decision(verdict=VERDICTS[rule.effect], decider=decider(rule), policy=rule.id, mode="enforce",
                    reason=reason)


def decider(rule: Rule) -> str:
    """Who decided by ``rule``: ``policy`` (a YAML rule) or ``cedar`` (a Cedar policy)."""
    return CEDAR if isinstance(rule, CedarRule) else DECIDER


def _unenforced(rule: Rule, allowed_by: Rule | None) -> Decision:
    """Allow, recording what observe/warn ``rule`` would have done."""
    would = VERDICTS[rule.effect]
    said = f"{noun(rule)} {rule.id} ({rule.mode.value}) would have {WOULD[rule.effect]}"
    if rule.reason:
        said += f": {rule.reason}"
    reason = (f"allowed by {noun(allowed_by)} {allowed_by.id}; {said}" if allowed_by is not None
              else f"allowed; {said}")
    return Decision(verdict=Verdict.ALLOW, decider=decider(rule), policy=rule.id, mode=rule.mode.value, would=would,
                    reason=reason, warning=said if rule.mode is Mode.WARN else None)
