"""Cancellation is a contract: a cancelled run stops its steps, kills their processes, leaves no
orphan and is recorded as cancelled — whether cancelled through RunControl or by cancelling the task."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import anyio
import pytest

import toolnexus as tn
from tests.engine.support import Recorder, assert_gone, await_until, descendants, read_pids
from toolnexus import ErrorKind, RunControl, RunStatus, StepStatus

pytestmark = pytest.mark.anyio


def spawning(pidfile: Path) -> str:
    return f"""
mission: spawning
steps:
  - id: first
    uses: test.echo
    with: {{value: go}}
  - id: spawn
    uses: test.spawn_and_wait
    with: {{pidfile: "{pidfile}", seconds: 60}}
    needs: first
  - id: nap
    uses: test.sleep
    with: {{seconds: 60}}
  - id: after
    uses: test.echo
    with: {{value: "${{{{ steps.spawn.outputs | string }}}}"}}
"""


def check_cancelled_in_store(nexus: tn.Nexus, run_id: str) -> None:
    assert nexus.store is not None
    stored = nexus.store.get_run(run_id)
    assert stored is not None
    assert stored.status == RunStatus.CANCELLED
    assert stored.error is not None and stored.error.kind == ErrorKind.CANCELLED
    assert stored.steps["first"].status == StepStatus.SUCCEEDED
    assert stored.steps["spawn"].status == StepStatus.CANCELLED
    assert stored.steps["nap"].status == StepStatus.CANCELLED


async def test_run_control_cancel_stops_the_run_and_leaves_no_orphan(
        enx: tn.Nexus, events: Recorder, workspace: Path) -> None:
    pidfile = workspace / "spawn.pids"
    control = RunControl()
    box: dict[str, tn.RunResult] = {}

    async def run() -> None:
        box["result"] = await enx.arun(spawning(pidfile), control=control)

    started = time.monotonic()
    before = descendants()
    async with anyio.create_task_group() as group:
        group.start_soon(run)
        await await_until(lambda: read_pids(pidfile), within=20, what="the tool to write its pids")
        pids = sorted(descendants() - before)  # the worker (and its sandbox) and the child it started
        control.cancel("enough")
    assert time.monotonic() - started < 30
    assert len(pids) >= 2
    result = box["result"]
    assert result.status == RunStatus.CANCELLED
    assert result.error is not None and result.error.message == "enough"
    assert result.steps["spawn"].status == StepStatus.CANCELLED
    assert result.steps["nap"].status == StepStatus.CANCELLED
    assert result.steps["after"].status == StepStatus.CANCELLED
    assert result.steps["after"].attempts == 0
    check_cancelled_in_store(enx, result.run_id)
    assert_gone(pids)
    assert events.of("step_started", step_id="after") == []


async def test_cancelling_the_awaiting_task_cancels_the_run_and_leaves_no_orphan(
        enx: tn.Nexus, events: Recorder, workspace: Path) -> None:
    pidfile = workspace / "spawn.pids"
    before = descendants()
    seen: list[int] = []
    with anyio.move_on_after(60) as scope:
        async with anyio.create_task_group() as group:

            async def cancel_when_running() -> None:
                await await_until(lambda: read_pids(pidfile), within=20, what="the tool to write its pids")
                seen.extend(sorted(descendants() - before))
                scope.cancel()

            group.start_soon(cancel_when_running)
            await enx.arun(spawning(pidfile))
            pytest.fail("the run finished although it was cancelled")
    assert scope.cancelled_caught
    pids = seen
    assert len(pids) >= 2
    run_id = events.of("run_started")[0].run_id
    assert run_id is not None
    finished = events.of("run_finished")
    assert len(finished) == 1 and finished[0].result.status == RunStatus.CANCELLED  # type: ignore[attr-defined]
    check_cancelled_in_store(enx, run_id)
    assert_gone(pids)


async def test_cancel_before_the_run_starts_runs_nothing(enx: tn.Nexus, events: Recorder, workspace: Path) -> None:
    control = RunControl()
    control.cancel()
    result = await enx.arun(spawning(workspace / "never.pids"), control=control)
    assert result.status == RunStatus.CANCELLED
    assert events.of("call_started") == []
    assert not (workspace / "never.pids").exists()


async def test_cancel_from_another_thread(enx: tn.Nexus, workspace: Path) -> None:
    control = RunControl()
    mission = """
mission: napping
steps:
  - id: nap
    uses: test.sleep
    with: {seconds: 60}
"""
    box: dict[str, tn.RunResult] = {}
    running = anyio.Event()

    def on_event(event: object) -> None:
        if getattr(event, "type", None) == "call_started":
            running.set()

    enx.bus.subscribe(on_event)

    async def run() -> None:
        box["result"] = await enx.arun(mission, control=control)

    async with anyio.create_task_group() as group:
        group.start_soon(run)
        with anyio.fail_after(10):
            await running.wait()
        await anyio.to_thread.run_sync(control.cancel, "from a thread")
    assert box["result"].status == RunStatus.CANCELLED
    assert box["result"].error is not None and box["result"].error.message == "from a thread"
    assert box["result"].steps["nap"].status == StepStatus.CANCELLED


def test_cancelling_a_finished_run_from_another_thread_is_harmless(enx: tn.Nexus) -> None:
    # A notebook's Cancel button pressed after the run ended: its event loop is gone by then.
    control = RunControl()
    box: dict[str, tn.RunResult] = {}
    mission = "mission: quick\nsteps:\n  - id: a\n    uses: test.echo\n    with: {value: hi}\n"
    worker = threading.Thread(target=lambda: box.update(result=enx.run(mission, control=control)))
    worker.start()
    worker.join(timeout=30)
    assert box["result"].ok
    control.cancel("too late")
    assert box["result"].status == RunStatus.SUCCEEDED
