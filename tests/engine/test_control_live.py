"""A live RunControl: the engine keeps which of its run's steps are running (attempt, foreach items started)
and shows the steps recorded so far, readable from any thread, without an event per step; a plain control
keeps nothing."""

from __future__ import annotations

import pytest

import toolnexus as tn
from toolnexus import RunControl, RunStatus
from toolnexus.core.events import StepStarted
from toolnexus.registry import spec_of

pytestmark = pytest.mark.anyio


def looking(nexus: tn.Nexus, control: RunControl) -> list[dict[str, tuple[int, int]]]:
    """Register ``test.look``: a step that notes what ``control`` says is running while it runs."""
    seen: list[dict[str, tuple[int, int]]] = []

    @tn.tool(name="test.look", register=False)
    def look(label: str) -> str:
        seen.append(control.running())
        return label

    nexus.registry.register(spec_of(look))
    return seen


async def test_a_live_control_shows_each_running_step_and_forgets_it_once_recorded(test_nexus: tn.Nexus) -> None:
    control = RunControl(live=True)
    seen = looking(test_nexus, control)
    result = await test_nexus.arun("""
mission: looked-at
concurrency: 1  # one call at a time: each look sees one more item started
steps:
  - {id: a, uses: test.look, with: {label: a}}
  - {id: b, uses: test.look, with: {label: b}, needs: a}
  - id: c
    uses: test.look
    needs: b
    foreach: [x, y, z]
    with: {label: "${{ item }}"}
""", control=control)
    assert result.status == RunStatus.SUCCEEDED
    assert seen[0] == {"a": (1, 0)}  # a alone: b waits for it
    assert seen[1] == {"b": (1, 0)}  # a recorded, so gone
    assert [look["c"] for look in seen[2:]] == [(1, 1), (1, 2), (1, 3)]  # one item more started each time
    assert control.running() == {}  # the run is over: nothing is running
    assert control.recorded() == []  # (and its result has the records)


async def test_a_live_control_shows_the_steps_recorded_so_far_in_their_order(test_nexus: tn.Nexus) -> None:
    control = RunControl(live=True)
    recorded: list[list[str]] = []

    @tn.tool(name="test.recorded", register=False)
    def look(label: str) -> str:
        recorded.append([record.step_id for record in control.recorded()])
        recorded.append([record.step_id for record in control.recorded(1)])
        return label

    test_nexus.registry.register(spec_of(look))
    result = await test_nexus.arun("""
mission: recorded
steps:
  - {id: first, uses: test.echo, with: {value: one}}
  - {id: second, uses: test.echo, with: {value: two}, needs: first}
  - {id: third, uses: test.recorded, with: {label: three}, needs: second}
""", control=control)
    assert result.status == RunStatus.SUCCEEDED
    assert recorded == [["first", "second"], ["second"]]


async def test_a_live_control_takes_no_step_started_event_and_a_plain_one_keeps_nothing(
        test_nexus: tn.Nexus) -> None:
    assert not test_nexus.bus.wants(StepStarted)  # nobody asked for them: the engine builds none
    control = RunControl()
    seen = looking(test_nexus, control)
    result = await test_nexus.arun("mission: plain\nsteps:\n  - {id: a, uses: test.look, with: {label: a}}\n",
                                   control=control)
    assert result.status == RunStatus.SUCCEEDED
    assert seen == [{}]
