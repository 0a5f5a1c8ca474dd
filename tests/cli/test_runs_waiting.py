"""A mission step waiting for an approval shows as waiting in ``toolnexus runs show`` (the rule, the ticket and
the command that grants it) and in the run's progress lines, and no longer once a second process granted it.

The governed example (missions/governed/) runs in a process of its own: its publish step's write is parked by
the rule ``reviewed-reports`` until ``toolnexus approvals approve`` grants it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import REPO
from toolnexus.cli import app
from toolnexus.cli.progress import waiting_note
from toolnexus.governance.approvals import ApprovalQueue
from toolnexus.store.approvals import ApprovalRecord
from toolnexus.store.sqlite import StateStore

PROCESS_TIMEOUT = 120
runner = CliRunner()


def invoke(*args: str) -> tuple[int, str, str]:
    """``toolnexus ARGS`` in this process (the test's current directory is the workspace)."""
    result = runner.invoke(app, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def project(workspace: Path) -> Path:
    """The governed example's folder (its toolnexus.toml, policy and mission) copied as the workspace."""
    shutil.copytree(REPO / "missions" / "governed", workspace, dirs_exist_ok=True)
    return workspace


@pytest.fixture
def queue(project: Path) -> Iterator[ApprovalQueue]:
    """The approvals queue of the workspace's state store (opened before the run's process starts)."""
    store = StateStore(project / ".toolnexus" / "state.db")
    yield ApprovalQueue(store)
    store.close()


@pytest.fixture
def running(project: Path, queue: ApprovalQueue) -> Iterator[subprocess.Popen[str]]:
    """``toolnexus run governed.yaml`` with its progress lines (stderr is no terminal), in a process of its own."""
    process = subprocess.Popen([sys.executable, "-m", "toolnexus.cli", "run", "governed.yaml", "--json"],
                               cwd=project, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()


def requested_ticket(queue: ApprovalQueue, run: subprocess.Popen[str], within: float = 60.0) -> ApprovalRecord:
    """The ticket the running mission asks for, once it is in the store (fails if the run ends first)."""
    deadline = time.monotonic() + within
    while not (tickets := queue.list("requested")):
        if run.poll() is not None:
            pytest.fail(f"the run ended (exit {run.returncode}) without asking for an approval: {run.communicate()}")
        if time.monotonic() > deadline:
            pytest.fail(f"no approval was requested within {within:.0f}s")
        time.sleep(0.02)  # between two looks at the store; the condition, not the pause, is what is awaited
    [ticket] = tickets
    return ticket


def test_runs_show_lists_the_step_waiting_for_approval(queue: ApprovalQueue,
                                                       running: subprocess.Popen[str]) -> None:
    ticket = requested_ticket(queue, running)
    assert ticket.run_id is not None and ticket.step_id == "publish"

    code, out, err = invoke("runs", "show", ticket.run_id)
    assert code == 0, err
    assert f"{ticket.run_id} governed-report: running" in out
    assert f"publish: {waiting_note('reviewed-reports', ticket.ticket)}" in out
    code, out, err = invoke("runs", "show", ticket.run_id, "--json")
    assert code == 0, err
    shown = json.loads(out)
    assert shown["status"] == "running"
    [waiting] = shown["waiting"]
    assert (waiting["step_id"], waiting["tool"], waiting["ticket"], waiting["rule"]) == (
        "publish", "files.write", ticket.ticket, "reviewed-reports")

    code, _, err = invoke("approvals", "approve", ticket.ticket)
    assert code == 0, err
    out, progress = running.communicate(timeout=PROCESS_TIMEOUT)
    assert running.returncode == 0, progress
    assert json.loads(out)["status"] == "succeeded"
    lines = [line.strip() for line in progress.splitlines()]
    waited = lines.index(f"⏸ publish — {waiting_note('reviewed-reports', ticket.ticket)}")
    assert lines[waited + 1].startswith("… publish resumed — approved of ")
    assert lines[waited + 2].startswith("✓ publish")

    code, out, err = invoke("runs", "show", ticket.run_id, "--json")
    assert code == 0, err
    shown = json.loads(out)
    assert shown["status"] == "succeeded" and shown["waiting"] == []
    assert shown["steps"]["publish"]["status"] == "succeeded"

