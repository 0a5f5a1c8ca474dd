"""The governed example mission (missions/governed/) run as a user runs it: ``toolnexus run`` in one process,
its report publishing parked until ``toolnexus approvals approve`` in a second process grants it, the denied
fetch failing its step with the rule named, and the audit log verified and holding each decision."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO
from toolnexus.governance.approvals import ApprovalQueue
from toolnexus.store.approvals import ApprovalRecord
from toolnexus.store.sqlite import StateStore

EXAMPLE = REPO / "missions" / "governed"
PROCESS_TIMEOUT = 120


def toolnexus(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ``toolnexus ARGS`` in a process of its own, in ``cwd``."""
    return subprocess.run([sys.executable, "-m", "toolnexus.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=PROCESS_TIMEOUT, check=False)


@pytest.fixture
def project(workspace: Path) -> Path:
    """The example's folder (its toolnexus.toml, policy and mission) copied as the workspace."""
    shutil.copytree(EXAMPLE, workspace, dirs_exist_ok=True)
    return workspace


@pytest.fixture
def store(project: Path) -> Iterator[StateStore]:
    """The workspace's state store, shared with the processes the test starts (opened before them)."""
    state = StateStore(project / ".toolnexus" / "state.db")
    yield state
    state.close()


@pytest.fixture
def running(project: Path, store: StateStore) -> Iterator[subprocess.Popen[str]]:
    """``toolnexus run governed.yaml --json`` started in a process of its own (stopped if the test fails),
    once the test's store is open."""
    process = subprocess.Popen([sys.executable, "-m", "toolnexus.cli", "run", "governed.yaml", "--json",
                                "--no-progress"], cwd=project, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()


def requested_ticket(queue: ApprovalQueue, run: subprocess.Popen[str], within: float = 60.0) -> ApprovalRecord:
    """The approval ticket the running mission asks for, once it is in the store (fails if the run ends first)."""
    deadline = time.monotonic() + within
    while not (tickets := queue.list("requested")):
        if run.poll() is not None:
            pytest.fail(f"the run ended (exit {run.returncode}) without asking for an approval: "
                        f"{run.communicate()[1]}")
        if time.monotonic() > deadline:
            pytest.fail(f"no approval was requested within {within:.0f}s")
        time.sleep(0.02)  # between two looks at the store; the condition, not the pause, is what is awaited
    assert len(tickets) == 1, tickets
    return tickets[0]


def test_the_example_validates(project: Path) -> None:
    checked = toolnexus("validate", "governed.yaml", cwd=project)
    assert checked.returncode == 0, checked.stderr
    policy = toolnexus("policy", "check", "policies/reports.yaml", cwd=project)
    assert policy.returncode == 0, policy.stderr


def test_a_second_process_approves_the_report_and_the_fetch_is_denied(
        project: Path, store: StateStore, running: subprocess.Popen[str]) -> None:
    ticket = requested_ticket(ApprovalQueue(store), running)
    assert (ticket.tool, ticket.step_id, ticket.rule) == ("files.write", "publish", "reviewed-reports")
    assert ticket.arguments["path"] == "out/governed/report.md"
    assert not (project / "out" / "governed" / "report.md").exists()  # parked: nothing written yet

    granted = toolnexus("approvals", "approve", ticket.ticket, cwd=project)
    assert granted.returncode == 0, granted.stderr
    out, err = running.communicate(timeout=PROCESS_TIMEOUT)
    assert running.returncode == 0, err
    result = json.loads(out)

    assert result["status"] == "succeeded"
    rates = result["steps"]["rates"]
    assert rates["status"] == "failed"  # continue_on_error: the run goes on past it
    assert rates["error"]["kind"] == "denied" and rates["error"]["details"]["policy"] == "known-hosts-only"
    assert result["outputs"] == {"report": "out/governed/report.md", "rates": "failed"}
    report = (project / "out" / "governed" / "report.md").read_text()
    assert "only the listed rate providers may be fetched (rule known-hosts-only)" in report
    assert ApprovalQueue(store).show(ticket.ticket).status == "granted"

    verified = toolnexus("audit", "verify", cwd=project)
    assert verified.returncode == 0, verified.stderr
    audited = toolnexus("audit", "report", "--json", cwd=project)
    assert audited.returncode == 0, audited.stderr
    records = json.loads(audited.stdout)
    assert decisions(records) == [
        ("decision.deny", "http.fetch", "known-hosts-only"),
        ("decision.allow", "text.render", None),
        ("decision.wait", "files.write", "reviewed-reports"),
        ("decision.allow", "files.write", "reviewed-reports"),  # released by the grant
    ]
    released = [r["body"]["decision"] for r in records if r["kind"] == "decision.allow"][-1]
    assert (released["decider"], released["ticket"]) == ("approval", ticket.ticket)
    changes = [(r["kind"], r["body"]["target"], r["body"]["details"]["channel"])
               for r in records if r["kind"].startswith("governance.approval_")]
    assert changes == [("governance.approval_requested", ticket.ticket, None),
                       ("governance.approval_granted", ticket.ticket, "cli")]


def test_a_second_process_denies_the_report(project: Path, store: StateStore, running: subprocess.Popen[str]) -> None:
    ticket = requested_ticket(ApprovalQueue(store), running)
    denied = toolnexus("approvals", "deny", ticket.ticket, "--reason", "numbers not checked yet", cwd=project)
    assert denied.returncode == 0, denied.stderr
    out, err = running.communicate(timeout=PROCESS_TIMEOUT)
    assert running.returncode == 1, err
    result = json.loads(out)
    assert result["status"] == "failed"
    publish = result["steps"]["publish"]
    assert publish["status"] == "failed" and publish["error"]["kind"] == "denied"
    assert "numbers not checked yet" in publish["error"]["message"]
    assert not (project / "out" / "governed" / "report.md").exists()
    assert toolnexus("audit", "verify", cwd=project).returncode == 0


def decisions(records: list[dict[str, Any]]) -> list[tuple[str, str, str | None]]:
    """The decision records of an audit report: (kind, tool, deciding rule), in order."""
    return [(r["kind"], r["body"]["tool"], r["body"]["decision"].get("policy"))
            for r in records if r["kind"].startswith("decision.")]
