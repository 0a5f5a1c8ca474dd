"""Policy test cases (``toolnexus policy test``): calls and the decisions a policy must give them, for CI.

A case file::

    policy: [../policies/main.yaml]      # optional, relative to this file (default: the workspace's)
    cases:
      - name: writes under out/ are allowed
        tool: files.write
        arguments: {path: out/report.md, content: x}
        caller: {principal: alice, tenant: acme, surface: cli}   # optional (default: the OS user)
        runtime: process                                         # optional (default: the tool's)
        mission: nightly                                         # optional
        expect: allow                                            # allow, deny or approve
        rule: writes-under-out                                   # optional: the deciding rule
        would: deny                                              # optional: an observe/warn rule's verdict
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from toolnexus.core.call import ToolCall
from toolnexus.core.caller import Caller, Surface, os_user
from toolnexus.core.decision import Decision, Verdict
from toolnexus.core.diagnostics import Diagnostic, DiagnosticError
from toolnexus.core.spec import ToolSpec
from toolnexus.core.yamlpos import Positions, load_yaml, validation_diagnostics
from toolnexus.governance.floor import RuntimeFloor
from toolnexus.governance.plan import CallPlan
from toolnexus.governance.policy.model import Names
from toolnexus.governance.policy.policy import Policy
from toolnexus.governance.policy.rule import Facts, flag_of

Expected = Literal["allow", "deny", "approve", "wait"]
VERDICT_OF: dict[str, Verdict] = {"allow": Verdict.ALLOW, "deny": Verdict.DENY, "approve": Verdict.WAIT,
                                  "wait": Verdict.WAIT}


class CaseCaller(BaseModel):
    """Who calls in a case (default: the OS user, through the Python API)."""

    model_config = ConfigDict(extra="forbid")

    principal: str | None = None
    tenant: str | None = None
    surface: Surface = Surface.PYTHON


class PolicyCase(BaseModel):
    """One call and the decision the policy must give it."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    tool: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    caller: CaseCaller = Field(default_factory=CaseCaller)
    runtime: str | None = None
    mission: str | None = None
    expect: Expected
    rule: str | None = Field(None, description="the rule that must decide")
    would: Expected | None = Field(None, description="what an observe or warn rule must record")


class CaseFile(BaseModel):
    """A file of policy test cases."""

    model_config = ConfigDict(extra="forbid")

    policy: Names | None = Field(None, description="policy files, relative to this file")
    cases: list[PolicyCase]


@dataclass(frozen=True, slots=True)
class CaseResult:
    """A case's outcome: the decision it got, and what differs from what it expected (empty: passed)."""

    case: PolicyCase
    index: int
    decision: Decision
    failures: tuple[str, ...]
    line: int | None

    @property
    def passed(self) -> bool:
        """Whether the decision is the expected one."""
        return not self.failures

    @property
    def title(self) -> str:
        """The case's name, or its tool and position."""
        return self.case.name or f"case {self.index + 1} ({self.case.tool})"


def _case_fields(path: tuple[Any, ...]) -> list[str]:
    names = [p for p in path if isinstance(p, str)]
    if names == ["cases"]:
        return list(PolicyCase.model_fields)
    if names == ["cases", "caller"]:
        return list(CaseCaller.model_fields)
    return list(CaseFile.model_fields)


def load_cases(path: str | Path) -> tuple[CaseFile, Positions]:
    """The cases of the file at ``path``; problems raise a DiagnosticError with positions."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DiagnosticError([Diagnostic(message=f"cannot read policy test file: {exc}", file=str(path))]) from None
    data, positions = load_yaml(text, str(path))
    try:
        return CaseFile.model_validate(data), positions
    except ValidationError as exc:
        raise DiagnosticError(validation_diagnostics(exc, positions, known_fields=_case_fields)) from None


def call_plan(spec: ToolSpec, arguments: dict[str, Any], caller: CaseCaller, runtime: str | None,
              floor: RuntimeFloor) -> CallPlan:
    """The plan of a call of ``spec`` with ``arguments`` by ``caller`` (the OS user when it names no principal)."""
    who = Caller(principal=caller.principal or os_user(), tenant=caller.tenant, surface=caller.surface)
    call = ToolCall(tool=spec.name, version=spec.version, arguments=arguments, caller=who, runtime=runtime,
                    origin=who.surface.value)
    return CallPlan(call=call, spec=spec, runtime=floor.choose(spec, runtime))


def _failures(case: PolicyCase, decision: Decision) -> tuple[str, ...]:
    failures = []
    if decision.verdict is not VERDICT_OF[case.expect]:
        failures.append(f"expected {case.expect}, got {decision.verdict.value}")
    if case.rule is not None and decision.policy != case.rule:
        failures.append(f"expected rule {case.rule!r} to decide, got {decision.policy or 'no rule'}")
    if case.would is not None and decision.would is not VERDICT_OF[case.would]:
        failures.append(f"expected would={case.would}, got {decision.would.value if decision.would else 'none'}")
    return tuple(failures)


def run_cases(policy: Policy, cases: CaseFile, positions: Positions, spec_of: Callable[[str], ToolSpec | None],
              *, tenant: str | None = None, floor: RuntimeFloor | None = None,
              flags: Callable[[str, CallPlan], bool] | None = None) -> list[CaseResult]:
    """Decide every case with ``policy`` (``flags``: whether a rollout flag is on for a call; None: all off); a
    case naming a tool ``spec_of`` does not know raises a DiagnosticError."""
    floor = floor or RuntimeFloor()
    problems, results = [], []
    for i, case in enumerate(cases.cases):
        spec = spec_of(case.tool)
        if spec is None:
            problems.append(positions.diagnostic(("cases", i, "tool"), f"no tool named {case.tool!r}",
                                                 "see `toolnexus tools list`"))
            continue
        plan = call_plan(spec, case.arguments, case.caller, case.runtime, floor)
        decision = policy.decide_facts(Facts.of(plan, mission=case.mission, tenant=tenant, flag=flag_of(flags, plan)))
        line, _ = positions.at(("cases", i))
        results.append(CaseResult(case, i, decision, _failures(case, decision), line))
    if problems:
        raise DiagnosticError(problems)
    return results
