"""Cedar policy sets (``.cedar`` files) deciding real calls through the Nexus: permit, forbid and Cedar's default
deny, conditions on the arguments and the caller, per-policy modes, approvals, a Cedar file beside a YAML one,
action groups, and AgentCore Policy's own examples deciding as AgentCore does (loading: ``test_cedar_load``)."""

from __future__ import annotations

import threading
from pathlib import Path

import anyio
import pytest

import toolnexus as tn
from tests.engine.support import Recorder
from tests.governance.policy.support import governed, transfer, write_policy
from toolnexus.core.call import ToolCall, ToolResult
from toolnexus.core.caller import Caller, Surface
from toolnexus.core.decision import Decision, Verdict
from toolnexus.core.diagnostics import DiagnosticError
from toolnexus.core.events import Event
from toolnexus.governance import CallPlan
from toolnexus.governance.policy import Facts, PolicyGate, load_policy
from toolnexus.registry import spec_of

PAYMENTS = """
// mode: enforce
@id("small-payments")
permit(principal, action == Toolnexus::Action::"pay.transfer", resource)
when { context.input.amount < 500 };

@id("no-mallory")
@reason("mallory is not paid")
forbid(principal, action == Toolnexus::Action::"pay.transfer", resource)
when { context.input.to == "mallory" };

@id("writes-under-out")
permit(principal, action == Toolnexus::Action::"files.write", resource)
when { context.input.path like "out/*" };
"""


def _decisions(recorder: Recorder, tool: str) -> list[Decision]:
    return [e.decision for e in recorder.of("gate_decided") if e.call.tool == tool]


def pay_plan(tool: str = "pay.transfer", caller: Caller | None = None, **arguments: object) -> CallPlan:
    """The plan of a call of ``tool`` (pay.transfer by default, with its spec) with ``arguments``."""
    spec = spec_of(transfer) if tool == "pay.transfer" else None
    return CallPlan(call=ToolCall(tool=tool, arguments=arguments, caller=caller), spec=spec)


def test_permit_forbid_and_the_default_deny_decide_real_calls(workspace: Path) -> None:
    path = write_policy(workspace, PAYMENTS, name="payments.cedar")
    with governed(workspace, PolicyGate.from_files([path])) as (nexus, recorder):
        assert nexus.call("pay.transfer", amount=120, to="bob").ok
        big = nexus.call("pay.transfer", amount=900, to="bob")
        mallory = nexus.call("pay.transfer", amount=10, to="mallory")
        assert nexus.call("files.write", path="out/a.txt", content="x").ok
        outside = nexus.call("files.write", path="src/a.txt", content="x")
    small, default, forbidden = _decisions(recorder, "pay.transfer")
    assert (small.verdict, small.policy, small.decider) == (Verdict.ALLOW, "small-payments", "cedar")
    assert not big.ok and big.error is not None and big.error.kind == "denied"
    assert (default.verdict, default.policy) == (Verdict.DENY, "payments.cedar#default-deny")
    assert default.reason == "no Cedar policy of payments.cedar permits the call"
    assert (forbidden.verdict, forbidden.policy, forbidden.reason) == (Verdict.DENY, "no-mallory",
                                                                       "mallory is not paid")
    assert not mallory.ok
    assert (workspace / "out" / "a.txt").read_text() == "x"
    assert not outside.ok and not (workspace / "src" / "a.txt").exists()
    [_, write_denied] = _decisions(recorder, "files.write")
    assert write_denied.policy == "payments.cedar#default-deny"


def test_the_caller_principal_tenant_and_surface_are_the_principal_entity(workspace: Path) -> None:
    path = write_policy(workspace, """
        // mode: enforce
        @id("ada-pays")
        permit(principal == Toolnexus::User::"ada", action, resource);
        @id("acme-over-mcp")
        permit(principal, action, resource is Toolnexus::Tool)
        when { principal.tenant == "acme" && context.surface == "mcp" && resource.namespace == "pay" };
        @id("no-beta")
        forbid(principal, action, resource) when { principal has tenant && principal.tenant == "beta" };
        """, name="callers.cedar")
    policy = load_policy([path])

    def decide(principal: str, tenant: str | None, surface: Surface = Surface.CLI) -> Decision:
        return policy.decide(pay_plan(caller=Caller(principal=principal, tenant=tenant, surface=surface), amount=1,
                                   to="x"))

    assert decide("ada", None).policy == "ada-pays"
    assert decide("bob", "acme", Surface.MCP).policy == "acme-over-mcp"
    assert decide("bob", "acme", Surface.CLI).policy == "callers.cedar#default-deny"
    # The workspace's tenant stands in for a caller that names none.
    assert policy.decide(pay_plan(caller=Caller(principal="ada"), amount=1, to="x"), tenant="beta").policy == "no-beta"
    assert decide("ada", "beta").verdict is Verdict.DENY


def test_fractional_amounts_are_decimals_and_whole_ones_longs(workspace: Path) -> None:
    path = write_policy(workspace, """
        // mode: enforce
        @id("decimal-limit")
        permit(principal, action, resource) when { context.input.amount.lessThan(decimal("500.0")) };
        """, name="decimal.cedar")
    policy = load_policy([path])
    assert policy.decide(pay_plan(amount=499.5, to="x")).policy == "decimal-limit"
    # A whole number is a Long, on which decimal's lessThan is a Cedar evaluation error: the policy is skipped.
    assert policy.decide(pay_plan(amount=100, to="x")).policy == "decimal.cedar#default-deny"
    [verdict, _] = policy.explain(Facts.of(pay_plan(amount=100, to="x")))
    assert verdict.mismatch is not None and "type error" in verdict.mismatch


@pytest.mark.parametrize("mode", ["observe", "warn", "enforce"])
def test_a_policy_s_mode_annotation_decides_how_much_it_may_do(workspace: Path, mode: str) -> None:
    path = write_policy(workspace, f"""
        permit(principal, action, resource);
        @id("no-big") @mode("{mode}") @reason("too big")
        forbid(principal, action, resource) when {{ context.input.amount >= 500 }};
        """, name="modes.cedar")
    with governed(workspace, PolicyGate.from_files([path])) as (nexus, recorder):
        result = nexus.call("pay.transfer", amount=900, to="bob")
    [decision] = _decisions(recorder, "pay.transfer")
    assert decision.policy == "no-big" and decision.mode == mode and decision.decider == "cedar"
    if mode == "enforce":
        assert not result.ok and decision.verdict is Verdict.DENY
    else:
        assert result.ok and decision.would is Verdict.DENY
        assert (decision.warning is not None) is (mode == "warn")
        assert "Cedar policy no-big (" in decision.reason and "too big" in decision.reason


def test_the_default_deny_takes_the_file_mode_and_the_governance_mode(workspace: Path) -> None:
    path = write_policy(workspace, "forbid(principal, action, resource) when { false };\n", name="none.cedar")
    observed = PolicyGate.from_files([path]).policy.decide(pay_plan(amount=1, to="x"))
    assert observed.allowed and observed.would is Verdict.DENY and observed.mode == "observe"
    enforced = PolicyGate.from_files([path], mode="enforce").policy.decide(pay_plan(amount=1, to="x"))
    assert enforced.verdict is Verdict.DENY
    path.write_text("// mode: warn\n" + path.read_text())
    warned = PolicyGate.from_files([path], mode="enforce").policy.decide(pay_plan(amount=1, to="x"))
    assert warned.allowed and warned.warning is not None and warned.policy == "none.cedar#default-deny"


@pytest.mark.anyio
async def test_an_approve_annotation_parks_the_call_in_the_workspace_queue(workspace: Path) -> None:
    write_policy(workspace, """
        // mode: enforce
        @id("small") permit(principal, action, resource) when { context.input.amount < 500 };
        @id("big") @effect("approve") @four_eyes("true") @approvers("bob")
        @reason("big transfers are reviewed")
        permit(principal, action, resource) when { context.input.amount >= 500 };
        """, name="payments.cedar")
    (workspace / "toolnexus.toml").write_text('[governance]\npolicies = ["policies/*.cedar"]\n')
    requested = threading.Event()
    tickets: list[str] = []

    def announce(event: Event) -> None:
        if event.type == "governance_changed" and event.action == "approval_requested":  # type: ignore[attr-defined]
            tickets.append(event.target)  # type: ignore[attr-defined]
            requested.set()

    with tn.Nexus(workspace) as nexus:
        nexus.registry.register(spec_of(transfer))
        recorder = Recorder()
        recorder.hooks.append(announce)
        nexus.bus.subscribe(recorder)
        approvals = nexus.approvals
        assert approvals is not None
        results: list[ToolResult] = []

        async def call() -> None:
            results.append(await nexus.acall("pay.transfer", amount=900, to="bob"))

        async with anyio.create_task_group() as tg:
            tg.start_soon(call)
            assert await anyio.to_thread.run_sync(requested.wait, 60)
            record = approvals.show(tickets[0])
            assert (record.rule, record.four_eyes, record.approvers, record.reason) == (
                "big", True, ["bob"], "big transfers are reviewed")
            await anyio.to_thread.run_sync(lambda: approvals.approve(tickets[0], by="bob"))
    assert results[0].ok, results[0].error
    assert _decisions(recorder, "pay.transfer")[0].verdict is Verdict.WAIT


def test_a_cedar_file_beside_a_yaml_file_joins_the_combination_deny_wins(workspace: Path) -> None:
    yaml = write_policy(workspace, """
        mode: enforce
        rules:
          - {id: yaml-allows, effect: allow, tools: pay.transfer}
          - {id: yaml-no-bob, effect: deny, tools: pay.transfer, when: {to: bob}}
        """)
    cedar = write_policy(workspace, PAYMENTS, name="payments.cedar")
    policy = load_policy([yaml, cedar])
    assert policy.decide(pay_plan(amount=1, to="carol")).policy == "yaml-allows"  # both allow: the first written
    assert policy.decide(pay_plan(amount=1, to="bob")).policy == "yaml-no-bob"  # the YAML deny wins over a permit
    assert policy.decide(pay_plan(amount=900, to="carol")).policy == "payments.cedar#default-deny"  # Cedar denies
    assert policy.decide(pay_plan(amount=1, to="mallory")).policy == "no-mallory"
    write_policy(workspace, "rules: [{id: small-payments, effect: deny, tools: x}]\n", name="dup.yaml")
    with pytest.raises(DiagnosticError, match="duplicate rule id 'small-payments'"):
        load_policy([cedar, workspace / "policies" / "dup.yaml"])


# AgentCore Policy's example (its "Understanding Cedar policies" page): only John refunds, below 500.
AGENTCORE = """
permit(
  principal is AgentCore::OAuthUser,
  action == AgentCore::Action::"RefundTool___process_refund",
  resource == AgentCore::Gateway::"arn:aws:bedrock-agentcore:us-west-2:123456789012:gateway/refund-gateway"
)
when {
  principal.hasTag("username") &&
  principal.getTag("username") == "John" &&
  context.input.amount < 500
};

forbid(principal is AgentCore::OAuthUser, action, resource)
when { principal.hasTag("username") && principal.getTag("username") == "suspended-user" };
"""


def test_an_agentcore_policy_decides_as_agentcore_does(workspace: Path) -> None:
    path = write_policy(workspace, AGENTCORE, name="agentcore.cedar")
    policy = load_policy([path], "enforce")

    def decide(user: str, amount: int, tool: str = "RefundTool.process_refund") -> Decision:
        call = ToolCall(tool=tool, arguments={"amount": amount}, caller=Caller(principal=user))
        return policy.decide(CallPlan(call=call))

    permitted = decide("John", 100)
    assert permitted.allowed and permitted.policy == "agentcore.cedar#policy0" and permitted.decider == "cedar"
    assert decide("John", 700).policy == "agentcore.cedar#default-deny"
    assert decide("Jane", 100).verdict is Verdict.DENY
    assert decide("John", 100, tool="RefundTool.cancel_refund").verdict is Verdict.DENY
    assert decide("suspended-user", 1).policy == "agentcore.cedar#policy1"


def test_a_namespace_is_an_action_group_and_a_scope_on_another_tool_never_holds(workspace: Path) -> None:
    path = write_policy(workspace, """
        // mode: enforce
        @id("pay-group") permit(principal, action in Toolnexus::Action::"pay", resource);
        @id("other-tool") forbid(principal, action == Toolnexus::Action::"pay.refund", resource);
        """, name="groups.cedar")
    policy = load_policy([path])
    assert policy.decide(pay_plan(amount=1, to="x")).policy == "pay-group"
    assert policy.decide(pay_plan(tool="pay.refund", amount=1, to="x")).policy == "other-tool"
    assert policy.decide(pay_plan(tool="files.write", path="a")).policy == "groups.cedar#default-deny"


def test_agentcore_target_groups_and_a_gateway_named_by_a_comment(workspace: Path) -> None:
    path = write_policy(workspace, """
        // gateway: arn:aws:bedrock-agentcore:eu-west-1:1:gateway/ours
        permit(principal, action in AgentCore::Action::"RefundTool",
               resource == AgentCore::Gateway::"arn:aws:bedrock-agentcore:eu-west-1:1:gateway/ours");
        permit(principal, action, resource == AgentCore::Gateway::"arn:aws:bedrock-agentcore:eu-west-1:1:gateway/x");
        """, name="agentcore.cedar")
    policy = load_policy([path], "enforce")
    call = ToolCall(tool="RefundTool.process_refund", arguments={}, caller=Caller(principal="ann"))
    assert policy.decide(CallPlan(call=call)).policy == "agentcore.cedar#policy0"
    other = ToolCall(tool="Orders.list", arguments={}, caller=Caller(principal="ann"))
    assert policy.decide(CallPlan(call=other)).policy == "agentcore.cedar#default-deny"


def test_among_policies_of_one_effect_the_first_written_decides(workspace: Path) -> None:
    text = "// mode: enforce\n" + "".join(f'@id("p{i}") permit(principal, action, resource);\n' for i in range(12))
    policy = load_policy([write_policy(workspace, text, name="many.cedar")])
    assert policy.decide(pay_plan(amount=1, to="x")).policy == "p0"
    empty = load_policy([write_policy(workspace, "// mode: enforce\n", name="empty.cedar")])
    assert empty.decide(pay_plan(amount=1, to="x")).policy == "empty.cedar#default-deny"
