"""Rule matchers on the tool (names, globs, namespaces, tier, lifecycle, tags), the runtime and the caller."""

from __future__ import annotations

from pathlib import Path

import pytest

import toolnexus as tn
from toolnexus.core.call import ToolCall
from toolnexus.core.caller import Caller, Surface
from toolnexus.core.decision import Verdict
from toolnexus.governance import CallPlan
from toolnexus.governance.policy import PolicyGate, compile_policy

RULES = """
mode: enforce
rules:
  - {id: by-glob, effect: deny, tools: "files.wr*", principals: [mallory]}
  - {id: by-namespace, effect: deny, namespaces: [http], tenants: [blocked-*]}
  - {id: by-tier, effect: approve, tiers: side_effecting, surfaces: [mcp, rest]}
  - {id: by-tags, effect: deny, tags: [network], runtimes: [inprocess]}
  - {id: by-lifecycle, effect: deny, lifecycle: [deprecated, retired]}
"""


@pytest.fixture
def nexus(workspace: Path):
    with tn.Nexus(workspace, store=False) as nx:
        yield nx


def _decide(nexus: tn.Nexus, tool: str, *, principal: str = "alice", tenant: str | None = None,
            surface: Surface = Surface.PYTHON, runtime: str = "inprocess", default_tenant: str | None = None):
    gate = PolicyGate(compile_policy([("p.yaml", RULES)]), tenant=default_tenant)
    call = ToolCall(tool=tool, caller=Caller(principal=principal, tenant=tenant, surface=surface))
    return gate.policy.decide(CallPlan(call=call, spec=nexus.registry.get(tool), runtime=runtime),
                              tenant=gate.tenant)


def test_tool_globs_and_principals(nexus: tn.Nexus) -> None:
    assert _decide(nexus, "files.write", principal="mallory").policy == "by-glob"
    assert _decide(nexus, "files.read", principal="mallory").allowed
    assert _decide(nexus, "files.write", principal="alice").allowed


def test_namespaces_and_tenants_with_the_workspace_tenant_as_default(nexus: tn.Nexus) -> None:
    assert _decide(nexus, "http.fetch", tenant="blocked-acme", runtime="process").policy == "by-namespace"
    assert _decide(nexus, "http.fetch", default_tenant="blocked-x", runtime="process").policy == "by-namespace"
    assert _decide(nexus, "http.fetch", tenant="acme", default_tenant="blocked-x", runtime="process").allowed


def test_tiers_and_surfaces(nexus: tn.Nexus) -> None:
    assert _decide(nexus, "files.write", surface=Surface.MCP).verdict is Verdict.WAIT
    assert _decide(nexus, "files.write", surface=Surface.CLI).allowed
    assert _decide(nexus, "files.read", surface=Surface.MCP).allowed  # read_only


def test_tags_and_runtimes(nexus: tn.Nexus) -> None:
    assert _decide(nexus, "http.fetch", runtime="inprocess").policy == "by-tags"
    assert _decide(nexus, "http.fetch", runtime="process").allowed


def test_lifecycle(nexus: tn.Nexus) -> None:
    spec = nexus.registry.get("files.read").model_copy(update={"lifecycle": "deprecated"})
    policy = compile_policy([("p.yaml", RULES)])
    plan = CallPlan(call=ToolCall(tool="files.read"), spec=spec, runtime="inprocess")
    assert policy.decide(plan).policy == "by-lifecycle"
