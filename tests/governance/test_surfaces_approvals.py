"""An enforced approve on each local surface: the call waits — ``Nexus.acall``, ``toolnexus call`` in a process of its
own, a call over MCP stdio — until a person in another process grants it (it runs) or denies it (it is refused with
the reviewer's reason and the rule). The deciding process is ``toolnexus approvals approve|deny`` (the CLI), or the
test's own process over the Python API when the waiting call is the CLI's. The Jupyter endpoint's call released over
REST is ``tests/jupyter/test_governance_surfaces.py``; a mission step, ``tests/governance/test_governed_example.py``.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

import toolnexus as tn
from tests.governance.surfaces import (
    ARGUMENT,
    PROCESS_TIMEOUT,
    TOOL,
    governed,
    output_of,
    process_env,
    requested,
    stdio_server,
    toolnexus,
    value_of,
)
from toolnexus.governance.approvals import ApprovalQueue
from toolnexus.store.sqlite import StateStore

# -- an enforced approve: the call waits until a person in another process decides --------------------------------

APPROVE = ("approve", "enforce")


@pytest.fixture
def approvals_workspace(tmp_path: Path) -> Iterator[Path]:
    """A governed workspace, with no TOOLNEXUS_/MLFLOW_ variables for the test's Nexus."""
    with pytest.MonkeyPatch.context() as patch:
        for name in [n for n in os.environ if n.startswith(("TOOLNEXUS_", "MLFLOW_"))]:
            patch.delenv(name)
        yield governed(tmp_path)


@pytest.mark.anyio
@pytest.mark.parametrize("decision", ["approve", "deny"])
async def test_a_python_call_waits_until_the_cli_decides_in_another_process(approvals_workspace: Path,
                                                                           decision: str) -> None:
    value = value_of(APPROVE, f"python {decision}")
    with tn.Nexus(approvals_workspace) as nexus:
        call = asyncio.ensure_future(nexus.acall(TOOL, {ARGUMENT: value}))
        ticket = await anyio.to_thread.run_sync(
            lambda: requested(approvals_workspace, value, alive=lambda: not call.done()))
        assert (ticket.rule, ticket.surface) == ("approve-enforce", "python") and not call.done()
        extra = ["--reason", "not today"] if decision == "deny" else []
        decided = await anyio.to_thread.run_sync(
            lambda: toolnexus("approvals", decision, ticket.ticket, *extra, cwd=approvals_workspace))
        assert decided.returncode == 0, decided.stderr
        result = await asyncio.wait_for(call, PROCESS_TIMEOUT)
    if decision == "approve":
        assert result.ok and result.output == output_of(value), result.error
    else:
        assert result.error is not None and result.error.kind == tn.ErrorKind.DENIED
        assert "not today" in result.error.message and result.error.details["policy"] == "approve-enforce"


@pytest.mark.parametrize("decision", ["approve", "deny"])
def test_toolnexus_call_waits_until_a_person_decides_in_another_process(approvals_workspace: Path,
                                                                       decision: str) -> None:
    value = value_of(APPROVE, f"cli {decision}")
    process = subprocess.Popen([sys.executable, "-m", "toolnexus.cli", "call", TOOL, "-a", f"{ARGUMENT}={value}"],
                               cwd=approvals_workspace, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=process_env())
    try:
        ticket = requested(approvals_workspace, value, alive=lambda: process.poll() is None)
        assert (ticket.rule, ticket.surface) == ("approve-enforce", "cli")
        store = StateStore(approvals_workspace / ".toolnexus" / "state.db")
        try:
            queue = ApprovalQueue(store)
            if decision == "approve":
                queue.grant(ticket.ticket, "reviewer", "python")
            else:
                queue.deny(ticket.ticket, "reviewer", "python", "not today")
        finally:
            store.close()
        out, err = process.communicate(timeout=PROCESS_TIMEOUT)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert "Traceback" not in err, err
    if decision == "approve":
        assert process.returncode == 0 and json.loads(out) == output_of(value), err
    else:
        assert process.returncode == 1 and "not today" in err and "(rule approve-enforce)" in err, err


@pytest.mark.parametrize("decision", ["approve", "deny"])
def test_an_mcp_stdio_call_waits_until_the_cli_decides(approvals_workspace: Path, decision: str) -> None:
    value = value_of(APPROVE, f"mcp {decision}")

    async def scenario() -> Any:
        async with Client(stdio_server(approvals_workspace), mode="legacy") as client:
            call = asyncio.ensure_future(client.call_tool(TOOL, {ARGUMENT: value}))
            ticket = await anyio.to_thread.run_sync(
                lambda: requested(approvals_workspace, value, alive=lambda: not call.done()))
            assert (ticket.rule, ticket.surface) == ("approve-enforce", "mcp")
            extra = ["--reason", "not today"] if decision == "deny" else []
            decided = await anyio.to_thread.run_sync(
                lambda: toolnexus("approvals", decision, ticket.ticket, *extra, cwd=approvals_workspace))
            assert decided.returncode == 0, decided.stderr
            return await asyncio.wait_for(call, PROCESS_TIMEOUT)

    result = anyio.run(scenario)
    if decision == "approve":
        assert not result.is_error and result.structured_content == output_of(value), result
    else:
        error = result.structured_content["error"]
        assert result.is_error and error["kind"] == "denied" and "not today" in error["message"], result
        assert error["details"]["policy"] == "approve-enforce"
