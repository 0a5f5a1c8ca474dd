"""Replay: a (candidate) policy run over recorded calls, counting per rule what it matched and what it would
have decided, before the policy is promoted from observe to enforce."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from toolnexus.core.call import ToolCall
from toolnexus.core.caller import local_caller
from toolnexus.core.decision import Decision, Verdict
from toolnexus.core.spec import ToolSpec
from toolnexus.governance.floor import RuntimeFloor
from toolnexus.governance.plan import CallPlan
from toolnexus.governance.policy.combine import combine
from toolnexus.governance.policy.policy import Policy
from toolnexus.governance.policy.recorded import RecordedCall
from toolnexus.governance.policy.rule import Facts, flag_of

SpecOf = Callable[[str], "ToolSpec | None"]
"""A tool's spec by name (None: the tool is gone), from the caller's registry."""


@dataclass
class RuleTally:
    """What one rule did over the replayed calls."""

    matched: int = 0
    decided: Counter[Verdict] = field(default_factory=Counter)  # as the deciding rule, if every rule were enforced
    would: Counter[Verdict] = field(default_factory=Counter)  # recorded would-verdicts (observe and warn rules)


@dataclass
class Replay:
    """The result of a replay: totals, and a tally per rule of the policy (in its order)."""

    policy: Policy
    calls: int = 0
    partial: int = 0  # calls some of whose arguments were computed at run time and not recorded
    unknown: Counter[str] = field(default_factory=Counter)  # tools no longer in the registry
    as_written: Counter[Verdict] = field(default_factory=Counter)  # verdicts with each rule in its own mode
    enforced: Counter[Verdict] = field(default_factory=Counter)  # verdicts if every rule were enforced
    rules: dict[str, RuleTally] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.rules = {rule.id: RuleTally() for rule in self.policy.rules}

    def add(self, facts: Facts) -> tuple[Decision, Decision]:
        """Count one call; its decision as written and as if enforced."""
        matched = self.policy.matching(facts)
        written, enforced = combine(matched), combine(matched, enforce_all=True)
        self.calls += 1
        self.as_written[written.verdict] += 1
        self.enforced[enforced.verdict] += 1
        for rule in matched:
            self.rules[rule.id].matched += 1
        if enforced.policy is not None:
            self.rules[enforced.policy].decided[enforced.verdict] += 1
        if written.would is not None and written.policy is not None:
            self.rules[written.policy].would[written.would] += 1
        return written, enforced


def plan_of(call: RecordedCall, spec: ToolSpec | None, floor: RuntimeFloor) -> CallPlan:
    """The call plan of a recorded call (its caller: the OS user through the surface it came in)."""
    tool_call = ToolCall(tool=call.tool, arguments=call.arguments, run_id=call.run_id, step_id=call.step_id,
                         caller=local_caller(call.surface), origin=call.surface.value)
    runtime = floor.choose(spec, None) if spec is not None else None
    return CallPlan(call=tool_call, spec=spec, runtime=runtime)


def replay(policy: Policy, calls: Iterable[RecordedCall], spec_of: SpecOf, *, tenant: str | None = None,
           floor: RuntimeFloor | None = None, flags: Callable[[str, CallPlan], bool] | None = None) -> Replay:
    """Run ``policy`` over ``calls``, each decided as the gate would (its tool's current spec from ``spec_of``;
    ``flags``: whether a rollout flag is on for a call, as they are now — None: every flag off)."""
    floor = floor or RuntimeFloor()
    result = Replay(policy)
    for call in calls:
        spec = spec_of(call.tool)
        if spec is None:
            result.unknown[call.tool] += 1
        result.partial += call.partial
        plan = plan_of(call, spec, floor)
        result.add(Facts.of(plan, mission=call.mission, tenant=tenant, flag=flag_of(flags, plan)))
    return result
