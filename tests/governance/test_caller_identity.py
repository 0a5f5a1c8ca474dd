"""Every call carries its caller (principal, tenant, surface) and a correlation id, and the gate sees both:
a direct call, a mission run's steps (one correlation id for the run), retries, sub-calls a tool makes, and a
cached result (decided like any call: a tool the gate denies is never served from the cache)."""

from __future__ import annotations

from pathlib import Path

import pytest

import toolnexus as tn
from toolnexus import tool
from toolnexus.core.caller import Caller, Surface, os_user, reset_identity, use_identity
from toolnexus.governance import ALLOW, CallPlan, Decision, Verdict
from toolnexus.registry import spec_of

pytestmark = pytest.mark.anyio


class Recording:
    """A gate that allows every call and keeps each plan it decided (denying the tools in ``deny``)."""

    def __init__(self, deny: tuple[str, ...] = ()) -> None:
        self.plans: list[CallPlan] = []
        self.deny = deny

    async def check(self, plan: CallPlan) -> Decision:
        """Keep the plan; allow it unless its tool is denied."""
        self.plans.append(plan)
        if plan.tool in self.deny:
            return Decision(verdict=Verdict.DENY, reason="not this one", policy="test")
        return ALLOW

    async def settle(self, plan: CallPlan, pending: Decision) -> Decision:
        """Never called: nothing waits."""
        return pending

    def seen(self, tool_name: str) -> list[tuple[str, Surface, str | None, str]]:
        """(principal, surface, correlation id, origin) of each decided call of ``tool_name``."""
        return [(p.call.caller.principal, p.call.caller.surface, p.call.correlation_id, p.call.origin)
                for p in self.plans if p.tool == tool_name and p.call.caller is not None]


# The Nexus the sub-calling tools call through (set by the test that uses them).
SUBCALLS: list[tn.Nexus] = []


@tool(name="sub.outer", register=False)
async def outer(value: str) -> str:
    """Call test.echo through the test's Nexus: a sub-call of this call."""
    return (await SUBCALLS[0].acall("test.echo", value=value)).unwrap()


@tool(name="sub.outer_sync", register=False)
def outer_sync(value: str) -> str:
    """The same from a sync tool (run in a worker thread): the identity goes with it."""
    return SUBCALLS[0].call("test.echo", value=value).unwrap()


@pytest.fixture
def recording(enx: tn.Nexus) -> Recording:
    gate = Recording()
    enx.governance.gate = gate
    return gate


async def test_a_direct_call_carries_the_os_user_on_the_python_surface_and_its_own_id(
        enx: tn.Nexus, recording: Recording) -> None:
    result = await enx.acall("test.echo", value="x")
    assert result.ok
    [plan] = recording.plans
    assert plan.call.caller == Caller(principal=os_user(), surface=Surface.PYTHON)
    assert plan.call.correlation_id == plan.call.id == result.call_id
    assert plan.call.origin == "python"


async def test_a_given_caller_and_correlation_id_are_what_the_gate_sees(enx: tn.Nexus, recording: Recording) -> None:
    someone = Caller(principal="ada", tenant="acme", surface=Surface.REST)
    await enx.acall("test.echo", value="x", caller=someone, correlation_id="ticket-7")
    [plan] = recording.plans
    assert plan.call.caller is someone and plan.call.correlation_id == "ticket-7" and plan.call.origin == "rest"


async def test_an_origin_naming_a_surface_sets_the_surface_of_the_caller(enx: tn.Nexus, recording: Recording) -> None:
    await enx.acall("test.echo", value="x", origin="cli")
    assert recording.seen("test.echo") == [(os_user(), Surface.CLI, recording.plans[0].call.id, "cli")]


def test_the_tenant_setting_is_the_callers_tenant(workspace: Path) -> None:
    gate = Recording()
    with tn.Nexus(workspace, gate=gate, overrides={"governance.tenant": "acme"}) as nexus:
        assert nexus.call("text.render", template="hi").ok
    [plan] = gate.plans
    assert plan.call.caller == Caller(principal=os_user(), tenant="acme", surface=Surface.PYTHON)


def test_the_module_level_call_carries_the_python_surface(workspace: Path) -> None:
    gate = Recording()
    tn.api.default_nexus().governance.gate = gate
    assert tn.call("text.render", template="hi").ok
    assert [(c.principal, c.surface) for c in (p.call.caller for p in gate.plans) if c] == [(os_user(), Surface.PYTHON)]


MISSION = """
mission: identity
steps:
  - id: a
    uses: test.echo
    with: {value: one}
  - id: b
    uses: test.echo
    with: {value: "${{ steps.a.outputs }}"}
  - id: c
    uses: test.echo
    needs: [a]
    with: {value: three}
"""


async def test_every_step_of_a_run_carries_the_runs_caller_and_correlation_id(
        enx: tn.Nexus, recording: Recording) -> None:
    result = await enx.arun(MISSION)
    assert result.ok
    assert recording.seen("test.echo") == [(os_user(), Surface.PYTHON, result.run_id, "mission")] * 3


async def test_a_run_started_for_someone_with_a_correlation_id_passes_both_to_its_steps(
        enx: tn.Nexus, recording: Recording) -> None:
    someone = Caller(principal="ada", surface=Surface.MCP)
    result = await enx.arun(MISSION, caller=someone, correlation_id="order-42")
    assert result.ok
    assert {(p.call.caller, p.call.correlation_id, p.call.run_id) for p in recording.plans} == {
        (someone, "order-42", result.run_id)}


RETRIED = """
mission: retried
steps:
  - id: flaky
    uses: test.flaky
    with: {marker: flaky.count, fail_times: 2}
    retry: {attempts: 3, delay: 0.01, jitter: 0}
"""


async def test_each_retry_keeps_the_correlation_id(enx: tn.Nexus, recording: Recording) -> None:
    result = await enx.arun(RETRIED)
    assert result.ok and result.steps["flaky"].attempts == 3
    plans = [p for p in recording.plans if p.tool == "test.flaky"]
    assert [p.call.attempt for p in plans] == [1, 2, 3]
    assert {p.call.correlation_id for p in plans} == {result.run_id}
    assert len({p.call.id for p in plans}) == 3  # three calls, one correlation


@pytest.mark.parametrize("outer_tool", ["sub.outer", "sub.outer_sync"])
async def test_a_call_a_tool_makes_carries_its_callers_identity(enx: tn.Nexus, recording: Recording,
                                                                outer_tool: str) -> None:
    enx.registry.register(spec_of(outer))
    enx.registry.register(spec_of(outer_sync))
    SUBCALLS[:] = [enx]
    someone = Caller(principal="ada", surface=Surface.MCP)
    result = await enx.acall(outer_tool, value="deep", caller=someone, correlation_id="c-1")
    assert result.output == "deep"
    assert [(p.tool, p.call.caller, p.call.correlation_id) for p in recording.plans] == [
        (outer_tool, someone, "c-1"), ("test.echo", someone, "c-1")]
    run = await enx.arun(f"mission: nested\nsteps:\n  - id: o\n    uses: {outer_tool}\n    with: {{value: v}}\n")
    assert run.ok
    inner = recording.plans[-1]
    assert inner.tool == "test.echo" and inner.call.correlation_id == run.run_id and inner.call.run_id is None


CACHED = """
mission: cached
steps:
  - id: mark
    uses: eng.mark
    cache: true
    with: {marker: mark.count, value: one}
"""


async def test_a_cached_result_is_decided_with_the_runs_identity_and_a_denied_tool_is_never_served(
        enx: tn.Nexus, workspace: Path) -> None:
    gate = Recording()
    enx.governance.gate = gate
    assert (await enx.arun(CACHED)).ok
    second = await enx.arun(CACHED)
    assert second.steps["mark"].cached
    [decided] = [p for p in gate.plans if p.cached]
    assert decided.call.correlation_id == second.run_id and decided.call.caller == enx.caller
    enx.governance.gate = Recording(deny=("eng.mark",))
    third = await enx.arun(CACHED)
    assert third.steps["mark"].error.kind == tn.ErrorKind.DENIED and not third.steps["mark"].cached
    assert (workspace / "mark.count").read_text() == "1"


async def test_a_blocking_call_from_a_running_event_loop_keeps_the_identity_in_force(
        enx: tn.Nexus, recording: Recording) -> None:
    # Nexus.call from code on a running loop (a notebook cell) runs on a helper thread: the identity goes along.
    someone = Caller(principal="ada", surface=Surface.NOTEBOOK)
    token = use_identity(someone, "cell-3")
    try:
        assert enx.call("test.echo", value="x").ok
    finally:
        reset_identity(token)
    [plan] = recording.plans
    assert (plan.call.caller, plan.call.correlation_id) == (someone, "cell-3")
