"""Over stdio (the official ``mcp`` client, a real server process) calls and mission runs are recorded as the
server's OS user on the ``mcp`` surface, each call under its own correlation id."""

from __future__ import annotations

import getpass
import json
import os
import sys
from pathlib import Path

import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters

from toolnexus.store import StateStore

REPO = Path(__file__).resolve().parents[2]

MISSION = """\
mission: greet
steps:
  - id: hi
    uses: text.render
    with: {template: hello}
"""


@pytest.mark.anyio
async def test_stdio_calls_and_runs_are_recorded_as_the_os_user_over_mcp(tmp_path: Path) -> None:
    (tmp_path / "toolnexus.toml").write_text('[tracking]\nenabled = false\n[governance]\ntenant = "acme"\n')
    (tmp_path / "missions").mkdir()
    (tmp_path / "missions" / "greet.yaml").write_text(MISSION)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TOOLNEXUS_", "MLFLOW_"))}
    env["PYTHONPATH"] = str(REPO)
    params = StdioServerParameters(command=sys.executable, cwd=str(tmp_path), env=env,
                                   args=["-m", "toolnexus.cli", "mcp", "serve", "--stdio", "-w", str(tmp_path)])
    async with Client(params) as client:
        called = await client.call_tool("text.render", {"template": "hi"})
        ran = await client.call_tool("mission.greet", {})
    assert not called.is_error and not ran.is_error
    store = StateStore(tmp_path / ".toolnexus" / "state.db")  # the server has ended: everything is written
    try:
        calls = store.connection().execute("SELECT call_id, caller, correlation_id, origin FROM calls").fetchall()
        runs = store.list_runs()
    finally:
        store.close()
    caller = {"principal": getpass.getuser(), "tenant": "acme", "surface": "mcp"}
    assert [(json.loads(c["caller"]), c["correlation_id"] == c["call_id"], c["origin"]) for c in calls] == [
        (caller, True, "mcp")]
    [run] = runs
    assert run.caller is not None and run.caller.model_dump(mode="json") == caller
    assert run.correlation_id == run.run_id
