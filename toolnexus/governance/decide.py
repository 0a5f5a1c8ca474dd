"""Governance: the one place a call is decided — the runtime floor, a surface's authorizer, then the gate.

Every decision, allow included, is announced as a :class:`GateDecided` event (built only when someone
listens), so the audit, the store and a notebook see who decided what.
"""

from __future__ import annotations

import inspect
from typing import Protocol

from toolnexus.core.decision import Decision, Verdict
from toolnexus.core.events import Event, GateDecided
from toolnexus.core.secrets import scrub
from toolnexus.governance.floor import RuntimeFloor
from toolnexus.governance.gate import AllowAll, Gate
from toolnexus.governance.plan import CallPlan
from toolnexus.governance.surface import current_authorizer


class Announcer(Protocol):
    """Where decisions go: the engine's event bus."""

    def wants(self, kind: type[Event]) -> bool:
        """Whether anyone listens to events of ``kind``."""
        ...

    def emit(self, event: Event) -> None:
        """Deliver ``event``."""
        ...


class Check(Protocol):
    """A quick, synchronous check asked before the gate (kill switches, lifecycle): a refusal, or None to go on."""

    def __call__(self, plan: CallPlan) -> Decision | None:
        """A deny (or wait) decision for ``plan``, or None when this check has nothing against it."""
        ...


class Governance:
    """Decides call plans: a surface's authorizer, the floor, the :attr:`checks`, then the configured :class:`Gate`."""

    def __init__(self, gate: Gate | None = None, floor: RuntimeFloor | None = None,
                 announcer: Announcer | None = None, checks: list[Check] | None = None) -> None:
        self.gate: Gate = gate or AllowAll()
        self.floor = floor or RuntimeFloor()
        self.announcer = announcer
        self.checks: list[Check] = checks if checks is not None else []

    async def decide(self, plan: CallPlan) -> Decision:
        """The final verdict on ``plan`` (allow or deny); waits, cancellably, while the gate parks it."""
        decision = await self._surface(plan) or self._floor(plan) or self._checked(plan)
        if decision is None or decision.allowed:  # a check's allow (with a warning) never skips the gate
            decision = _warned(await self.gate.check(plan), decision)
        if decision.waiting:
            self.announce(plan, decision)
            decision = await self.gate.settle(plan, decision)
        self.announce(plan, decision)
        return decision

    def _checked(self, plan: CallPlan) -> Decision | None:
        """The first refusal of a check; else the first allow with a warning (a deprecated tool); else None."""
        warned = None
        for check in self.checks:
            decision = check(plan)
            if decision is not None:
                if not decision.allowed:
                    return decision
                warned = warned or decision
        return warned

    def _floor(self, plan: CallPlan) -> Decision | None:
        if plan.spec is None or plan.runtime is None:
            return None
        decision = self.floor.decide(plan.spec, plan.runtime)
        return None if decision.allowed else decision

    async def _surface(self, plan: CallPlan) -> Decision | None:
        authorizer = current_authorizer()
        if authorizer is None:
            return None
        verdict = authorizer.check(plan)
        if inspect.isawaitable(verdict):
            verdict = await verdict
        if verdict:
            return None
        return Decision(verdict=Verdict.DENY, decider=authorizer.decider, policy=authorizer.decider,
                        reason=f"this user may not call {plan.tool}")

    def announce(self, plan: CallPlan, decision: Decision) -> None:
        """Emit the :class:`GateDecided` event of ``decision`` (its arguments scrubbed), if anyone listens."""
        announcer = self.announcer
        if announcer is None or not announcer.wants(GateDecided):
            return
        call = plan.call
        update: dict[str, object] = {}
        if call.arguments:
            arguments = plan.recorded_arguments
            if arguments is None:  # (the invoker hands over the arguments it scrubbed for its own events)
                arguments = scrub(call.arguments)
            if arguments is not call.arguments:  # (scrub gives back what holds no secret: no copy of the call)
                update["arguments"] = arguments
        if plan.spec is not None and call.version != plan.spec.version:  # the version that runs, not the one asked
            update["version"] = plan.spec.version
        if update:
            call = call.model_copy(update=update)
        announcer.emit(GateDecided(run_id=call.run_id, call=call, decision=decision, subject=plan.subject,
                                   runtime=plan.runtime, cached=plan.cached))


def _warned(decision: Decision, checked: Decision | None) -> Decision:
    """The gate's ``decision``, carrying the warning of a check that allowed the call with one."""
    if checked is None or not checked.warning or not decision.allowed or decision.warning:
        return decision
    return decision.model_copy(update={"warning": checked.warning})
