"""The Python API: load, compile, run (sync, async, inside a running loop) and call."""

from __future__ import annotations

import shutil
from pathlib import Path

import anyio
import pytest

import toolnexus as tn
from tests.conftest import REPO

MISSION = """
mission: api-check
inputs:
  who: {type: string}
steps:
  - id: greet
    uses: text.render
    with: {template: "hi {{ who }}", data: {who: "${{ inputs.who }}"}}
  - id: shout
    uses: python.exec
    with: {code: "result = inputs['t'].upper()", inputs: {t: "${{ steps.greet.outputs.text }}"}}
outputs:
  text: "${{ steps.shout.outputs.result }}"
"""


@pytest.fixture
def project(workspace: Path) -> Path:
    shutil.copytree(REPO / "missions", workspace / "missions")
    return workspace


def test_load_compile_and_run_a_file(project: Path) -> None:
    loaded = tn.load_mission("missions/hello.yaml")
    assert loaded.require().mission == "hello"
    plan = tn.compile(loaded)
    assert [s.id for s in plan.steps] == ["greet", "lines", "save", "check"]
    result = tn.run(plan, {"name": "Ada"})
    assert result.ok and result.outputs["greeting"] == "Hello, Ada!"
    assert tn.default_nexus().store.get_run(result.run_id).status == tn.RunStatus.SUCCEEDED


def test_run_yaml_text_and_read_outputs(nexus: tn.Nexus) -> None:
    result = nexus.run(MISSION, {"who": "ada"})
    assert result.status == tn.RunStatus.SUCCEEDED
    assert result.outputs == {"text": "HI ADA"}
    assert result.steps["shout"].tool == "python.exec"


def test_bad_inputs_raise_diagnostics(nexus: tn.Nexus) -> None:
    with pytest.raises(tn.DiagnosticError) as info:
        nexus.run(MISSION, {"whom": "ada"})
    messages = [d.message for d in info.value.diagnostics]
    assert any("unknown input 'whom'" in m for m in messages)
    assert any("missing required input 'who'" in m for m in messages)


def test_sync_run_works_inside_a_running_event_loop(nexus: tn.Nexus) -> None:
    # Jupyter runs cells inside an event loop; the sync API must still work there.
    async def cell() -> tn.RunResult:
        return nexus.run(MISSION, {"who": "loop"})

    result = anyio.run(cell)
    assert result.outputs == {"text": "HI LOOP"}


@pytest.mark.anyio
async def test_arun_is_cancelled_with_the_awaiting_task(test_nexus: tn.Nexus) -> None:
    mission = "mission: slow\nsteps:\n  - id: nap\n    uses: test.sleep\n    with: {seconds: 30}\n"
    started = anyio.Event()
    test_nexus.bus.subscribe(lambda e: started.set() if e.type == "step_started" else None)
    run_ids: list[str] = []
    test_nexus.bus.subscribe(lambda e: run_ids.append(e.run_id) if e.type == "run_started" else None)
    async with anyio.create_task_group() as group:
        group.start_soon(test_nexus.arun, mission)
        await started.wait()
        group.cancel_scope.cancel()
    stored = test_nexus.store.get_run(run_ids[0])
    assert stored.status == tn.RunStatus.CANCELLED
    assert stored.steps["nap"].status == tn.StepStatus.CANCELLED


def test_call_goes_through_validation_and_returns_data(nexus: tn.Nexus) -> None:
    ok = nexus.call("json.query", data={"a": [1, 2, 3]}, query="length(a)")
    assert ok.ok and ok.output == 3
    bad = nexus.call("json.query", data={}, querry="a")
    assert bad.error.kind == tn.ErrorKind.INVALID_ARGUMENTS
    assert bad.error.message.startswith("invalid arguments for json.query@1.0.0")
    assert {e["path"] for e in bad.error.details["errors"]} == {"/query", "/querry"}
    missing = nexus.call("nope.tool")
    assert missing.error.kind == tn.ErrorKind.NOT_FOUND


def test_module_level_tool_is_found_and_called(workspace: Path) -> None:
    @tn.tool(name="api_test.add")
    def add(a: int, b: int = 2) -> int:
        """Add two numbers.

        Args:
            a: the first
            b: the second
        """
        return a + b

    result = tn.call("api_test.add", a=40)
    assert result.output == 42
    spec = tn.default_nexus().registry.get("api_test.add")
    assert spec.input_schema["properties"]["a"]["description"] == "the first"
    assert spec.output_schema == {"type": "integer"}


def test_standalone_calls_are_recorded_in_the_store(nexus: tn.Nexus) -> None:
    nexus.call("json.query", data=[1], query="[0]")
    nexus.store.flush()  # on an event loop, calls are written a moment later
    rows = nexus.store._conn().execute("SELECT tool, origin FROM calls").fetchall()
    assert [(r["tool"], r["origin"]) for r in rows] == [("json.query", "python")]


def test_without_mcp_servers_there_is_no_mcp_runtime(nexus: tn.Nexus) -> None:
    assert nexus.mcp is None and "mcp" not in nexus.runtimes


def test_a_disabled_mcp_server_is_never_contacted(workspace: Path) -> None:
    (workspace / "toolnexus.toml").write_text('[mcp.servers.off]\ncommand = "no-such-server"\nenabled = false\n')
    with tn.Nexus(workspace) as nexus:
        assert nexus.mcp is None and not nexus.registry.problems


def test_sync_call_of_an_mcp_tool_inside_a_running_event_loop(workspace: Path) -> None:
    # Jupyter's case: a loop already runs in this thread, so the call runs on a fresh loop in a helper thread,
    # and the server's session — held by the connection thread — serves it all the same.
    (workspace / "toolnexus.toml").write_text('[mcp.servers.time]\ncommand = "mcp-server-time"\n')
    with tn.Nexus(workspace) as nexus:

        async def in_a_running_loop() -> tn.ToolResult:
            return nexus.call("time.get_current_time", {"timezone": "UTC"})

        result = anyio.run(in_a_running_loop)
        assert result.ok, result.error
        assert result.output["timezone"] == "UTC"
