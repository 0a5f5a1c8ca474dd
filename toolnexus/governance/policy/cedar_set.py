"""A compiled ``.cedar`` file deciding calls: one Cedar evaluation per file and call.

The file's policies are evaluated with every ``forbid`` turned into a ``permit`` (the effects are kept by the
rules): Cedar then names every policy whose scope and conditions hold, from which the file's answer follows
exactly as Cedar's would (a forbid wins; no permit means deny) while each policy keeps its own mode, as a
YAML rule does. Two things are parsed once and remembered, as neither depends on a call's arguments: the
policies that may apply to an action (a policy whose scope says ``action == …`` another action never holds),
and the entities of a caller and tool.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from toolnexus.governance.policy.cedar_request import Vocabulary, entity_key
from toolnexus.governance.policy.cedar_rule import CedarRule
from toolnexus.governance.policy.model import Effect
from toolnexus.governance.policy.rule import Facts

MAX_REMEMBERED = 4096
"""Actions, and callers and tools, whose parsed policies and entities a Cedar file remembers."""


@dataclass(frozen=True, slots=True)
class Evaluation:
    """One file's answer for a call: the policies whose scope and conditions hold, and Cedar's errors."""

    held: tuple[CedarRule, ...]
    errors: tuple[str, ...] = ()


@dataclass
class CedarSet:
    """A compiled ``.cedar`` file: its rules by Cedar id, its default deny, and its policies (as Cedar's JSON,
    every forbid made a permit)."""

    file: str
    vocabulary: Vocabulary
    policies: dict[str, Any]
    by_cedar_id: dict[str, CedarRule]
    default: CedarRule
    uses_missions: bool = False
    rules: tuple[CedarRule, ...] = field(init=False)
    _sliced: dict[str, Any] = field(init=False, default_factory=dict)
    _parsed: dict[tuple[object, ...], Any] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.rules = (*self.by_cedar_id.values(), self.default)

    def evaluate(self, facts: Facts) -> Evaluation:
        """Which of the file's policies hold for ``facts`` (one Cedar evaluation)."""
        import cedarpy

        policies = self._policies(self.vocabulary.action_id(facts))
        if policies is None:
            return Evaluation(())
        try:
            result = cedarpy.is_authorized(self.vocabulary.request(facts), policies, self._entities(facts))
        except (ValueError, TypeError) as exc:  # a request Cedar cannot take: no policy holds, so the file denies
            return Evaluation((), (f"Cedar could not evaluate the call: {exc}",))
        held = tuple(self.by_cedar_id[p] for p in result.diagnostics.reasons if p in self.by_cedar_id)
        return Evaluation(held, tuple(result.diagnostics.errors))

    def matching(self, facts: Facts) -> list[CedarRule]:
        """The file's rules that apply to ``facts``: the policies that hold, and the default deny when no permit
        (of any mode) does."""
        held = list(self.evaluate(facts).held)
        if not any(rule.effect is not Effect.DENY for rule in held):
            held.append(self.default)
        return held

    def explain(self, facts: Facts) -> dict[str, str | None]:
        """Why each of the file's rules applies to ``facts`` or not: rule id → None (applies) or the reason."""
        evaluation = self.evaluate(facts)
        held = {rule.id for rule in evaluation.held}
        why: dict[str, str | None] = {}
        for rule in self.by_cedar_id.values():
            errors = [e for e in evaluation.errors if f"`{rule.cedar_id}`" in e]
            why[rule.id] = None if rule.id in held else (
                "; ".join(errors) if errors else "its scope or conditions do not hold")
        permitted = any(rule.effect is not Effect.DENY for rule in evaluation.held)
        why[self.default.id] = "a permit applies" if permitted else None
        return why

    def _policies(self, action: str) -> Any:
        """The parsed policies that may hold for ``action`` (None: none may)."""
        if action in self._sliced:
            return self._sliced[action]
        import cedarpy

        kind = f"{self.vocabulary.namespace}::Action"
        kept = {k: v for k, v in self.policies.items() if _may_apply(v.get("action"), kind, action)}
        handle = cedarpy.PolicySet.from_json_str(json.dumps(
            {"staticPolicies": kept, "templates": {}, "templateLinks": []})) if kept else None
        if len(self._sliced) >= MAX_REMEMBERED:
            self._sliced.clear()
        self._sliced[action] = handle
        return handle

    def _entities(self, facts: Facts) -> Any:
        """The request's entities as a parsed handle, remembered per caller and tool (parsing them is half the
        cost of an evaluation)."""
        import cedarpy

        key = entity_key(facts)
        handle = self._parsed.get(key)
        if handle is None:
            if len(self._parsed) >= MAX_REMEMBERED:
                self._parsed.clear()
            handle = self._parsed[key] = cedarpy.Entities.from_json_str(json.dumps(self.vocabulary.entities(facts)))
        return handle


def _may_apply(scope: Any, kind: str, action: str) -> bool:
    """Whether a policy whose action scope is ``scope`` (Cedar JSON) may hold for the action ``kind::"action"``:
    only ``action == X`` for another X rules it out; ``in`` (groups) and the rest are left to Cedar."""
    if not isinstance(scope, dict) or scope.get("op") != "==":
        return True
    entity = scope.get("entity") or {}
    return entity.get("type") == kind and entity.get("id") == action
