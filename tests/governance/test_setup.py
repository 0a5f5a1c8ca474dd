"""A workspace's governance from its [governance] settings: kill switches, lifecycle, the policy gate,
approvals and the audit, plugged into the one gate of its Nexus."""

from __future__ import annotations

from pathlib import Path

import toolnexus as tn
from toolnexus.governance.policy import PolicyGate

POLICY = """\
mode: enforce
rules:
  - id: no-writes-outside-out
    effect: deny
    tools: files.write
    unless: {path: {under: out}}
    reason: writes go under out/
"""


def test_a_workspace_records_every_decision_in_its_audit_log(workspace: Path) -> None:
    with tn.Nexus(workspace) as nexus:
        assert nexus.call("files.write", path="a.txt", content="x").ok
        audit = nexus.governed.audit
    assert audit is not None
    records = [r for r in audit.tail(10) if r.kind.startswith("decision.")]
    assert [r.kind for r in records] == ["decision.allow"]
    assert '"files.write"' in records[0].body
    assert audit.verify().ok


def test_the_policy_files_of_the_settings_decide_calls(workspace: Path) -> None:
    (workspace / "policies").mkdir()
    (workspace / "policies" / "base.yaml").write_text(POLICY)
    (workspace / "toolnexus.toml").write_text('[governance]\npolicies = ["policies/*.yaml"]\n')
    with tn.Nexus(workspace) as nexus:
        assert isinstance(nexus.governance.gate, PolicyGate)
        allowed = nexus.call("files.write", path="out/a.txt", content="x")
        denied = nexus.call("files.write", path="a.txt", content="x")
    assert allowed.ok
    assert denied.error is not None and denied.error.kind == "denied"
    assert "writes go under out/" in denied.error.message


def test_a_kill_switch_of_the_workspace_refuses_calls(workspace: Path) -> None:
    with tn.Nexus(workspace) as nexus:
        assert nexus.kills is not None and nexus.approvals is not None
        nexus.kills.kill("tool", "files.write", "frozen for the audit", by="ops")
        refused = nexus.call("files.write", path="a.txt", content="x")
        nexus.kills.unkill("files.write", by="ops")
        again = nexus.call("files.write", path="a.txt", content="x")
    assert refused.error is not None and "frozen for the audit" in refused.error.message
    assert again.ok


def test_a_given_gate_is_not_replaced_by_the_settings_policy(workspace: Path) -> None:
    (workspace / "policies").mkdir()
    (workspace / "policies" / "base.yaml").write_text(POLICY)
    (workspace / "toolnexus.toml").write_text('[governance]\npolicies = ["policies/*.yaml"]\n')
    mine = PolicyGate()
    with tn.Nexus(workspace, gate=mine) as nexus:
        assert nexus.governance.gate is mine
        assert nexus.call("files.write", path="a.txt", content="x").ok


def test_without_a_state_store_there_are_no_approvals_kills_or_audit(workspace: Path) -> None:
    with tn.Nexus(workspace, store=False) as nexus:
        assert nexus.approvals is None and nexus.kills is None and nexus.governed.audit is None
        assert nexus.call("json.query", data={"a": 1}, query="a").ok


def test_tn_approvals_are_the_current_workspaces(workspace: Path) -> None:
    with tn.Nexus(workspace) as nexus:
        assert nexus.approvals is not None
        assert tn.approvals.list() == []
        assert "approve" in dir(tn.approvals)


def test_tn_kills_are_the_current_workspaces_and_stop_its_calls(workspace: Path) -> None:
    tn.kills.kill("tool", "json.query", "checking tn.kills", by="ann")
    assert [switch.target for switch in tn.kills.active()] == ["json.query"]
    assert "unkill" in dir(tn.kills)
    with tn.Nexus(workspace) as nexus:
        refused = nexus.call("json.query", data={"a": 1}, query="a")
        assert refused.error is not None and "checking tn.kills" in refused.error.message
        assert nexus.flags is not None and nexus.flags.list() == []
