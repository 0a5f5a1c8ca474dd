"""An enforced approve rule through the real approvals queue: the rule's four eyes, approvers and channels
decide who may grant, a refused grant from the CLI in a second process, and a grant releasing the call."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import anyio
import pytest

from tests.governance.policy.support import governed, write_policy
from toolnexus.core.call import ToolResult
from toolnexus.core.events import GovernanceChanged
from toolnexus.governance.approvals import ApprovalQueue
from toolnexus.governance.policy import PolicyGate

pytestmark = pytest.mark.anyio


async def test_an_approve_rule_parks_the_call_until_an_approver_it_names_grants_it(workspace: Path) -> None:
    path = write_policy(workspace, """
        rules:
          - id: reviewed-writes
            effect: approve
            mode: enforce
            tools: files.write
            approvers: [bob]
            four_eyes: true
            channels: [cli]
            timeout: 5m
            reason: writes are reviewed
        """)
    gate = PolicyGate.from_files([path])
    requested = threading.Event()  # announced from the queue's worker thread
    tickets: list[str] = []

    def announce(event: GovernanceChanged) -> None:
        if event.action == "approval_requested":
            tickets.append(event.target)
            requested.set()

    with governed(workspace, gate) as (nexus, _):
        assert nexus.store is not None
        queue = ApprovalQueue(nexus.store, announce=announce, policy_version=lambda: gate.version,
                              rule_of=gate.rule_of)
        gate.approvals = queue
        results: list[ToolResult] = []

        async def call() -> None:
            results.append(await nexus.acall("files.write", path="out/a.txt", content="x"))

        async with anyio.create_task_group() as tg:
            tg.start_soon(call)
            assert await anyio.to_thread.run_sync(requested.wait, 60)
            record = queue.show(tickets[0])
            assert (record.rule, record.four_eyes, record.approvers, record.channels) == (
                "reviewed-writes", True, ["bob"], ["cli"])
            assert record.policy_version == gate.version and record.reason == "writes are reviewed"
            # The requester (this OS user) may not grant it: four eyes, and the rule names bob only.
            refused = await anyio.to_thread.run_sync(lambda: subprocess.run(
                [sys.executable, "-m", "toolnexus.cli", "approvals", "approve", tickets[0]], cwd=workspace,
                capture_output=True, text=True, timeout=120, check=False))
            assert refused.returncode != 0 and "Traceback" not in refused.stderr
            assert not (workspace / "out" / "a.txt").exists()
            await anyio.to_thread.run_sync(lambda: queue.grant(tickets[0], by="bob", channel="cli"))
    assert results[0].ok, results[0].error
    assert (workspace / "out" / "a.txt").read_text() == "x"
