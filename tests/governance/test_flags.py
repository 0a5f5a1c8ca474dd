"""Rollout flags through OpenFeature: the flags of toolnexus.toml targeted by environment, tenant, tool family
and operation type; a team's own provider plugged in by name; and what flags gate — a policy rule, a tool
tagged ``flag:NAME``, an experimental tool."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from openfeature.provider import FeatureProvider
from openfeature.provider.in_memory_provider import InMemoryFlag, InMemoryProvider

import toolnexus as tn
from toolnexus import tool
from toolnexus.core.call import ToolCall
from toolnexus.core.caller import Caller
from toolnexus.core.diagnostics import DiagnosticError
from toolnexus.core.events import GateDecided
from toolnexus.governance import CallPlan
from toolnexus.governance.decide import Governance
from toolnexus.governance.flags import DECIDER, FlagCheck, Flags, load_provider
from toolnexus.governance.inflight import InFlightCalls
from toolnexus.governance.lifecycle import LifecycleCheck
from toolnexus.governance.policy import PolicyGate
from toolnexus.governance.setup import govern
from toolnexus.registry import spec_of

pytestmark = pytest.mark.anyio

ACME = Caller(principal="ann", tenant="acme")
GLOBEX = Caller(principal="bob", tenant="globex")

FLAGS_TOML = """
[governance]
environment = "staging"
tenant = "home"

[flags.new-search]
default = false
rules = [
  { tenants = "acme", environments = ["staging", "dev"], value = true },
  { tiers = "read_only", namespaces = "flagged*", principals = "carol", value = true },
]

[flags.strict-writes]
rules = [{ tenants = "acme", tiers = ["side_effecting"], value = true }]

[flags.beta]
rules = [{ tenants = "acme", value = true }]

[flags."experimental.flagged.lab"]
rules = [{ environments = "staging", tenants = "acme", value = true }]

[flags.colour]
default = "blue"
rules = [{ tenants = "acme", value = "green" }]
"""


@tool(name="flagged.read", register=False, tier="read_only")
def read(text: str) -> str:
    """Read (read-only)."""
    return text


@tool(name="flagged.write", register=False, tier="side_effecting")
def write(text: str) -> str:
    """Write (side-effecting)."""
    return text.upper()


@tool(name="flagged.beta", register=False, tags=["flag:beta"])
def beta(text: str) -> str:
    """A tool behind the rollout flag beta."""
    return text[::-1]


@tool(name="flagged.lab", register=False, lifecycle="experimental")
def lab(text: str) -> str:
    """An experimental tool."""
    return f"lab:{text}"


def factory() -> FeatureProvider:
    """A team's own provider (here OpenFeature's in-memory one): beta on for everyone, new-search off."""
    return InMemoryProvider({
        "beta": InMemoryFlag("on", {"on": True, "off": False}),
        "new-search": InMemoryFlag("off", {"on": True, "off": False}),
        "experimental": InMemoryFlag("on", {"on": True, "off": False}),
    })


def workspace_with(workspace: Path, toml: str) -> tn.Nexus:
    """A Nexus on ``workspace`` configured by ``toml``, holding the flagged tools."""
    (workspace / "toolnexus.toml").write_text(toml)
    nexus = tn.Nexus(workspace, store=False)
    for fn in (read, write, beta, lab):
        nexus.registry.register(spec_of(fn))
    return nexus


def flags_of(nexus: tn.Nexus) -> Flags:
    """The nexus's flags from its settings, plugged in: the flag check, and the lifecycle opt-in by flag."""
    settings = nexus.settings
    flags = Flags.from_settings(settings.flags, environment=settings.governance.environment,
                                tenant=settings.governance.tenant)
    checks = nexus.governance.checks
    checks[:] = [c for c in checks if not isinstance(c, LifecycleCheck | FlagCheck)]
    checks += [FlagCheck(flags), LifecycleCheck(opt_in=flags.opt_in)]
    return flags


@pytest.fixture
def fnx(workspace: Path) -> Iterator[tn.Nexus]:
    """The Nexus of a workspace whose toolnexus.toml defines the flags of FLAGS_TOML."""
    with workspace_with(workspace, FLAGS_TOML) as nexus:
        yield nexus


def plan_of(nexus: tn.Nexus, name: str, caller: Caller | None) -> CallPlan:
    """The plan of a call of ``name`` by ``caller``."""
    return CallPlan(call=ToolCall(tool=name, caller=caller), spec=nexus.registry.get(name))


def test_the_default_provider_targets_tenant_environment_and_tier(fnx: tn.Nexus) -> None:
    flags = flags_of(fnx)
    assert flags.enabled("new-search", plan_of(fnx, "flagged.write", ACME))  # tenant and environment
    assert not flags.enabled("new-search", plan_of(fnx, "flagged.write", GLOBEX))
    carol = Caller(principal="carol", tenant="globex")
    assert flags.enabled("new-search", plan_of(fnx, "flagged.read", carol))  # tier, tool family, principal
    assert not flags.enabled("new-search", plan_of(fnx, "flagged.write", carol))  # not read_only
    assert flags.enabled("strict-writes", plan_of(fnx, "flagged.write", ACME))
    assert not flags.enabled("strict-writes", plan_of(fnx, "flagged.read", ACME))
    assert not flags.enabled("no-such-flag", plan_of(fnx, "flagged.read", ACME))  # unknown: off
    assert flags.value("colour", plan_of(fnx, "flagged.read", ACME), "red") == "green"
    assert flags.value("colour", plan_of(fnx, "flagged.read", None), "red") == "blue"  # the workspace's tenant
    assert not flags.enabled("colour", plan_of(fnx, "flagged.read", ACME))  # not a boolean: off
    context = flags.context(plan_of(fnx, "flagged.write", None))
    assert context.attributes["tenant"] == "home" and context.attributes["environment"] == "staging"
    assert context.attributes["tier"] == "side_effecting" and context.attributes["namespace"] == "flagged"


def test_the_environment_changes_what_a_flag_says(workspace: Path) -> None:
    with workspace_with(workspace, FLAGS_TOML.replace('"staging"\ntenant', '"prod"\ntenant')) as nexus:
        assert nexus.settings.governance.environment == "prod"
        assert not flags_of(nexus).enabled("new-search", plan_of(nexus, "flagged.write", ACME))


async def test_a_tool_tagged_with_a_flag_runs_only_where_it_is_on(fnx: tn.Nexus) -> None:
    flags_of(fnx)
    recorded: list[GateDecided] = []
    fnx.bus.subscribe(lambda e: recorded.append(e) if isinstance(e, GateDecided) else None)
    assert (await fnx.acall("flagged.beta", {"text": "abc"}, caller=ACME)).output == "cba"
    result = await fnx.acall("flagged.beta", {"text": "abc"}, caller=GLOBEX)
    assert result.error is not None and result.error.kind == tn.ErrorKind.DENIED
    assert "rollout flag 'beta'" in result.error.message
    decision = recorded[-1].decision
    assert (decision.decider, decision.policy) == (DECIDER, "flag:beta")


async def test_an_experimental_tool_is_opted_in_by_a_flag(fnx: tn.Nexus) -> None:
    flags_of(fnx)
    assert (await fnx.acall("flagged.lab", {"text": "x"}, caller=ACME)).output == "lab:x"
    result = await fnx.acall("flagged.lab", {"text": "x"}, caller=GLOBEX)
    assert result.error is not None and "experimental and not opted in" in result.error.message


async def test_a_policy_rule_applies_only_where_its_flag_is_on(fnx: tn.Nexus, workspace: Path) -> None:
    policy = workspace / "rollout.yaml"
    policy.write_text("rules:\n"
                      "  - id: no-writes-for-strict\n    effect: deny\n    mode: enforce\n    flag: strict-writes\n"
                      "    tools: flagged.*\n    reason: strict writes are rolling out\n")
    flags = flags_of(fnx)
    fnx.governance.gate = gate = PolicyGate.from_files([policy], flags=flags.enabled)
    denied = await fnx.acall("flagged.write", {"text": "x"}, caller=ACME)
    assert denied.error is not None and "strict writes are rolling out" in denied.error.message
    assert (await fnx.acall("flagged.write", {"text": "x"}, caller=GLOBEX)).output == "X"
    assert (await fnx.acall("flagged.read", {"text": "x"}, caller=ACME)).output == "x"  # flag off for reads
    rule = gate.policy.rules[0]
    facts = gate.facts(plan_of(fnx, "flagged.write", GLOBEX))
    assert rule.mismatch(facts) == "the rollout flag 'strict-writes' is off for the call"
    assert "flag strict-writes" in rule.summary()

    # Without flags, a flag-gated rule never applies.
    fnx.governance.gate = PolicyGate.from_files([policy])
    assert (await fnx.acall("flagged.write", {"text": "x"}, caller=ACME)).ok


async def test_a_teams_provider_is_plugged_in_by_name(workspace: Path) -> None:
    toml = FLAGS_TOML.replace("[flags.new-search]", '[flags]\nprovider = "tests.governance.test_flags:factory"\n\n'
                              "[flags.new-search]")
    with workspace_with(workspace, toml) as nexus:
        flags = flags_of(nexus)
        assert isinstance(flags.provider, InMemoryProvider)
        # The same code decides otherwise: beta is on for everyone, new-search off, experimental tools opted in.
        assert (await nexus.acall("flagged.beta", {"text": "abc"}, caller=GLOBEX)).output == "cba"
        assert not flags.enabled("new-search", plan_of(nexus, "flagged.write", ACME))
        assert (await nexus.acall("flagged.lab", {"text": "x"}, caller=GLOBEX)).output == "lab:x"
        flags.close()
        assert not flags.enabled("new-search", plan_of(nexus, "flagged.write", ACME))


def test_two_workspaces_keep_their_own_providers(fnx: tn.Nexus) -> None:
    mine, theirs = flags_of(fnx), Flags(factory())
    plan = plan_of(fnx, "flagged.beta", GLOBEX)
    assert theirs.enabled("beta", plan) and not mine.enabled("beta", plan)
    theirs.close()
    assert not mine.enabled("beta", plan_of(fnx, "flagged.beta", GLOBEX))


@pytest.mark.parametrize(("target", "message"), [
    ("no_colon", "is not \"module:factory\""),
    ("tests.governance.no_such_module:factory", "ModuleNotFoundError"),
    ("tests.governance.test_flags:nothing", "AttributeError"),
    ("tests.governance.test_flags:ACME", "TypeError"),
    ("tests.governance.test_flags:plan_of.__name__", "TypeError"),
])
def test_a_bad_provider_is_a_clear_configuration_error(target: str, message: str) -> None:
    with pytest.raises(DiagnosticError) as caught:
        load_provider(target)
    assert message in str(caught.value) and "[flags] provider" in str(caught.value)


def test_a_factory_returning_no_provider_is_refused() -> None:
    with pytest.raises(DiagnosticError, match="not an OpenFeature provider"):
        load_provider("builtins:dict")


def test_a_misspelt_flag_setting_names_its_key(workspace: Path) -> None:
    (workspace / "toolnexus.toml").write_text("[flags.beta]\ndefalt = true\n")
    with pytest.raises(DiagnosticError, match=r"flags\.beta\.defalt"):
        tn.Nexus(workspace, store=False)


async def test_govern_wires_the_flags_of_the_settings(workspace: Path) -> None:
    """What a Nexus gets from ``govern(..., flags=settings.flags)``: the flag check, the lifecycle opt-in and the
    policy gate asking the same flags; closing lets go of the provider."""
    (workspace / "rollout.yaml").write_text("rules:\n  - id: strict\n    effect: deny\n    mode: enforce\n"
                                           "    flag: strict-writes\n    tools: flagged.*\n")
    toml = FLAGS_TOML.replace('tenant = "home"', 'tenant = "home"\npolicies = ["rollout.yaml"]')
    with workspace_with(workspace, toml) as nexus:
        settings = nexus.settings
        governance = Governance()
        parts = govern(governance, settings.governance, workspace, store=None, bus=nexus.bus,
                       subscribe=nexus.bus.subscribe, tools=nexus.registry.list, in_flight=InFlightCalls(),
                       gate_given=False, flags=settings.flags)
        assert parts.flags is not None and parts.flags.environment == "staging"
        nexus.governance.checks[:] = governance.checks
        nexus.governance.gate = governance.gate
        assert (await nexus.acall("flagged.beta", {"text": "ab"}, caller=ACME)).output == "ba"
        assert not (await nexus.acall("flagged.beta", {"text": "ab"}, caller=GLOBEX)).ok
        assert (await nexus.acall("flagged.lab", {"text": "x"}, caller=ACME)).output == "lab:x"
        assert not (await nexus.acall("flagged.write", {"text": "x"}, caller=ACME)).ok  # strict for acme
        assert (await nexus.acall("flagged.write", {"text": "x"}, caller=GLOBEX)).output == "X"
        parts.close()
        assert parts.flags.provider is not None and parts.flags._client is None


def test_without_flags_settings_every_flag_is_off(workspace: Path) -> None:
    with workspace_with(workspace, "") as nexus:
        parts = govern(Governance(), nexus.settings.governance, workspace, store=None, bus=nexus.bus,
                       subscribe=nexus.bus.subscribe, tools=nexus.registry.list, in_flight=InFlightCalls(),
                       gate_given=False)
        assert parts.flags is not None and parts.flags.provider is None
        assert not parts.flags.enabled("beta", plan_of(nexus, "flagged.beta", ACME))


async def test_a_workspaces_nexus_applies_its_flags_without_plugging_anything(fnx: tn.Nexus) -> None:
    # No flags_of(): the Nexus built the flags of its toolnexus.toml itself.
    assert fnx.governed.flags is not None
    assert (await fnx.acall("flagged.beta", {"text": "abc"}, caller=ACME)).output == "cba"
    refused = await fnx.acall("flagged.beta", {"text": "abc"}, caller=GLOBEX)
    assert refused.error is not None and "rollout flag 'beta'" in refused.error.message
