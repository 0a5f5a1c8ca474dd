"""Scheduling: a step starts when its own dependencies are done; read-only steps run in parallel up to
the plan's concurrency, side-effecting ones one at a time."""

from __future__ import annotations

from pathlib import Path

import pytest

import toolnexus as tn
from tests.engine import tools
from tests.engine.support import Recorder
from toolnexus.core.events import Event
from toolnexus.store import StateStore

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


def shaped(shape: str, n: int) -> list[tuple[str, list[str]]]:
    """Steps (id, needs) of a DAG: a chain, a fan-out, layers of 6 (two parents each) or chained diamonds."""
    if shape == "chain":
        return [(f"s{i}", [f"s{i - 1}"] if i else []) for i in range(n)]
    if shape == "fanout":
        return [("s0", []), *((f"s{i}", ["s0"]) for i in range(1, n))]
    if shape == "layers":
        width = 6
        return [(f"l{i // width}_{i % width}", [] if i < width else
                 sorted({f"l{i // width - 1}_{i % width}", f"l{i // width - 1}_{(i + 1) % width}"}))
                for i in range(n)]
    steps: list[tuple[str, list[str]]] = []
    for d in range(n // 4):
        top = f"d{d}_top"
        steps += [(top, [f"d{d - 1}_bottom"] if d else []), (f"d{d}_l", [top]), (f"d{d}_r", [top]),
                  (f"d{d}_bottom", [f"d{d}_l", f"d{d}_r"])]
    return steps


@pytest.mark.parametrize("shape", ["chain", "fanout", "layers", "diamonds"])
async def test_every_shape_runs_each_step_once_after_its_dependencies(
        enx: tn.Nexus, events: Recorder, shape: str) -> None:
    dag = shaped(shape, 60)
    lines = ["mission: shaped", "concurrency: 4", "steps:"]
    for step_id, needs in dag:
        lines += [f"  - id: {step_id}", "    uses: eng.noop"] + ([f"    needs: [{', '.join(needs)}]"] if needs else [])
    result = await enx.arun("\n".join(lines) + "\n")
    assert result.ok, result.summary()
    assert len(events.of("step_started")) == len(dag) == len(events.of("step_finished"))
    for step_id, needs in dag:
        started = events.index("step_started", step_id=step_id)
        assert all(events.finished(dep) < started for dep in needs), step_id


async def test_side_effecting_steps_queued_beyond_the_concurrency_do_not_hold_up_read_only_ones(
        enx: tn.Nexus, workspace: Path) -> None:
    # s1 waits for r; s2..s4 queue behind s1 for their turn. More steps wait for the side-effect
    # turn than the concurrency (2) allows to run, yet r must still run.
    serial = "\n".join(f"  - id: s{i}\n    uses: eng.probe_serial\n    with: {{group: queued}}" for i in range(2, 5))
    mission = f"""
mission: queued
concurrency: 2
steps:
  - id: s1
    uses: eng.wait_file_serial
    with: {{path: r.done, timeout: 5}}
{serial}
  - id: r
    uses: eng.mark
    with: {{marker: r.done}}
"""
    result = await enx.arun(mission)
    assert result.ok, result.summary()
    assert (workspace / "r.done").read_text() == "1"


async def test_a_step_is_recorded_before_anyone_hears_of_it_or_a_dependent_starts(
        enx: tn.Nexus, events: Recorder) -> None:
    assert enx.store is not None
    other = StateStore(enx.store.path)  # another connection: it sees only what is committed
    seen: list[tuple[str, str, bool]] = []

    def look(event: Event) -> None:
        if event.type in ("step_started", "step_finished") and event.run_id is not None:
            committed = other.step_status(event.run_id)
            if event.type == "step_finished":
                step_id = event.record.step_id  # type: ignore[attr-defined]
                seen.append(("finished", step_id, step_id in committed))
            else:
                step_id = event.step_id  # type: ignore[attr-defined]
                needs = dict(dag)[step_id]
                seen.append(("started", step_id, all(dep in committed for dep in needs)))

    dag = shaped("layers", 24)
    lines = ["mission: recorded", "concurrency: 6", "steps:"]
    for step_id, needs in dag:
        lines += [f"  - id: {step_id}", "    uses: eng.noop"] + ([f"    needs: [{', '.join(needs)}]"] if needs else [])
    events.hooks.append(look)
    try:
        result = await enx.arun("\n".join(lines) + "\n")
    finally:
        other.close()
    assert result.ok, result.summary()
    assert len(seen) == 2 * len(dag)
    assert [s for s in seen if not s[2]] == []
