"""What governance says of a plan's steps before it runs: lifecycle, kill switches and the policy.

A plan-time decision is a forecast: a rule that looks at argument values sees only the arguments the
mission gives literally (an argument computed from an earlier step's output is unknown until the run).
Nothing here changes any state: the policy is asked through :meth:`Policy.decide_facts`, which records no
decision, and no call is parked.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from toolnexus.mission.plan import Plan, PlanStep

log = logging.getLogger("toolnexus.notebook")


def _literal(value: Any) -> bool:
    """Whether ``value`` holds no ``${{ … }}`` expression (it is known before the run)."""
    if isinstance(value, str):
        return "${{" not in value
    if isinstance(value, dict):
        return all(_literal(v) for v in value.values())
    if isinstance(value, list):
        return all(_literal(v) for v in value)
    return True


def _lifecycle(spec: Any) -> str | None:
    state = getattr(spec.lifecycle, "value", str(spec.lifecycle))
    if state in ("deprecated", "retired", "experimental"):
        return f"{state}; use {spec.successor}" if spec.successor and state != "experimental" else state
    return None


def _verdict_text(decision: Any) -> str | None:
    rule = f" ({decision.policy})" if decision.policy else ""
    verdict = decision.verdict.value
    if verdict == "deny":
        return f"denied{rule}"
    if verdict == "wait":
        return f"needs approval{rule}"
    if decision.would is not None and decision.would.value in ("deny", "wait"):
        would = "deny" if decision.would.value == "deny" else "need approval"
        return f"would {would}{rule}, {decision.mode}"
    return None


def step_decision(nexus: Any, plan: Plan, step: PlanStep) -> str | None:
    """What governance says of ``step`` now: retired/deprecated/experimental, killed, denied, needs approval,
    or a would-be decision of an observe or warn rule; None when it would simply run."""
    from toolnexus.core.call import ToolCall
    from toolnexus.governance.plan import CallPlan

    try:
        spec = nexus.registry.get(step.tool, step.version)
    except Exception:  # an unknown tool: the run itself will say so
        return None
    arguments = {k: v for k, v in step.arguments.items() if _literal(v)}
    call = ToolCall(tool=step.tool, version=step.version, arguments=arguments, caller=nexus.caller,
                    runtime=step.runtime, origin="mission")
    call_plan = CallPlan(call=call, spec=spec, runtime=step.runtime)
    said = [_lifecycle(spec), _killed(nexus.governed.kills, call_plan),
            _policy_says(nexus.governed.gate, call_plan, plan.mission)]
    return "; ".join(text for text in said if text) or None


def _killed(kills: Any, call_plan: Any) -> str | None:
    killed = kills(call_plan) if kills is not None else None
    if killed is None:
        return None
    return f"killed: {killed.reason}" if killed.reason else "killed"


def _policy_says(gate: Any, call_plan: Any, mission: str) -> str | None:
    if gate is None or not hasattr(gate, "policy") or not hasattr(gate, "facts"):
        return None  # no policy files, or a gate of the caller's own that cannot be asked without deciding
    facts = gate.facts(call_plan)
    if dataclasses.is_dataclass(facts):  # the run's mission is not in the store yet: it is this plan's
        facts = dataclasses.replace(facts, mission=mission)
    return _verdict_text(gate.policy.decide_facts(facts))


def plan_decisions(plan: Plan, nexus: Any = None) -> dict[str, str]:
    """Each step's plan-time governance decision (only the steps governance says something of), asked of
    ``nexus`` (default: the kernel's default Nexus, if one was made; none is made here)."""
    nexus = nexus if nexus is not None else existing_default_nexus()
    if nexus is None:
        return {}
    decisions: dict[str, str] = {}
    for step in plan.steps:
        try:
            text = step_decision(nexus, plan, step)
        except Exception:  # a forecast must never break a display
            log.debug("plan-time decision of %s failed", step.id, exc_info=True)
            continue
        if text:
            decisions[step.id] = text
    return decisions


def existing_default_nexus() -> Any:
    """The default Nexus if this process already made one (``tn.run``, ``tn.compile``…), else None: displaying
    a plan never opens a workspace's state store by itself."""
    import sys

    api = sys.modules.get("toolnexus.api")
    return getattr(api, "_default", None) if api is not None else None
