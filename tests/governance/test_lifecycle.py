"""Lifecycle at run time: a retired tool is refused naming its successor, a deprecated one runs with the
warning recorded in its gate decision, an experimental one is refused unless the workspace opts in."""

from __future__ import annotations

import pytest

import toolnexus as tn
from tests.engine.support import Recorder
from toolnexus import tool
from toolnexus.config import GovernanceSettings
from toolnexus.core.caller import Caller
from toolnexus.core.decision import Decision, Verdict
from toolnexus.core.events import GateDecided
from toolnexus.governance import CallPlan
from toolnexus.governance.lifecycle import DECIDER, LifecycleCheck
from toolnexus.registry import spec_of

pytestmark = pytest.mark.anyio


@tool(name="life.old", register=False, lifecycle="retired", successor="life.shout")
def old(text: str) -> str:
    """Shout (retired)."""
    return text.upper()


@tool(name="life.aging", register=False, lifecycle="deprecated", successor="life.shout")
def aging(text: str) -> str:
    """Shout (deprecated)."""
    return text.upper()


@tool(name="life.new", register=False, lifecycle="experimental")
def new(text: str) -> str:
    """Shout (experimental)."""
    return text.upper()


@tool(name="life.orphan", register=False, lifecycle="retired")
def orphan() -> None:
    """Retired, with nothing in its place."""


@pytest.fixture
def lnx(enx: tn.Nexus) -> tn.Nexus:
    """The test Nexus with the lifecycle tools (the retired and deprecated ones naming a successor) and the check."""
    enx.registry.register(spec_of(old))
    enx.registry.register(spec_of(aging))
    enx.registry.register(spec_of(new))
    enx.registry.register(spec_of(orphan))
    use(enx, LifecycleCheck())
    return enx


def use(nexus: tn.Nexus, check: LifecycleCheck) -> None:
    """Decide lifecycle with ``check`` (in place of the workspace's own, if it has one)."""
    checks = nexus.governance.checks
    checks[:] = [c for c in checks if not isinstance(c, LifecycleCheck)] + [check]


def decisions(events: Recorder) -> list[GateDecided]:
    return [e for e in events.of("gate_decided") if isinstance(e, GateDecided)]


async def test_a_retired_tool_is_refused_naming_its_successor(lnx: tn.Nexus, events: Recorder) -> None:
    result = await lnx.acall("life.old", text="hi")
    assert result.error is not None and result.error.kind == tn.ErrorKind.DENIED
    assert "life.old@1.0.0 is retired; use life.shout instead" in result.error.message
    decision = decisions(events)[-1].decision
    assert (decision.verdict, decision.decider, decision.policy) == (Verdict.DENY, DECIDER, "lifecycle:retired")


async def test_a_retired_tool_without_successor_says_how_to_find_another(lnx: tn.Nexus) -> None:
    result = await lnx.acall("life.orphan")
    assert result.error is not None and "is retired" in result.error.message
    assert "toolnexus tools search" in result.error.message


async def test_a_deprecated_tool_runs_with_the_warning_recorded(lnx: tn.Nexus, events: Recorder) -> None:
    result = await lnx.acall("life.aging", text="hi")
    assert result.ok and result.output == "HI"
    decision = decisions(events)[-1].decision
    assert decision.verdict is Verdict.ALLOW
    assert decision.warning is not None and "deprecated; use life.shout instead" in decision.warning


async def test_an_experimental_tool_is_refused_unless_opted_in(lnx: tn.Nexus) -> None:
    result = await lnx.acall("life.new", text="hi")
    assert result.error is not None and result.error.kind == tn.ErrorKind.DENIED
    assert "experimental" in result.error.message and "experimental = true" in result.error.message

    use(lnx, LifecycleCheck.from_settings(GovernanceSettings(experimental=True)))
    assert (await lnx.acall("life.new", text="hi")).output == "HI"


async def test_an_experimental_tool_can_be_opted_in_call_by_call(lnx: tn.Nexus) -> None:
    # e.g. a policy rule that allows the tool by name: here, calls made for tenant "lab"
    use(lnx, LifecycleCheck(opt_in=lambda plan: plan.call.caller is not None and plan.call.caller.tenant == "lab"))
    lab, other = Caller(principal="ann", tenant="lab"), Caller(principal="bob", tenant="prod")
    assert (await lnx.acall("life.new", {"text": "hi"}, caller=lab)).output == "HI"
    assert not (await lnx.acall("life.new", {"text": "hi"}, caller=other)).ok


async def test_active_tools_are_not_decided_by_lifecycle(lnx: tn.Nexus, events: Recorder) -> None:
    assert (await lnx.acall("test.echo", value="x")).ok
    assert decisions(events)[-1].decision.decider != DECIDER


def test_the_opt_in_is_a_governance_setting(workspace) -> None:  # type: ignore[no-untyped-def]
    (workspace / "toolnexus.toml").write_text("[governance]\nexperimental = true\n")
    with tn.Nexus(workspace, store=False) as nexus:
        assert LifecycleCheck.from_settings(nexus.settings.governance).experimental


class Denying:
    """A gate that refuses every call."""

    async def check(self, plan: CallPlan) -> Decision:
        return Decision(verdict=Verdict.DENY, reason="policy says no", policy="p")

    async def settle(self, plan: CallPlan, pending: Decision) -> Decision:
        return pending


async def test_a_deprecated_tool_is_still_decided_by_the_gate(lnx: tn.Nexus) -> None:
    lnx.governance.gate = Denying()
    result = await lnx.acall("life.aging", text="hi")
    assert result.error is not None and result.error.message == "policy says no"
