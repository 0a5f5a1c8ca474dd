"""A running process reloads its policy when a policy file changes: a rule flipped from allow to deny refuses
calls within a look or two, a broken rewrite is refused with its file:line:column while the last good policy
keeps deciding, and each load and refusal is announced and audited."""

from __future__ import annotations

from pathlib import Path

import toolnexus as tn
from tests.engine.support import Recorder, wait_until
from toolnexus.core.call import ToolResult
from toolnexus.core.events import GovernanceChanged

RULES = """\
mode: enforce
rules:
  - id: queries
    effect: {effect}
    tools: json.query
    reason: this rule says {effect}
"""


def _workspace(workspace: Path, effect: str = "allow") -> Path:
    """A workspace whose one policy file has a rule of ``effect`` on json.query; the file."""
    policy = workspace / "policies" / "base.yaml"
    policy.parent.mkdir()
    policy.write_text(RULES.format(effect=effect))
    (workspace / "toolnexus.toml").write_text('[governance]\npolicies = ["policies/*.yaml"]\n')
    return policy


def _query(nexus: tn.Nexus) -> ToolResult:
    return nexus.call("json.query", data={"a": 1}, query="a")


def _changes(recorder: Recorder, action: str) -> list[GovernanceChanged]:
    return [e for e in recorder.of("governance_changed") if isinstance(e, GovernanceChanged) and e.action == action]


def test_a_rule_flipped_to_deny_refuses_calls_of_the_running_process(workspace: Path) -> None:
    policy = _workspace(workspace)
    recorder = Recorder()
    with tn.Nexus(workspace, sinks=[recorder]) as nexus:
        assert _query(nexus).ok
        first = nexus.governed.gate.version
        policy.write_text(RULES.format(effect="deny"))
        wait_until(lambda: not _query(nexus).ok, what="the reloaded policy to refuse the query")
        refused = _query(nexus)
        audit = nexus.governed.audit
    assert refused.error is not None and refused.error.kind == "denied"
    assert "this rule says deny" in refused.error.message
    loaded = _changes(recorder, "policy_loaded")
    assert [e.details["version"] for e in loaded][-1] != first
    assert loaded[-1].target == str(policy)
    kinds = [r.kind for r in audit.report(kind="governance.policy_loaded")]
    assert len(kinds) == 2  # at start, and on the reload


def test_a_nexus_starting_with_a_policy_announces_it_loaded(workspace: Path) -> None:
    _workspace(workspace)
    with tn.Nexus(workspace) as nexus:
        version = nexus.governed.gate.version
        audit = nexus.governed.audit
    [record] = audit.report(kind="governance.policy_loaded")
    assert version in record.body and '"rules":1' in record.body


def test_a_broken_rewrite_is_refused_and_the_last_good_policy_kept(workspace: Path) -> None:
    policy = _workspace(workspace, effect="deny")
    recorder = Recorder()
    with tn.Nexus(workspace, sinks=[recorder]) as nexus:
        good = nexus.governed.gate.version
        policy.write_text(RULES.format(effect="maybe"))

        def rejected() -> bool:
            _query(nexus)  # a call is what has the files looked at
            return bool(_changes(recorder, "policy_rejected"))

        wait_until(rejected, what="the broken policy to be refused")
        still = _query(nexus)
        assert nexus.governed.gate.version == good
        audit = nexus.governed.audit
    assert still.error is not None and "this rule says deny" in still.error.message
    [event] = _changes(recorder, "policy_rejected")
    [problem] = event.details["problems"]
    assert problem.startswith(f"{policy}:4:13: ") and "'allow', 'deny' or 'approve'" in problem
    [record] = audit.report(kind="governance.policy_rejected")
    assert "base.yaml:4:13" in record.body


def test_a_fixed_file_after_a_broken_one_is_loaded(workspace: Path) -> None:
    policy = _workspace(workspace)
    recorder = Recorder()
    with tn.Nexus(workspace, sinks=[recorder]) as nexus:
        policy.write_text("rules: [")
        wait_until(lambda: _query(nexus).ok and bool(_changes(recorder, "policy_rejected")),
                   what="the broken policy to be refused")
        policy.write_text(RULES.format(effect="deny") + "\n")
        wait_until(lambda: not _query(nexus).ok, what="the fixed policy to refuse the query")
    assert [e.action for e in recorder.of("governance_changed")] == ["policy_loaded", "policy_rejected",
                                                                      "policy_loaded"]


def test_an_unchanged_file_is_not_reloaded(workspace: Path) -> None:
    policy = _workspace(workspace)
    recorder = Recorder()
    with tn.Nexus(workspace, sinks=[recorder]) as nexus:
        reloader = nexus.governed.reloader
        assert reloader is not None
        policy.write_text(policy.read_text())  # touched: same content, same version
        reloader.look()
        reloader.look()
    assert [e.action for e in recorder.of("governance_changed")] == ["policy_loaded"]


def test_each_process_on_the_same_policy_does_not_record_it_again(workspace: Path) -> None:
    policy = _workspace(workspace)
    for _ in range(3):  # three short-lived processes (CLI commands) on one policy
        with tn.Nexus(workspace) as nexus:
            audit = nexus.governed.audit
    assert len(audit.report(kind="governance.policy_loaded")) == 1
    policy.write_text(RULES.format(effect="deny"))  # a new policy: the next process records it
    with tn.Nexus(workspace) as nexus:
        version = nexus.governed.gate.version
    loaded = audit.report(kind="governance.policy_loaded")
    assert len(loaded) == 2 and version in loaded[-1].body
