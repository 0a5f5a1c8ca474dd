"""The tier → runtime floor: the least isolation a tool of each safety tier may run with.

Decided once, here, for the compiler (which reports a too-weak ``runtime:`` with the step's line) and the
invocation pipeline (which refuses a call that asks for one, as a gate decision with its event).
"""

from __future__ import annotations

from collections.abc import Mapping

from toolnexus.core.decision import ALLOW, Decision, Verdict
from toolnexus.core.spec import DEFAULT_MIN_RUNTIME, ISOLATION, ToolSpec, stronger_runtime

DECIDER = "runtime-floor"


class RuntimeFloor:
    """Maps a safety tier to its least isolating runtime (``[sandbox] min_runtime``)."""

    def __init__(self, min_runtime: Mapping[str, str] | None = None) -> None:
        self.min_runtime = dict(min_runtime if min_runtime is not None else DEFAULT_MIN_RUNTIME)

    def floor(self, spec: ToolSpec) -> str:
        """The least isolating runtime ``spec``'s tier may run in."""
        return self.min_runtime.get(spec.tier.value, "inprocess")

    def choose(self, spec: ToolSpec, requested: str | None) -> str:
        """The runtime a call runs in: the one asked for, else the tool's own raised to the floor."""
        return requested or stronger_runtime(spec.runtime, self.floor(spec))

    def below(self, spec: ToolSpec, runtime: str) -> bool:
        """Whether ``runtime`` isolates less than ``spec``'s tier requires."""
        return ISOLATION.get(runtime, 0) < ISOLATION.get(self.floor(spec), 0)

    def decide(self, spec: ToolSpec, runtime: str) -> Decision:
        """Deny a runtime below the floor; allow any other."""
        if not self.below(spec, runtime):
            return ALLOW
        floor = self.floor(spec)
        return Decision(verdict=Verdict.DENY, decider=DECIDER, policy="min_runtime",
                        reason=f"policy runs {spec.tier.value} tools like {spec.ref} with at least `{floor}` "
                               f"isolation, not `{runtime}`")
