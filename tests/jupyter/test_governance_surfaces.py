"""Each effect in each mode on the Jupyter MCP endpoint (Streamable HTTP, the official client), with a real policy
in the server's workspace (the matrix of :mod:`tests.governance.surfaces`), and an enforced approve released by a
grant — or failed by a denial — over the approvals REST route of the same server."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError

from tests.governance.surfaces import (
    ARGUMENT,
    PROMPT,
    TOOL,
    Recorded,
    Seen,
    case_id,
    check_case,
    expected,
    governed,
    mcp_seen,
    output_of,
    recorded,
    value_of,
)
from toolnexus.jupyter.extension import ToolnexusExtension


@pytest.fixture
def jp_server_config(jp_server_config: dict[str, Any], toolnexus_workspace: Path) -> dict[str, Any]:
    governed(toolnexus_workspace)
    return jp_server_config


def recorded_all(workspace: Path, values: list[str], ran: list[str]) -> Recorded:
    """The store's record once it holds a decision for each of ``values`` and the call of each of ``ran`` (the
    server writes them as calls end)."""
    deadline = time.monotonic() + 30
    while True:
        record = recorded(workspace)
        done = all(v in record.decisions for v in values) and all(v in record.calls for v in ran)
        if done or time.monotonic() > deadline:
            return record
        time.sleep(0.02)  # between two looks at the store; the records, not the pause, are what is awaited


async def test_each_effect_and_mode_on_the_jupyter_endpoint(toolnexus_server: ToolnexusExtension, mcp_connect: Any,
                                                            toolnexus_workspace: Path) -> None:
    logs: list[str] = []

    async def on_log(params: Any) -> None:
        logs.append(str(params.data))

    seen: dict[tuple[str, str], Seen] = {}
    async with mcp_connect("legacy", logging_callback=on_log) as client:
        for case in PROMPT:
            logs.clear()
            result = await client.call_tool(TOOL, {ARGUMENT: value_of(case, "jupyter")})
            seen[case] = mcp_seen(result, list(logs))
    values = [value_of(case, "jupyter") for case in PROMPT]
    ran = [value_of(case, "jupyter") for case in PROMPT if expected(case) != "refused"]
    record = await asyncio.to_thread(recorded_all, toolnexus_workspace, values, ran)
    failures = []
    for case in PROMPT:
        try:
            check_case(case, seen[case], record, value_of(case, "jupyter"), "mcp")
        except AssertionError as exc:
            failures.append(f"{case_id(case)}: {exc}")
    assert not failures, "\n".join(failures)


@pytest.fixture
def approvals_api(toolnexus_server: ToolnexusExtension, jp_fetch: Any) -> Any:
    """``await approvals_api(*path, method=..., body=...)`` → (status, JSON) on the approvals REST route."""

    async def call(*path: str, method: str = "GET", body: Any = None, **params: str) -> tuple[int, Any]:
        try:
            response = await jp_fetch("toolnexus", "api", "approvals", *path, method=method, params=params,
                                      body=None if body is None else json.dumps(body), allow_nonstandard_methods=True)
        except HTTPClientError as exc:
            assert exc.response is not None
            return exc.code, json.loads(exc.response.body)
        return response.code, json.loads(response.body)

    return call


async def _requested(approvals_api: Any, value: str, call: Any) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        status, tickets = await approvals_api(status="requested")
        assert status == 200, tickets
        found = [t for t in tickets if t["arguments"].get(ARGUMENT) == value]
        if found:
            return found[0]
        assert not call.done(), f"the call ended without asking for an approval: {call.result()}"
        assert time.monotonic() < deadline, "no approval was requested"
        await asyncio.sleep(0.02)


@pytest.mark.parametrize("decision", ["approve", "deny"])
async def test_an_enforced_approve_waits_for_a_decision_over_rest(approvals_api: Any, mcp_connect: Any,
                                                                  decision: str) -> None:
    value = value_of(("approve", "enforce"), f"jupyter {decision}")
    async with mcp_connect("legacy") as client:
        call = asyncio.ensure_future(client.call_tool(TOOL, {ARGUMENT: value}))
        ticket = await _requested(approvals_api, value, call)
        assert (ticket["rule"], ticket["surface"]) == ("approve-enforce", "mcp") and not call.done()
        status, decided = await approvals_api(ticket["ticket"], decision, method="POST", body={"reason": "not today"})
        assert status == 200, decided
        result = await asyncio.wait_for(call, 60)
    if decision == "approve":
        assert not result.is_error and result.structured_content == output_of(value), result
        assert (decided["status"], decided["channel"]) == ("granted", "rest")
    else:
        error = result.structured_content["error"]
        assert result.is_error and error["kind"] == "denied" and "not today" in error["message"], result
        assert error["details"]["policy"] == "approve-enforce"
