"""A mission called over MCP sends its client what its steps' tools send: progress (as a share of the
run's), log records and questions — with the SDK client connected in process to a real ToolServer."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import mcp_types as types
import pytest
from mcp import Client

import toolnexus as tn
from toolnexus.core.context import elicit, report_progress
from toolnexus.mcp_server.server import ToolServer
from toolnexus.registry import spec_of

pytestmark = [pytest.mark.anyio, pytest.mark.filterwarnings("ignore:The logging capability is deprecated")]
log = logging.getLogger(__name__)


@tn.tool(name="runchan.quarters", register=False)
def quarters() -> str:
    """Reports a quarter at a time, from a worker thread, and logs."""
    for done in (1, 2, 3):
        report_progress(done, 4, f"{done}/4")
    log.info("quartered")
    return "ok"


@tn.tool(name="runchan.endless", register=False)
async def endless() -> str:
    """Reports progress without a total."""
    for done in (1, 2, 3):
        report_progress(done)
    return "ok"


@tn.tool(name="runchan.who", register=False)
async def who() -> str:
    """Asks the client's user for a name."""
    answer = await elicit("Who runs this?", {"type": "object", "properties": {"name": {"type": "string"}}})
    return str(answer.get("content", {}).get("name"))


@tn.tool(name="runchan.who_is", register=False)
async def who_is(role: str) -> str:
    """Asks the client's user who plays ``role``."""
    answer = await elicit(f"Who is the {role}?", {"type": "object", "properties": {"name": {"type": "string"}}})
    return str(answer.get("content", {}).get("name"))


ROLES = """\
mission: roles
inputs:
  roles: {type: array, default: [author, reviewer]}
steps:
  - id: names
    uses: runchan.who_is
    foreach: "${{ inputs.roles }}"
    with: {role: "${{ item }}"}
outputs:
  names: "${{ steps.names.outputs }}"
"""

PROGRESS = """\
mission: progress
inputs:
  label: {type: string, default: x}
steps:
  - {id: first, uses: runchan.quarters}
  - {id: second, uses: runchan.endless, needs: [first]}
outputs:
  first: "${{ steps.first.outputs }}"
"""

ASKS = """\
mission: asks
inputs:
  greeting: {type: string, default: Hello}
steps:
  - {id: name, uses: runchan.who}
outputs:
  said: "${{ inputs.greeting }}, ${{ steps.name.outputs }}"
"""


@pytest.fixture
def server(nexus: tn.Nexus, tmp_path: Path) -> Any:
    for fn in (quarters, endless, who, who_is):
        nexus.registry.register(spec_of(fn))
    folder = tmp_path / "served-missions"
    folder.mkdir()
    (folder / "progress.yaml").write_text(PROGRESS)
    (folder / "asks.yaml").write_text(ASKS)
    (folder / "roles.yaml").write_text(ROLES)
    tool_server = ToolServer(nexus, missions_dir=folder)
    yield tool_server
    tool_server.close()


async def test_a_steps_own_progress_moves_the_runs_by_a_share_of_a_step(server: ToolServer) -> None:
    seen: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message))

    async with Client(server.server, mode="legacy") as client:
        result = await client.call_tool("mission.progress", {}, progress_callback=on_progress)
    assert result.is_error is False and result.structured_content["first"] == "ok"
    values = [p for p, _, _ in seen]
    assert values == sorted(set(values))  # increasing, as the protocol wants
    assert values[:5] == [0.0, 0.25, 0.5, 0.75, 1.0]  # the first step's quarters, then its end
    assert {t for _, t, _ in seen} == {2.0}
    assert seen[1][2] == "step first (runchan.quarters@1.0.0): 1/4"
    # Without a total, the second step still moves the run on, short of its end: 1.5, 1.667, 1.75, then 2.
    assert [round(v, 3) for v in values[5:]] == [1.5, 1.667, 1.75, 2.0]
    assert seen[-1][2] is not None and seen[-1][2].startswith("step second (runchan.endless) succeeded")


async def test_a_steps_log_records_reach_the_client(server: ToolServer) -> None:
    received: list[types.LoggingMessageNotificationParams] = []

    async def on_log(params: types.LoggingMessageNotificationParams) -> None:
        received.append(params)

    async with Client(server.server, mode="legacy", logging_callback=on_log) as client:
        await client.session.set_logging_level("info")
        result = await client.call_tool("mission.progress", {})
    assert result.is_error is False
    assert [(r.level, r.data, r.logger) for r in received] == [("info", "quartered", __name__)]


async def test_a_step_asks_the_clients_user_on_a_session(server: ToolServer) -> None:
    async def on_elicit(context: Any, params: Any) -> types.ElicitResult:
        assert params.message == "Who runs this?"
        return types.ElicitResult(action="accept", content={"name": "Ada"})

    async with Client(server.server, mode="legacy", elicitation_callback=on_elicit) as client:
        result = await client.call_tool("mission.asks", {"greeting": "Hi"})
    assert result.is_error is False and result.structured_content == {"said": "Hi, Ada"}


async def test_a_stateless_client_answers_a_steps_question_and_the_mission_runs_again(server: ToolServer) -> None:
    asked: list[str] = []

    async def on_elicit(context: Any, params: Any) -> types.ElicitResult:
        asked.append(params.message)
        return types.ElicitResult(action="accept", content={"name": "Grace"})

    async with Client(server.server, mode="2026-07-28", elicitation_callback=on_elicit) as client:
        result = await client.call_tool("mission.asks", {})
    assert asked == ["Who runs this?"]
    assert result.is_error is False and result.structured_content == {"said": "Hello, Grace"}


async def test_each_item_of_a_foreach_step_gets_its_own_answer_from_a_stateless_client(server: ToolServer) -> None:
    names = {"Who is the author?": "Ada", "Who is the reviewer?": "Grace"}
    asked: list[str] = []

    async def on_elicit(context: Any, params: Any) -> types.ElicitResult:
        asked.append(params.message)
        return types.ElicitResult(action="accept", content={"name": names[params.message]})

    async with Client(server.server, mode="2026-07-28", elicitation_callback=on_elicit) as client:
        result = await client.call_tool("mission.roles", {})
    assert sorted(asked) == sorted(names)  # each question once: the items ask in one round
    assert result.is_error is False and result.structured_content == {"names": ["Ada", "Grace"]}


async def test_a_step_asking_a_client_without_the_capability_fails_the_mission_clearly(server: ToolServer) -> None:
    async with Client(server.server, mode="legacy") as client:
        result = await client.call_tool("mission.asks", {})
    assert result.is_error is True
    assert "did not declare the elicitation capability" in result.content[0].text
