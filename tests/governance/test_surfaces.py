"""Each effect (allow, deny, approve) in each mode (observe, warn, enforce) on every local surface — Python
(``Nexus.call``), a mission step (``Nexus.run``), ``toolnexus call`` and ``toolnexus run`` in processes of their own,
and ``toolnexus mcp serve --stdio`` driven by the official MCP client — against a real state store: an enforced deny
is refused naming its rule, a warn rule's call runs and the caller is told, an observe rule's call runs exactly as
without it while the audit log records what it would have done, and an enforced approve waits until a person in
another process grants (it runs) or denies it (refused with the reason).

The matrix and its checks are in :mod:`tests.governance.surfaces`; the Jupyter endpoint's are in
``tests/jupyter/test_governance_surfaces.py``; an enforced approve waiting on each surface until another process
decides is ``tests/governance/test_surfaces_approvals.py`` (a mission step waiting in ``toolnexus run``:
``tests/governance/test_governed_example.py``).
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
from collections.abc import Iterator
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
    process_env,
    recorded,
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
def mcp_session(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Observed]:
    """Over one stdio session of the official MCP client: each case called as a tool (``mcp_stdio``), then each a
    step of the workspace's mission ``mission.surfaces`` (``mcp_mission``); and the record."""
    workspace = governed(tmp_path_factory.mktemp("mcp-stdio"))
    (workspace / "missions").mkdir()
    (workspace / "missions" / "surfaces.yaml").write_text(mission("mcp-mission"))
    logs: list[str] = []

    async def on_log(params: Any) -> None:
        logs.append(str(params.data))

    async def calls() -> tuple[dict[tuple[str, str], Seen], dict[tuple[str, str], Seen]]:
        called = {}
        async with Client(stdio_server(workspace), mode="legacy", logging_callback=on_log) as client:
            for case in PROMPT:
                logs.clear()
                result = await client.call_tool(TOOL, {ARGUMENT: value_of(case, "mcp")})
                called[case] = mcp_seen(result, list(logs))
            logs.clear()
            ran = await client.call_tool("mission.surfaces", {})
        assert not ran.is_error, ran
        told = [*(ran.meta or {}).get("toolnexus/warnings", []), *logs]
        steps = {}
        for case in PROMPT:
            step, error = ran.structured_content[step_of(case)], ran.structured_content[step_of(case)]["error"]
            steps[case] = Seen(ran=step["status"] == "succeeded", output=step["output"],
                               error=f"{error['kind']}: {error['message']}" if error else "",
                               rule=error["details"].get("policy") if error else None, told=told_of(case, told))
        return called, steps

    called, steps = anyio.run(calls)
    record = recorded(workspace)
    return {"mcp_stdio": (called, record), "mcp_mission": (steps, record)}


@pytest.fixture(scope="module")
def mcp_stdio(mcp_session: dict[str, Observed]) -> Observed:
    return mcp_session["mcp_stdio"]


@pytest.fixture(scope="module")
def mcp_mission(mcp_session: dict[str, Observed]) -> Observed:
    return mcp_session["mcp_mission"]


# The fixture of each surface → (the caller's surface recorded, the surface's name in its calls' values).
SURFACES = {"python": ("python", "python"), "mission_step": ("python", "mission"), "cli_call": ("cli", "cli"),
            "cli_run": ("cli", "cli"), "mcp_stdio": ("mcp", "mcp"), "mcp_mission": ("mcp", "mcp-mission")}


@pytest.mark.parametrize("case", PROMPT, ids=case_id)
@pytest.mark.parametrize("surface", list(SURFACES))
def test_each_effect_and_mode(surface: str, case: tuple[str, str], request: pytest.FixtureRequest) -> None:
    seen, record = request.getfixturevalue(surface)
    recorded_as, named = SURFACES[surface]
    check_case(case, seen[case], record, value_of(case, named), recorded_as)


@pytest.mark.parametrize("surface", ["mcp_stdio", "mcp_mission"])
def test_a_warning_reaches_an_mcp_client_as_a_log_and_in_the_results_meta(surface: str,
                                                                         request: pytest.FixtureRequest) -> None:
    seen, _ = request.getfixturevalue(surface)
    for case in [c for c in CASES if c[1] == "warn" and c[0] != "allow"]:
        [meta, log] = seen[case].told  # the result's _meta entry, then the log message
        assert meta.startswith(f"policy rule {case_id(case)} (warn)") and meta in log, seen[case]


def test_mission_steps_are_recorded_as_steps(mission_step: Observed, cli_run: Observed, mcp_mission: Observed) -> None:
    for _, record in (mission_step, cli_run):
        steps = [d for ds in record.decisions.values() for d in ds]
        assert steps and all(d["origin"] == "mission" and d["run_id"] for d in steps), steps
    _, record = mcp_mission
    steps = [d for c in PROMPT for d in record.decisions[value_of(c, "mcp-mission")]]
    assert all(d["origin"] == "mission" and d["run_id"] for d in steps), steps
