"""Each effect (allow, deny, approve) in each mode (observe, warn, enforce) on every local surface — Python
(``Nexus.call``), a mission step (``Nexus.run``), ``toolnexus call`` and ``toolnexus run`` in processes of their own,
and ``toolnexus mcp serve --stdio`` driven by the official MCP client — against a real state store: an enforced deny
is refused naming its rule, a warn rule's call runs and the caller is told, an observe rule's call runs exactly as
without it while the audit log records what it would have done, and an enforced approve waits until a person in
another process grants (it runs) or denies it (refused with the reason).

The matrix and its checks are in :mod:`tests.governance.surfaces`; the Jupyter endpoint's are in
``tests/jupyter/test_governance_surfaces.py``. A mission step waiting in ``toolnexus run`` and released by
``toolnexus approvals approve`` in another process is ``tests/governance/test_governed_example.py``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
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
    CASES,
    PROCESS_TIMEOUT,
    PROMPT,
    TOOL,
    Recorded,
    Seen,
    Warnings,
    case_id,
    check_case,
    governed,
    mcp_seen,
    mission,
    output_of,
    process_env,
    recorded,
    requested,
    stdio_server,
    step_of,
    told_of,
    toolnexus,
    value_of,
)

Observed = tuple[dict[tuple[str, str], Seen], Recorded]


@pytest.fixture(scope="module")
def clean_env() -> Iterator[None]:
    """No TOOLNEXUS_/MLFLOW_ variables for the module's Nexus objects."""
    with pytest.MonkeyPatch.context() as patch:
        for name in [n for n in os.environ if n.startswith(("TOOLNEXUS_", "MLFLOW_"))]:
            patch.delenv(name)
        yield


@pytest.fixture(scope="module")
def told() -> Iterator[Warnings]:
    handler = Warnings()
    logging.getLogger("toolnexus.engine").addHandler(handler)
    yield handler
    logging.getLogger("toolnexus.engine").removeHandler(handler)


@pytest.fixture(scope="module")
def python(tmp_path_factory: pytest.TempPathFactory, clean_env: None, told: Warnings) -> Observed:
    """Each case called with ``Nexus.call``, then the record."""
    workspace = governed(tmp_path_factory.mktemp("python"))
    seen = {}
    with tn.Nexus(workspace) as nexus:
        for case in PROMPT:
            told.seen.clear()
            result = nexus.call(TOOL, {ARGUMENT: value_of(case, "python")})
            error = result.error
            seen[case] = Seen(ran=result.ok, output=result.output, error=str(error or ""),
                              rule=error.details.get("policy") if error else None, told=list(told.seen))
    return seen, recorded(workspace)


@pytest.fixture(scope="module")
def mission_step(tmp_path_factory: pytest.TempPathFactory, clean_env: None, told: Warnings) -> Observed:
    """Each case a step of one mission run with ``Nexus.run``, then the record."""
    workspace = governed(tmp_path_factory.mktemp("mission"))
    (workspace / "surfaces.yaml").write_text(mission("mission"))
    told.seen.clear()
    with tn.Nexus(workspace) as nexus:
        result = nexus.run(workspace / "surfaces.yaml")
    steps = {s.step_id: s for s in result.steps.values()}
    seen = {}
    for case in PROMPT:
        step = steps[step_of(case)]
        seen[case] = Seen(ran=step.error is None, output=step.output, error=str(step.error or ""),
                          rule=step.error.details.get("policy") if step.error else None,
                          told=told_of(case, told.seen))
    return seen, recorded(workspace)


RULE_NAMED = re.compile(r"\(rule ([\w-]+)\)")


@pytest.fixture(scope="module")
def cli_call(tmp_path_factory: pytest.TempPathFactory) -> Observed:
    """Each case called with ``toolnexus call`` in a process of its own (all at once), then the record."""
    workspace = governed(tmp_path_factory.mktemp("cli-call"))
    processes = {case: subprocess.Popen(
        [sys.executable, "-m", "toolnexus.cli", "call", TOOL, "-a", f"{ARGUMENT}={value_of(case, 'cli')}"],
        cwd=workspace, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=process_env())
        for case in PROMPT}
    seen = {}
    for case, process in processes.items():
        out, err = process.communicate(timeout=PROCESS_TIMEOUT)
        assert "Traceback" not in err, err
        named = RULE_NAMED.search(err)
        seen[case] = Seen(ran=process.returncode == 0, output=json.loads(out) if process.returncode == 0 else None,
                          error=err if process.returncode else "", rule=named.group(1) if named else None,
                          told=[line for line in err.splitlines() if "would have" in line])
    return seen, recorded(workspace)


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory: pytest.TempPathFactory) -> Observed:
    """Each case a step of one ``toolnexus run --json`` in a process of its own, then the record."""
    workspace = governed(tmp_path_factory.mktemp("cli-run"))
    (workspace / "surfaces.yaml").write_text(mission("cli"))
    ran = toolnexus("run", "surfaces.yaml", "--json", "--no-progress", cwd=workspace)
    assert ran.returncode == 0 and "Traceback" not in ran.stderr, ran.stderr
    steps = json.loads(ran.stdout)["steps"]
    seen = {}
    for case in PROMPT:
        step = steps[step_of(case)]
        error = step.get("error")
        seen[case] = Seen(ran=error is None, output=step.get("output"),
                          error=f"{error['kind']}: {error['message']}" if error else "",
                          rule=error["details"].get("policy") if error else None,
                          told=told_of(case, ran.stderr.splitlines()))
    return seen, recorded(workspace)


@pytest.fixture(scope="module")
def mcp_stdio(tmp_path_factory: pytest.TempPathFactory) -> Observed:
    """Each case called by the official MCP client over stdio, then the record."""
    workspace = governed(tmp_path_factory.mktemp("mcp-stdio"))
    logs: list[str] = []

    async def on_log(params: Any) -> None:
        logs.append(str(params.data))

    async def calls() -> dict[tuple[str, str], Seen]:
        seen = {}
        async with Client(stdio_server(workspace), mode="legacy", logging_callback=on_log) as client:
            for case in PROMPT:
                logs.clear()
                result = await client.call_tool(TOOL, {ARGUMENT: value_of(case, "mcp")})
                seen[case] = mcp_seen(result, list(logs))
        return seen

    seen = anyio.run(calls)
    return seen, recorded(workspace)


SURFACES = {"python": "python", "mission_step": "python", "cli_call": "cli", "cli_run": "cli", "mcp_stdio": "mcp"}
VALUE_SURFACE = {"python": "python", "mission_step": "mission", "cli_call": "cli", "cli_run": "cli", "mcp_stdio": "mcp"}


@pytest.mark.parametrize("case", PROMPT, ids=case_id)
@pytest.mark.parametrize("surface", list(SURFACES))
def test_each_effect_and_mode(surface: str, case: tuple[str, str], request: pytest.FixtureRequest) -> None:
    seen, record = request.getfixturevalue(surface)
    check_case(case, seen[case], record, value_of(case, VALUE_SURFACE[surface]), SURFACES[surface])


def test_a_warning_reaches_an_mcp_client_as_a_log_and_in_the_results_meta(mcp_stdio: Observed) -> None:
    seen, _ = mcp_stdio
    for case in [c for c in CASES if c[1] == "warn" and c[0] != "allow"]:
        [meta, log] = seen[case].told
        assert meta == told_of(case, [meta])[0] and meta in log, seen[case]


def test_mission_steps_are_recorded_as_steps(mission_step: Observed, cli_run: Observed) -> None:
    for _, record in (mission_step, cli_run):
        steps = [d for ds in record.decisions.values() for d in ds]
        assert steps and all(d["origin"] == "mission" and d["run_id"] for d in steps), steps


# -- an enforced approve: the call waits until a person in another process decides --------------------------------

APPROVE = ("approve", "enforce")


@pytest.fixture
def approvals_workspace(tmp_path: Path, clean_env: None) -> Path:
    return governed(tmp_path)


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
    from toolnexus.governance.approvals import ApprovalQueue
    from toolnexus.store.sqlite import StateStore

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
