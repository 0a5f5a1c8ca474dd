"""Governance decides every call: the gate's wait/settle, the runtime floor, a surface's authorizer and
cached results, each decision announced as a ``gate_decided`` event."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

import toolnexus as tn
from tests.engine.support import Recorder
from toolnexus.core.call import ToolResult
from toolnexus.governance import ALLOW, CallPlan, Decision, Verdict, authorizing

pytestmark = pytest.mark.anyio


class Parking:
    """A gate that parks calls to ``eng.mark`` until the test releases them with a final verdict."""

    def __init__(self, final: Decision) -> None:
        self.final = final
        self.parked = anyio.Event()
        self.release = anyio.Event()

    async def check(self, plan: CallPlan) -> Decision:
        """Wait for eng.mark; allow anything else."""
        if plan.tool == "eng.mark":
            return Decision(verdict=Verdict.WAIT, ticket="t-1", reason="needs approval")
        return ALLOW

    async def settle(self, plan: CallPlan, pending: Decision) -> Decision:
        """Block until released."""
        self.parked.set()
        await self.release.wait()
        return self.final


class Denying:
    """A gate that denies everything."""

    async def check(self, plan: CallPlan) -> Decision:
        """Deny."""
        return Decision(verdict=Verdict.DENY, reason="nothing today", policy="closed")

    async def settle(self, plan: CallPlan, pending: Decision) -> Decision:
        """Never called."""
        return pending


async def _parked_call(enx: tn.Nexus, gate: Parking, workspace: Path) -> ToolResult:
    enx.governance.gate = gate
    results: list[ToolResult] = []

    async def call() -> None:
        results.append(await enx.acall("eng.mark", marker="m.count"))

    async with anyio.create_task_group() as tg:
        tg.start_soon(call)
        await gate.parked.wait()
        assert not (workspace / "m.count").exists()  # parked: the tool has not started
        gate.release.set()
    return results[0]


async def test_a_waiting_call_is_parked_until_the_gate_allows_it(enx: tn.Nexus, events: Recorder,
                                                                workspace: Path) -> None:
    result = await _parked_call(enx, Parking(ALLOW), workspace)
    assert result.ok, result.error
    assert (workspace / "m.count").read_text() == "1"
    verdicts = [e.decision.verdict for e in events.of("gate_decided")]
    assert verdicts == [Verdict.WAIT, Verdict.ALLOW]


async def test_a_waiting_call_denied_afterwards_never_runs(enx: tn.Nexus, workspace: Path) -> None:
    denial = Decision(verdict=Verdict.DENY, reason="refused by a reviewer", policy="review")
    result = await _parked_call(enx, Parking(denial), workspace)
    assert result.error is not None and result.error.kind == tn.ErrorKind.DENIED
    assert result.error.message == "refused by a reviewer"
    assert not (workspace / "m.count").exists()


async def test_cancelling_a_waiting_call_cancels_it(enx: tn.Nexus, events: Recorder, workspace: Path) -> None:
    gate = Parking(ALLOW)
    enx.governance.gate = gate
    async with anyio.create_task_group() as tg:
        tg.start_soon(enx.acall, "eng.mark", {"marker": "m.count"})
        await gate.parked.wait()
        tg.cancel_scope.cancel()
    assert not (workspace / "m.count").exists()
    [finished] = events.of("call_finished")
    assert finished.result.error.kind == tn.ErrorKind.CANCELLED


async def test_a_floor_denial_is_a_runtime_floor_decision(workspace: Path) -> None:
    from tests.engine.policy_tools import whoami
    from toolnexus.registry import spec_of

    with tn.Nexus(workspace) as nexus:
        nexus.registry.register(spec_of(whoami))
        recorder = Recorder()
        nexus.bus.subscribe(recorder)
        refused = await nexus.acall("policy.whoami", runtime="inprocess")
    assert refused.error.kind == tn.ErrorKind.DENIED and refused.error.details == {"min_runtime": "process"}
    [decided] = recorder.of("gate_decided")
    assert decided.decision.decider == "runtime-floor" and decided.runtime == "inprocess"


async def test_a_surface_authorizer_refusing_denies_the_call(enx: tn.Nexus, events: Recorder) -> None:
    seen: list[CallPlan] = []

    def may_call(plan: CallPlan) -> bool:
        seen.append(plan)
        return False

    with authorizing(may_call, decider="jupyter-authorizer"):
        result = await enx.acall("test.echo", value="x")
    assert result.error.kind == tn.ErrorKind.DENIED
    assert seen[0].tool == "test.echo" and seen[0].runtime == "inprocess"
    [decided] = events.of("gate_decided")
    assert decided.decision.decider == "jupyter-authorizer" and not decided.decision.allowed


CACHED = """
mission: cached
steps:
  - id: mark
    uses: eng.mark
    cache: true
    with: {marker: mark.count, value: one}
"""


async def test_a_cached_result_is_served_only_when_the_gate_allows(enx: tn.Nexus, events: Recorder,
                                                                   workspace: Path) -> None:
    assert (await enx.arun(CACHED)).ok
    second = await enx.arun(CACHED)
    assert second.steps["mark"].cached
    cached = [e for e in events.of("gate_decided", run_id=second.run_id) if e.cached]
    assert len(cached) == 1 and cached[0].decision.allowed
    enx.governance.gate = Denying()
    third = await enx.arun(CACHED)
    assert not third.ok and not third.steps["mark"].cached
    assert third.steps["mark"].error.kind == tn.ErrorKind.DENIED
    assert (workspace / "mark.count").read_text() == "1"


async def test_a_decision_announces_the_call_scrubbed_and_copies_it_only_when_it_holds_a_secret() -> None:
    from toolnexus.core.call import ToolCall
    from toolnexus.core.events import Event, GateDecided
    from toolnexus.core.spec import ToolSpec
    from toolnexus.governance.decide import Governance

    heard: list[GateDecided] = []

    class Bus:
        def wants(self, kind: type[Event]) -> bool:
            return True

        def emit(self, event: Event) -> None:
            assert isinstance(event, GateDecided)
            heard.append(event)

    governance = Governance(announcer=Bus())
    spec = ToolSpec(name="eng.echo", version="1.0.0")
    clean = ToolCall(tool="eng.echo", version="1.0.0", arguments={"text": "hello"})
    secret = ToolCall(tool="eng.echo", version="1.0.0", arguments={"api_token": "s3cr3t-value-123"})
    for call in (clean, secret):
        await governance.decide(CallPlan(call=call, spec=spec, runtime="inprocess"))
    assert heard[0].call is clean  # nothing to scrub: the call itself, no copy
    assert heard[1].call is not secret and heard[1].call.arguments == {"api_token": "***"}
    assert secret.arguments == {"api_token": "s3cr3t-value-123"}  # the tool still gets the real value
