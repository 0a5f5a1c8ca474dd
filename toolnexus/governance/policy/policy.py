"""A loaded policy: its compiled rules, the index that finds the few a call may match, and its version."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from toolnexus.core.decision import Decision
from toolnexus.core.diagnostics import Diagnostic
from toolnexus.core.spec import ToolSpec
from toolnexus.core.yamlpos import Positions
from toolnexus.governance.plan import CallPlan
from toolnexus.governance.policy.cedar_rule import CedarRule
from toolnexus.governance.policy.cedar_set import CedarSet
from toolnexus.governance.policy.combine import combine
from toolnexus.governance.policy.index import RuleIndex
from toolnexus.governance.policy.rule import Facts, Rule
from toolnexus.governance.policy.schema_check import check_conditions


@dataclass(frozen=True, slots=True)
class Verdicts:
    """One rule's answer for a call in an explanation: whether it matches, and why not."""

    rule: Rule
    mismatch: str | None

    @property
    def matched(self) -> bool:
        """Whether the rule applies to the call."""
        return self.mismatch is None


class Policy:
    """Compiled rules, decided in microseconds; ``version`` is the digest of the files it was loaded from."""

    def __init__(self, rules: Sequence[Rule], version: str, files: Sequence[str] = (),
                 positions: Mapping[str, Positions] | None = None, cedar: Sequence[CedarSet] = (),
                 sources: Mapping[str, str] | None = None) -> None:
        self.rules = tuple(rules)
        self.sources = dict(sources or {})
        """Each file's text, as loaded: what the audit keeps of a policy put in force."""
        self.version = version
        self.files = tuple(files)
        self.positions = dict(positions or {})
        self.cedar = tuple(cedar)
        # Cedar's rules are not indexed: each file answers for its own, in one evaluation per call.
        self._index = RuleIndex([rule for rule in self.rules if not isinstance(rule, CedarRule)])
        self._by_id = {rule.id: rule for rule in self.rules}
        self.uses_missions = (any(rule.names("missions") is not None for rule in self.rules)
                              or any(cedar.uses_missions for cedar in self.cedar))
        self.uses_flags = any(rule.flag is not None for rule in self.rules)

    def rule(self, rule_id: str) -> Rule | None:
        """The rule named ``rule_id`` (an approval reads its approvers, four-eyes, channels and timeout)."""
        return self._by_id.get(rule_id)

    def matching(self, facts: Facts) -> list[Rule]:
        """The rules that apply to ``facts``: the YAML rules in the policy's order, then each Cedar file's."""
        matched = [rule for rule in self._index.candidates(facts.tool) if rule.admits(facts)]
        for cedar in self.cedar:
            matched.extend(cedar.matching(facts))
        return matched

    def decide_facts(self, facts: Facts, *, enforce_all: bool = False) -> Decision:
        """The decision on ``facts`` (see :mod:`~toolnexus.governance.policy.combine`)."""
        return combine(self.matching(facts), enforce_all=enforce_all)

    def decide(self, plan: CallPlan, *, mission: str | None = None, tenant: str | None = None) -> Decision:
        """The decision on ``plan`` (``mission``: its run's mission, when known; ``tenant``: the default)."""
        return self.decide_facts(Facts.of(plan, mission=mission, tenant=tenant))

    def explain(self, facts: Facts) -> list[Verdicts]:
        """Every rule's answer for ``facts``: which match, and why each other does not."""
        cedar: dict[str, str | None] = {}
        for group in self.cedar:
            cedar.update(group.explain(facts))
        return [Verdicts(rule, cedar[rule.id] if rule.id in cedar else rule.mismatch(facts)) for rule in self.rules]

    def check_against(self, specs: Iterable[ToolSpec]) -> list[Diagnostic]:
        """Problems of the rules' argument conditions against the input schemas of the tools ``specs``:
        a condition on an argument path that no tool the rule matches has (see ``schema_check``)."""
        return check_conditions(self, list(specs))

    def __len__(self) -> int:
        return len(self.rules)


EMPTY = Policy((), version="empty")
"""The policy of a workspace with no policy files: every call allowed."""
