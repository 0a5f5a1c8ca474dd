"""A Cedar policy as a rule of the policy: its id, effect and mode join the YAML rules' combination.

A ``permit`` is an ``allow`` rule (an ``approve`` one with ``@effect("approve")``), a ``forbid`` a ``deny`` rule,
and each ``.cedar`` file has one more deny rule, its *default deny*, that applies when none of the file's
permits does. Whether a Cedar rule applies is Cedar's to say (one evaluation per file and call, see
:class:`~toolnexus.governance.policy.cedar.CedarSet`), never the matchers of :class:`Rule`.
"""

from __future__ import annotations

from dataclasses import dataclass

from toolnexus.governance.policy.rule import Facts, Rule

DECIDER = "cedar"


@dataclass(frozen=True, slots=True)
class CedarRule(Rule):
    """One Cedar policy of a ``.cedar`` file (or the file's default deny, ``default`` true)."""

    cedar_id: str = ""  # Cedar's own id of the policy in its file (policy0, policy1…)
    default: bool = False

    def summary(self) -> str:
        """What the rule matches: Cedar's scope and conditions, where it is written."""
        if self.default:
            return "no permit of the file applies (Cedar's default deny)"
        return f"the Cedar policy's scope and conditions hold ({self.cedar_id})"

    def mismatch(self, facts: Facts) -> str | None:
        """Not known rule by rule: :meth:`~toolnexus.governance.policy.cedar.CedarSet.explain` says."""
        return "decided by its Cedar policy set"

    def admits(self, facts: Facts, matchers: object = None) -> bool:
        """Never by matchers: a Cedar rule applies when its file's evaluation says so."""
        return False


def noun(rule: Rule) -> str:
    """How a decision names ``rule``: a Cedar policy or a policy rule."""
    return "Cedar policy" if isinstance(rule, CedarRule) else "policy rule"
