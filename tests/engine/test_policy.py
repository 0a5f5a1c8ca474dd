"""Runtime choice by policy: a minimum isolation per safety tier, applied by the compiler and by every
direct call (privileged tools never run in-process)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import toolnexus as tn
from tests.engine.policy_tools import reader, whoami
from toolnexus.registry import spec_of


def _nexus(workspace: Path, **overrides: object) -> tn.Nexus:
    nexus = tn.Nexus(workspace, overrides=overrides)
    for fn in (whoami, reader):
        nexus.registry.register(spec_of(fn))
    return nexus


@pytest.fixture
def nexus(workspace: Path) -> Iterator[tn.Nexus]:
    with _nexus(workspace) as nx:
        yield nx


def test_a_privileged_step_is_raised_to_the_process_runtime(nexus: tn.Nexus) -> None:
    plan = nexus.compile("mission: p\nsteps:\n  - {id: a, uses: policy.whoami}\n  - {id: b, uses: policy.reader}\n")
    assert {s.id: s.runtime for s in plan.steps} == {"a": "process", "b": "inprocess"}
    result = nexus.run(plan)
    assert result.ok
    assert result.steps["a"].output != os.getpid()  # it really ran in a worker
    assert result.steps["b"].output == os.getpid()


def test_asking_for_less_isolation_than_policy_is_a_positioned_error(nexus: tn.Nexus) -> None:
    with pytest.raises(tn.DiagnosticError) as info:
        nexus.compile("mission: p\nsteps:\n  - id: a\n    uses: policy.whoami\n    runtime: inprocess\n")
    [problem] = info.value.diagnostics
    assert (problem.line, problem.column) == (5, 14)
    assert "policy runs privileged tools like policy.whoami@1.0.0 with at least `process` isolation" in problem.message
    assert problem.hint == "use runtime: process"


def test_a_direct_call_follows_the_same_policy(nexus: tn.Nexus) -> None:
    raised = nexus.call("policy.whoami")
    assert raised.ok and raised.output != os.getpid() and raised.runtime == "process"
    refused = nexus.call("policy.whoami", runtime="inprocess")
    assert refused.error.kind == tn.ErrorKind.DENIED
    assert refused.error.details == {"min_runtime": "process"}


def test_policy_is_configurable_per_tier(workspace: Path) -> None:
    with _nexus(workspace, **{"sandbox.min_runtime": {"read_only": "process"}}) as nexus:
        plan = nexus.compile("mission: p\nsteps:\n  - {id: b, uses: policy.reader}\n")
        assert plan.steps[0].runtime == "process"
        assert nexus.call("policy.reader").runtime == "process"


def test_an_unknown_runtime_in_policy_is_a_configuration_error(workspace: Path) -> None:
    (workspace / "toolnexus.toml").write_text('[sandbox.min_runtime]\nprivileged = "vm"\n')
    with pytest.raises(tn.DiagnosticError) as info:
        tn.load_settings(environ={})
    assert "privileged: unknown runtime 'vm'" in str(info.value)
