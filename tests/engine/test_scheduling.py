"""Scheduling: a step starts when its own dependencies are done; read-only steps run in parallel up to
the plan's concurrency, side-effecting ones one at a time."""

from __future__ import annotations

from pathlib import Path

import pytest

import toolnexus as tn
from tests.engine import tools
from tests.engine.support import Recorder
from toolnexus.core.events import Event

pytestmark = pytest.mark.anyio

BRANCHES = """
mission: branches
steps:
  - id: slow1
    uses: eng.wait_file
    with: {path: release, timeout: 5}
  - id: slow2
    uses: test.echo
    with: {value: "${{ steps.slow1.outputs }}"}
  - id: fast1
    uses: test.echo
    with: {value: fast}
  - id: fast2
    uses: test.echo
    with: {value: "${{ steps.fast1.outputs }}-2"}
outputs:
  slow: "${{ steps.slow2.outputs }}"
  fast: "${{ steps.fast2.outputs }}"
"""


async def test_a_step_starts_as_soon_as_its_own_dependencies_are_done(
        enx: tn.Nexus, events: Recorder, workspace: Path) -> None:
    # slow1 finishes only once fast2 has finished: with a layer barrier (fast2 waiting for the whole
    # first layer, slow1 included) slow1 would wait in vain and fail after 5 s.
    def release(event: Event) -> None:
        if event.type == "step_finished" and event.record.step_id == "fast2":  # type: ignore[attr-defined]
            (workspace / "release").write_text("slow")

    events.hooks.append(release)
    result = await enx.arun(BRANCHES)
    assert result.ok, result.summary()
    assert result.outputs == {"slow": "slow", "fast": "fast-2"}
    fast2_started = events.index("step_started", step_id="fast2")
    assert fast2_started < events.finished("slow1")
    assert events.finished("fast2") < events.finished("slow1") < events.finished("slow2")


async def test_a_dependent_starts_only_after_its_dependencies_finish(enx: tn.Nexus, events: Recorder) -> None:
    mission = """
mission: diamond
steps:
  - id: top
    uses: eng.mark
    with: {marker: top.count, value: t}
  - id: left
    uses: eng.mark
    with: {marker: left.count, value: "${{ steps.top.outputs }}l"}
  - id: right
    uses: eng.mark
    with: {marker: right.count, value: "${{ steps.top.outputs }}r"}
  - id: bottom
    uses: eng.mark
    needs: [left, right]
    with: {marker: bottom.count}
"""
    result = await enx.arun(mission)
    assert result.ok, result.summary()
    for dependent, dependency in [("left", "top"), ("right", "top"), ("bottom", "left"), ("bottom", "right")]:
        assert events.finished(dependency) < events.index("step_started", step_id=dependent)


def probes(tool: str, group: str, targets: list[int], concurrency: int) -> str:
    steps = "\n".join(f"  - id: p{i}\n    uses: {tool}\n    with: {{group: {group}, target: {t}, timeout: 5}}"
                      for i, t in enumerate(targets))
    return f"mission: probes\nconcurrency: {concurrency}\nsteps:\n{steps}\n"


@pytest.mark.parametrize("concurrency", [2, 3])
async def test_read_only_steps_run_in_parallel_up_to_the_concurrency(enx: tn.Nexus, concurrency: int) -> None:
    group = f"ro-{concurrency}"
    # The first `concurrency` calls each wait until that many are inside at once; the rest just look.
    targets = [concurrency] * concurrency + [1] * concurrency
    result = await enx.arun(probes("eng.probe", group, targets, concurrency))
    assert result.ok, result.summary()
    assert [result.steps[f"p{i}"].output for i in range(concurrency)] == [concurrency] * concurrency
    assert tools.PROBES[group]["max"] == concurrency


async def test_side_effecting_steps_run_one_at_a_time(enx: tn.Nexus) -> None:
    result = await enx.arun(probes("eng.probe_serial", "se", [1, 1, 1, 1], 8))
    assert result.ok, result.summary()
    assert tools.PROBES["se"]["max"] == 1


async def test_a_side_effecting_step_waiting_its_turn_holds_no_concurrency_slot(
        enx: tn.Nexus, workspace: Path) -> None:
    # s1 (side-effecting) waits for r to write r.done; s2 queues behind s1. With concurrency 2, r
    # must get the second slot: a queued side-effecting step may not sit on it.
    mission = """
mission: slots
concurrency: 2
steps:
  - id: s1
    uses: eng.wait_file_serial
    with: {path: r.done, timeout: 3}
  - id: s2
    uses: eng.probe_serial
    with: {group: slots}
  - id: r
    uses: eng.mark
    with: {marker: r.done}
"""
    result = await enx.arun(mission)
    assert result.ok, result.summary()
    assert (workspace / "r.done").read_text() == "1"
