"""`foreach:` fans a step out over a list: one call per item, outputs in item order."""

from __future__ import annotations

import pytest

import toolnexus as tn
from tests.engine.support import Recorder
from toolnexus import ErrorKind, RunStatus, StepStatus

pytestmark = pytest.mark.anyio

FANOUT = """
mission: fanout
inputs:
  names: {type: array, default: [ada, bob, cy]}
steps:
  - id: each
    uses: test.echo
    foreach: ${{ inputs.names }}
    with: {value: "${{ index }}:${{ item }}"}
  - id: joined
    uses: test.echo
    with: {value: "${{ steps.each.outputs | join(',') }}"}
outputs:
  all: ${{ steps.each.outputs }}
  joined: ${{ steps.joined.outputs }}
"""


async def test_foreach_calls_once_per_item_and_keeps_item_order(enx: tn.Nexus, events: Recorder) -> None:
    result = await enx.arun(FANOUT)
    assert result.ok, result.summary()
    record = result.steps["each"]
    assert record.items == 3
    assert record.output == ["0:ada", "1:bob", "2:cy"]
    assert result.outputs == {"all": ["0:ada", "1:bob", "2:cy"], "joined": "0:ada,1:bob,2:cy"}
    assert sorted(e.item for e in events.of("step_started", step_id="each")) == [0, 1, 2]


async def test_foreach_over_an_empty_list_succeeds_with_no_calls(enx: tn.Nexus, events: Recorder) -> None:
    result = await enx.arun(FANOUT, {"names": []})
    assert result.ok, result.summary()
    assert result.steps["each"].output == []
    assert result.steps["each"].items == 0
    assert events.of("step_started", step_id="each") == []


async def test_a_failing_item_fails_the_step_and_names_the_item(enx: tn.Nexus) -> None:
    mission = """
mission: checks
steps:
  - id: each
    uses: eng.check
    foreach: [1, -2, 3, -4]
    with: {value: "${{ item }}"}
  - id: after
    uses: test.echo
    with: {value: "${{ steps.each.outputs | string }}"}
"""
    result = await enx.arun(mission)
    assert result.status == RunStatus.FAILED
    record = result.steps["each"]
    assert record.status == StepStatus.FAILED
    assert record.output == [1, None, 3, None]  # the good items still ran
    assert record.error is not None and record.error.kind == ErrorKind.TOOL_ERROR
    assert record.error.message.startswith("item 1: negative value -2")
    assert "1 more" in record.error.message
    assert record.error.details["failed_items"] == [1, 3]
    assert result.steps["after"].status == StepStatus.SKIPPED
    assert "step 'each'" in result.summary()


async def test_foreach_over_a_non_list_is_an_expression_error(enx: tn.Nexus) -> None:
    mission = """
mission: notalist
inputs:
  names: {type: string, default: ada}
steps:
  - id: each
    uses: test.echo
    foreach: ${{ inputs.names }}
    with: {value: "${{ item }}"}
"""
    result = await enx.arun(mission)
    assert result.status == RunStatus.FAILED
    assert result.steps["each"].error is not None
    assert result.steps["each"].error.kind == ErrorKind.EXPRESSION


async def test_an_if_reading_the_item_is_decided_per_item(enx: tn.Nexus, events: Recorder) -> None:
    mission = """
mission: filtered
inputs:
  values: {type: array, default: [1, 2, 3, 4]}
steps:
  - id: each
    uses: eng.check
    foreach: ${{ inputs.values }}
    if: ${{ item % 2 == 1 }}
    with: {value: "${{ item }}"}
"""
    result = await enx.arun(mission)
    assert result.ok, result.summary()
    assert result.steps["each"].status == StepStatus.SUCCEEDED
    assert result.steps["each"].output == [1, None, 3, None]
    assert sorted(e.item for e in events.of("step_started", step_id="each")) == [0, 2]
    none_odd = await enx.arun(mission, {"values": [2, 4]})
    assert none_odd.ok
    assert none_odd.steps["each"].status == StepStatus.SKIPPED


async def test_more_items_than_the_concurrency_all_run_at_most_that_many_at_once(enx: tn.Nexus) -> None:
    from tests.engine import tools

    mission = """
mission: wide
concurrency: 3
inputs:
  values: {type: array, default: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]}
steps:
  - id: each
    uses: eng.probe
    foreach: ${{ inputs.values }}
    with: {group: wide-foreach, target: 3}
"""
    result = await enx.arun(mission)
    assert result.ok, result.summary()
    record = result.steps["each"]
    assert record.items == 10
    assert len(record.output) == 10
    assert tools.PROBES["wide-foreach"]["max"] == 3  # the run's concurrency, reached and not passed


async def test_the_step_names_its_first_failed_item_whichever_failed_first(enx: tn.Nexus) -> None:
    # Item 0 waits until item 3 has failed: the error still names item 0, the first in item order.
    marker = "first-failure"
    mission = f"""
mission: order
concurrency: 4
steps:
  - id: each
    uses: eng.wait_file
    foreach: [{marker}-never, a, b, {marker}-late]
    with: {{path: "${{{{ item }}}}", timeout: "${{{{ 0.5 if index == 0 else 0.01 }}}}"}}
"""
    result = await enx.arun(mission)
    error = result.steps["each"].error
    assert error is not None
    assert error.message.startswith("item 0: ")
    assert error.message.endswith("(and 3 more)")
    assert error.details["failed_items"] == [0, 1, 2, 3]


async def test_items_that_never_wait_still_let_the_event_loop_run_between_them(enx: tn.Nexus) -> None:
    # Instant calls never yield: without a trip round the loop per item, one worker would run them all
    # while timers (the audit's deferred writes), other steps and a cancellation waited.
    import anyio

    mission = """
mission: instant
concurrency: 2
inputs:
  values: {type: array}
steps:
  - id: each
    uses: eng.noop
    foreach: ${{ inputs.values }}
"""
    ticks = 0
    done = anyio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            await anyio.sleep(0)

    async with anyio.create_task_group() as group:
        group.start_soon(ticker)
        result = await enx.arun(mission, {"values": list(range(200))})
        done.set()
    assert result.ok, result.summary()
    assert ticks >= 100  # the loop went round at least once per two items (two workers)
