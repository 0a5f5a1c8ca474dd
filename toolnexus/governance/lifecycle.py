"""Lifecycle enforced: ``retired`` tools are refused (naming their successor), ``deprecated`` ones run with a
warning recorded, ``experimental`` ones need opting in (``[governance] experimental = true``).

One place says what each state means, for the invocation pipeline (:class:`LifecycleCheck`, a
``Governance.checks`` entry) and the mission compiler (:func:`lifecycle_problem`, reported at ``validate``
time with the step's line).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from toolnexus.core.decision import Decision, Verdict
from toolnexus.core.spec import Lifecycle, ToolSpec
from toolnexus.errors import ToolnexusError
from toolnexus.governance.plan import CallPlan

DECIDER = "lifecycle"
OPT_IN = "set `experimental = true` under [governance] in toolnexus.toml, or allow the tool in a policy"


class LifecycleWarning(ToolnexusError, UserWarning):
    """A mission uses a deprecated or experimental tool (issued by the compiler at the step's line)."""


def successor(spec: ToolSpec) -> str | None:
    """The tool that replaces ``spec``, where its description declares one (``successor``)."""
    return spec.successor


@dataclass(frozen=True, slots=True)
class LifecycleProblem:
    """What a tool's lifecycle state means for a call of it: refused (``error``) or allowed with a ``warning``;
    ``hint`` says what to do instead (the successor, where one is declared)."""

    severity: Literal["error", "warning"]
    message: str
    hint: str | None = None

    def __str__(self) -> str:
        return self.message + (f"; {self.hint}" if self.hint else "")


def lifecycle_problem(spec: ToolSpec, *, experimental: bool = False) -> LifecycleProblem | None:
    """The problem with calling ``spec`` in its lifecycle state (None for an active tool, or an experimental
    one when ``experimental`` opts in)."""
    state = spec.lifecycle
    if state is Lifecycle.ACTIVE or (state is Lifecycle.EXPERIMENTAL and experimental):
        return None
    then = successor(spec)
    use = f"use {then} instead" if then else None
    if state is Lifecycle.RETIRED:
        return LifecycleProblem("error", f"{spec.ref} is retired",
                                use or "pick another tool: `toolnexus tools search` finds one")
    if state is Lifecycle.DEPRECATED:
        return LifecycleProblem("warning", f"{spec.ref} is deprecated", use)
    return LifecycleProblem("error", f"{spec.ref} is experimental and not opted in", OPT_IN)


class LifecycleCheck:
    """A ``Governance.checks`` entry: refuses retired tools and experimental ones not opted in; a deprecated
    tool is allowed with a warning (recorded in its ``GateDecided``, told to the caller).

    ``experimental`` opts every experimental tool in; ``opt_in`` (e.g. "a policy rule allows this tool
    explicitly") opts in the calls it returns true for.
    """

    def __init__(self, *, experimental: bool = False, opt_in: Callable[[CallPlan], bool] | None = None) -> None:
        self.experimental = experimental
        self.opt_in = opt_in

    @classmethod
    def from_settings(cls, governance: object, opt_in: Callable[[CallPlan], bool] | None = None) -> LifecycleCheck:
        """The check of the ``[governance]`` settings (their ``experimental`` opt-in)."""
        return cls(experimental=bool(getattr(governance, "experimental", False)), opt_in=opt_in)

    def __call__(self, plan: CallPlan) -> Decision | None:
        """Refuse or warn about ``plan``'s tool by its lifecycle state; None for an active tool."""
        spec = plan.spec
        if spec is None or spec.lifecycle is Lifecycle.ACTIVE:
            return None
        opted_in = self.experimental or (spec.lifecycle is Lifecycle.EXPERIMENTAL and self.opt_in is not None
                                         and self.opt_in(plan))
        problem = lifecycle_problem(spec, experimental=opted_in)
        if problem is None:
            return None
        policy = f"lifecycle:{spec.lifecycle.value}"
        reason = str(problem)
        if problem.severity == "warning":
            return Decision(verdict=Verdict.ALLOW, decider=DECIDER, policy=policy, reason=reason, warning=reason)
        return Decision(verdict=Verdict.DENY, decider=DECIDER, policy=policy, reason=reason)
