"""Loosening governance is itself governed (``[governance] guard_loosening = true``): lifting a kill switch
needs a ticket someone else granted (the CLI files the request and prints the ticket), and a policy reload
that weakens the policy in force waits for its approval while the old policy keeps deciding."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

import toolnexus as tn
from tests.conftest import console_script
from tests.engine.support import Recorder, wait_until
from toolnexus.core.call import ToolResult
from toolnexus.core.caller import os_user
from toolnexus.core.events import GovernanceChanged
from toolnexus.errors import InvalidInput
from toolnexus.governance.approvals import NotAnApprover
from toolnexus.governance.loosening import POLICY, UNKILL, ApprovalNeeded, weakenings
from toolnexus.governance.policy import Policy, compile_policy

BASE = """\
rules:
  - id: no-queries
    effect: deny
    mode: enforce
    tools: json.query
    reason: no queries today
  - id: approve-writes
    effect: approve
    mode: enforce
    tools: files.write
  - id: watch-fetches
    effect: deny
    mode: observe
    tools: http.fetch
"""


def _policy(text: str) -> Policy:
    return compile_policy([("p.yaml", text)])


@pytest.mark.parametrize(("new", "weakening"), [
    (BASE.replace("effect: deny\n    mode: enforce", "effect: allow\n    mode: enforce"),
     "rule no-queries changed from deny to allow"),
    (BASE.replace("effect: deny\n    mode: enforce", "effect: deny\n    mode: observe"),
     "rule no-queries switched from enforce to observe"),
    (BASE.replace("effect: approve\n    mode: enforce", "effect: approve\n    mode: warn"),
     "rule approve-writes switched from enforce to warn"),
    (BASE.replace("  - id: no-queries\n    effect: deny\n    mode: enforce\n    tools: json.query\n"
                  "    reason: no queries today\n", ""),
     "enforced rule no-queries removed"),
])
def test_weakenings_name_each_rule_that_loosens(new: str, weakening: str) -> None:
    assert weakenings(_policy(BASE), _policy(new)) == [weakening]


def test_stricter_or_unenforced_changes_are_not_weakenings() -> None:
    stricter = BASE.replace("effect: approve", "effect: deny") + "  - id: more\n    effect: deny\n    tools: x.y\n"
    observed_gone = BASE.replace("  - id: watch-fetches\n    effect: deny\n    mode: observe\n    tools: http.fetch\n",
                                 "")
    assert weakenings(_policy(BASE), _policy(stricter)) == []
    assert weakenings(_policy(BASE), _policy(observed_gone)) == []


def _guarded(workspace: Path, policy: str | None = None) -> Path | None:
    settings = "[governance]\nguard_loosening = true\n"
    file = None
    if policy is not None:
        file = workspace / "policies" / "base.yaml"
        file.parent.mkdir()
        file.write_text(policy)
        settings += 'policies = ["policies/*.yaml"]\n'
    (workspace / "toolnexus.toml").write_text(settings)
    return file


def _query(nexus: tn.Nexus) -> ToolResult:
    return nexus.call("json.query", data={"a": 1}, query="a")


def _changes(recorder: Recorder, action: str) -> list[GovernanceChanged]:
    return [e for e in recorder.of("governance_changed") if isinstance(e, GovernanceChanged) and e.action == action]


def test_a_weakening_reload_waits_for_an_approval_by_someone_else(workspace: Path) -> None:
    file = _guarded(workspace, BASE)
    assert file is not None
    recorder = Recorder()
    with tn.Nexus(workspace, sinks=[recorder]) as nexus:
        assert nexus.approvals is not None
        old = nexus.governed.gate.version
        file.write_text(BASE.replace("effect: deny\n    mode: enforce", "effect: deny\n    mode: observe"))

        def rejected() -> bool:
            assert not _query(nexus).ok  # the old policy still decides
            return bool(_changes(recorder, "policy_rejected"))

        wait_until(rejected, what="the weakening reload to be held")
        [held] = _changes(recorder, "policy_rejected")
        ticket = held.details["needs_approval"]
        assert held.details["weakens"] == ["rule no-queries switched from enforce to observe"]
        assert nexus.governed.gate.version == old
        request = nexus.approvals.show(ticket)
        assert request.tool == POLICY and request.principal == os_user() and request.four_eyes
        with pytest.raises(NotAnApprover):
            nexus.approvals.approve(ticket)  # the requester may not grant it
        nexus.approvals.approve(ticket, by="second-pair-of-eyes")
        wait_until(lambda: _query(nexus).ok, what="the approved policy to apply")
        audit = nexus.governed.audit
    assert nexus.governed.gate.version != old
    kinds = [r.kind for r in audit.report(kind="governance")]
    assert kinds == ["governance.policy_loaded", "governance.approval_requested", "governance.policy_rejected",
                     "governance.approval_granted", "governance.policy_loaded"]


def test_a_denied_weakening_is_given_up_and_a_stricter_reload_applies_at_once(workspace: Path) -> None:
    file = _guarded(workspace, BASE)
    assert file is not None
    recorder = Recorder()
    with tn.Nexus(workspace, sinks=[recorder]) as nexus:
        assert nexus.approvals is not None
        file.write_text(BASE.replace("effect: deny\n    mode: enforce", "effect: allow\n    mode: enforce"))
        wait_until(lambda: not _query(nexus).ok and bool(_changes(recorder, "policy_rejected")),
                   what="the weakening reload to be held")
        ticket = _changes(recorder, "policy_rejected")[0].details["needs_approval"]
        nexus.approvals.deny(ticket, "not without a review", by="reviewer")
        wait_until(lambda: not _query(nexus).ok and len(_changes(recorder, "policy_rejected")) == 2,
                   what="the denied approval to be given up")
        assert _changes(recorder, "policy_rejected")[1].details == {"needs_approval": ticket, "status": "denied"}
        file.write_text(BASE + "  - id: no-lists\n    effect: deny\n    mode: enforce\n    tools: files.list\n")
        wait_until(lambda: _query(nexus) is not None and len(_changes(recorder, "policy_loaded")) == 2,
                   what="the stricter policy to load without an approval")
        assert nexus.governed.gate.rule_of("no-lists") is not None


def _cli(workspace: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([console_script("toolnexus"), *args, "--workspace", str(workspace)], capture_output=True,
                          text=True, timeout=120, check=False)


def test_lifting_a_kill_switch_needs_a_ticket_granted_by_someone_else(workspace: Path) -> None:
    _guarded(workspace)
    with tn.Nexus(workspace) as nexus:
        assert nexus.kills is not None and nexus.approvals is not None
        nexus.kills.kill("tool", "json.query", "frozen", by="ops")

        asked = _cli(workspace, "unkill", "json.query")
        assert asked.returncode == 1, asked.stderr
        ticket = asked.stdout.strip()
        assert "approval needed" in asked.stderr and ticket in asked.stderr
        request = nexus.approvals.show(ticket)
        assert (request.tool, request.arguments, request.principal) == (
            UNKILL, {"target": "json.query", "scope": None}, os_user())
        assert not _query(nexus).ok

        early = _cli(workspace, "unkill", "json.query", "--ticket", ticket)
        assert early.returncode == 1 and "not granted" in early.stderr
        own = _cli(workspace, "approvals", "approve", ticket)
        assert own.returncode == 1 and "other than its requester" in own.stderr

        nexus.approvals.approve(ticket, by="second-pair-of-eyes")
        lifted = _cli(workspace, "unkill", "json.query", "--ticket", ticket)
        assert lifted.returncode == 0, lifted.stderr
        assert "lifted" in lifted.stderr
        wait_until(lambda: _query(nexus).ok, what="the lifted switch to let the query through")

        nexus.kills.kill("tool", "json.query", "frozen again", by="ops")
        reused = _cli(workspace, "unkill", "json.query", "--ticket", ticket)
        assert reused.returncode == 1 and "used already" in reused.stderr
        audit = nexus.governed.audit
    kinds = [r.kind for r in audit.report(kind="governance")]
    assert kinds[:4] == ["governance.kill", "governance.approval_requested", "governance.approval_granted",
                         "governance.unkill"]


def test_a_ticket_for_another_switch_lifts_nothing(workspace: Path) -> None:
    _guarded(workspace)
    with tn.Nexus(workspace) as nexus:
        kills, approvals = nexus.kills, nexus.approvals
        assert kills is not None and approvals is not None
        kills.kill("tool", "json.query", "frozen", by="ops")
        kills.kill("tool", "files.write", "frozen", by="ops")
        with pytest.raises(ApprovalNeeded) as needed:
            kills.unkill("files.write", by="ann")
        approvals.approve(needed.value.ticket.ticket, by="bob")
        with pytest.raises(InvalidInput, match=r"not for lifting the kill switch on json\.query"):
            kills.unkill("json.query", by="ann", ticket=needed.value.ticket.ticket)
        assert {r.target for r in kills.active()} == {"json.query", "files.write"}
        assert [r.target for r in kills.unkill("files.write", by="ann", ticket=needed.value.ticket.ticket)] == [
            "files.write"]


def test_without_the_guard_unkill_needs_no_ticket(workspace: Path) -> None:
    with tn.Nexus(workspace) as nexus:
        assert nexus.kills is not None
        nexus.kills.kill("tool", "json.query", "frozen", by="ops")
        lifted = _cli(workspace, "unkill", "json.query")
    assert lifted.returncode == 0, lifted.stderr


def test_an_expired_policy_approval_gives_the_weakening_up(workspace: Path) -> None:
    file = _guarded(workspace, BASE)
    assert file is not None
    (workspace / "toolnexus.toml").write_text((workspace / "toolnexus.toml").read_text()
                                              + 'approval_timeout = "0s"\n')
    recorder = Recorder()
    with tn.Nexus(workspace, sinks=[recorder]) as nexus:
        file.write_text(BASE.replace("effect: deny\n    mode: enforce", "effect: allow\n    mode: enforce"))
        wait_until(lambda: not _query(nexus).ok and len(_changes(recorder, "policy_rejected")) == 2,
                   what="the expired approval to be given up")
        held, given_up = _changes(recorder, "policy_rejected")
        assert given_up.details == {"needs_approval": held.details["needs_approval"], "status": "expired"}


def test_a_process_starting_on_weakened_files_keeps_the_last_policy_until_approved(workspace: Path) -> None:
    file = _guarded(workspace, BASE)
    assert file is not None
    with tn.Nexus(workspace) as nexus:  # the policy put in force, and recorded with its text
        assert not _query(nexus).ok
        old = nexus.governed.gate.version
    file.write_text(BASE.replace("effect: deny\n    mode: enforce", "effect: deny\n    mode: observe"))
    recorder = Recorder()
    with tn.Nexus(workspace, sinks=[recorder]) as nexus:  # a new process, started on the weakened files
        assert nexus.approvals is not None
        assert nexus.governed.gate.version == old and not _query(nexus).ok  # the last policy still decides
        [held] = _changes(recorder, "policy_rejected")
        assert held.details["weakens"] == ["rule no-queries switched from enforce to observe"]
        ticket = held.details["needs_approval"]
        nexus.approvals.approve(ticket, by="second-pair-of-eyes")
        wait_until(lambda: _query(nexus).ok, what="the approved policy to apply")
    with tn.Nexus(workspace) as nexus:  # approved and recorded as loaded: the next process starts on it
        assert nexus.governed.gate.version != old and _query(nexus).ok


def test_a_process_starting_on_stricter_files_applies_them_at_once(workspace: Path) -> None:
    file = _guarded(workspace, BASE)
    assert file is not None
    with tn.Nexus(workspace) as nexus:
        old = nexus.governed.gate.version
    file.write_text(BASE.replace("effect: approve", "effect: deny"))
    with tn.Nexus(workspace) as nexus:
        assert nexus.governed.gate.version != old
        assert not nexus.call("files.write", path="a.txt", content="x").ok
