"""Resuming a failed or cancelled run keeps its completed steps (their tools are not called again)."""

from __future__ import annotations

from pathlib import Path

import pytest

import toolnexus as tn
from toolnexus import DiagnosticError, RunControl, RunStatus, StepStatus

pytestmark = pytest.mark.anyio

PIPELINE = """
mission: pipeline
steps:
  - id: fetch
    uses: eng.mark
    with: {marker: fetch.count, value: data}
  - id: side
    uses: eng.mark
    with: {marker: side.count, value: side}
  - id: shaky
    uses: test.flaky
    with: {marker: shaky.count, fail_times: 1}
    needs: fetch
  - id: publish
    uses: eng.mark
    with: {marker: publish.count, value: "${{ steps.fetch.outputs }}-${{ steps.shaky.outputs }}"}
  - id: final
    uses: eng.mark
    with: {marker: final.count, value: "${{ steps.publish.outputs }}!"}
outputs:
  published: ${{ steps.final.outputs }}
"""


def count(workspace: Path, marker: str) -> int:
    path = workspace / marker
    return int(path.read_text()) if path.exists() else 0


async def test_a_failed_run_resumes_without_rerunning_completed_steps(enx: tn.Nexus, workspace: Path) -> None:
    failed = await enx.arun(PIPELINE)
    assert failed.status == RunStatus.FAILED
    assert failed.steps["shaky"].status == StepStatus.FAILED
    assert failed.steps["publish"].status == StepStatus.SKIPPED
    assert failed.steps["final"].status == StepStatus.SKIPPED

    resumed = await enx.arun(None, resume=failed.run_id)  # type: ignore[arg-type]
    assert resumed.status == RunStatus.SUCCEEDED, resumed.summary()
    assert resumed.run_id != failed.run_id
    assert resumed.resumed_from == failed.run_id
    assert resumed.outputs == {"published": "data-2!"}
    # Completed steps were kept, not run again; the failed one and the one it blocked ran.
    assert count(workspace, "fetch.count") == 1
    assert count(workspace, "side.count") == 1
    assert count(workspace, "shaky.count") == 2
    assert count(workspace, "publish.count") == 1
    assert count(workspace, "final.count") == 1  # skipped (behind the failure) before, so it runs now
    assert resumed.steps["fetch"].resumed and resumed.steps["side"].resumed
    for step_id in ("shaky", "publish", "final"):
        assert not resumed.steps[step_id].resumed
        assert resumed.steps[step_id].status == StepStatus.SUCCEEDED


async def test_the_resumed_run_is_stored_whole_so_it_can_be_resumed_again(enx: tn.Nexus, workspace: Path) -> None:
    mission = PIPELINE.replace("fail_times: 1", "fail_times: 2")
    first = await enx.arun(mission)
    second = await enx.arun(None, resume=first.run_id)  # type: ignore[arg-type]
    assert second.status == RunStatus.FAILED
    assert enx.store is not None
    stored = enx.store.get_run(second.run_id)
    assert stored is not None
    assert set(stored.steps) == {"fetch", "side", "shaky", "publish", "final"}
    assert stored.steps["fetch"].resumed and stored.steps["fetch"].status == StepStatus.SUCCEEDED
    third = await enx.arun(None, resume=second.run_id)  # type: ignore[arg-type]
    assert third.ok, third.summary()
    assert count(workspace, "fetch.count") == 1
    assert count(workspace, "shaky.count") == 3
    assert count(workspace, "publish.count") == 1


async def test_a_chain_of_kept_steps_is_not_run_again(enx: tn.Nexus, workspace: Path) -> None:
    mission = """
mission: kept-chain
steps:
  - id: a
    uses: eng.mark
    with: {marker: a.count, value: a}
  - id: b
    uses: eng.mark
    with: {marker: b.count, value: "${{ steps.a.outputs }}b"}
  - id: c
    uses: eng.mark
    with: {marker: c.count, value: "${{ steps.b.outputs }}c"}
  - id: shaky
    uses: test.flaky
    with: {marker: shaky.count, fail_times: 1}
    needs: c
"""
    failed = await enx.arun(mission)
    assert failed.status == RunStatus.FAILED
    resumed = await enx.arun(None, resume=failed.run_id)  # type: ignore[arg-type]
    assert resumed.ok, resumed.summary()
    # b and c depend only on kept steps: releasing them must not run them again.
    assert [count(workspace, f"{s}.count") for s in ("a", "b", "c", "shaky")] == [1, 1, 1, 2]
    assert all(resumed.steps[s].resumed for s in ("a", "b", "c"))
    assert resumed.steps["c"].output == "abc"


async def test_a_cancelled_run_resumes(enx: tn.Nexus, workspace: Path) -> None:
    mission = """
mission: gated
steps:
  - id: first
    uses: eng.mark
    with: {marker: first.count}
  - id: wait
    uses: eng.wait_file
    with: {path: go}
    needs: first
"""
    control = RunControl()

    def cancel_once_first_is_done(event: object) -> None:
        if getattr(event, "type", None) == "call_started" and event.call.step_id == "wait":  # type: ignore[attr-defined]
            control.cancel()

    unsubscribe = enx.bus.subscribe(cancel_once_first_is_done)
    cancelled = await enx.arun(mission, control=control)
    unsubscribe()
    assert cancelled.status == RunStatus.CANCELLED
    (workspace / "go").write_text("now")
    resumed = await enx.arun(None, resume=cancelled.run_id[:-3])  # type: ignore[arg-type]  # a prefix will do
    assert resumed.ok, resumed.summary()
    assert resumed.steps["wait"].output == "now"
    assert count(workspace, "first.count") == 1


async def test_a_succeeded_run_cannot_be_resumed(enx: tn.Nexus) -> None:
    done = await enx.arun(PIPELINE.replace("fail_times: 1", "fail_times: 0"))
    assert done.ok
    with pytest.raises(DiagnosticError, match="nothing to resume"):
        await enx.arun(None, resume=done.run_id)  # type: ignore[arg-type]


async def test_an_unknown_run_cannot_be_resumed(enx: tn.Nexus) -> None:
    with pytest.raises(DiagnosticError, match="no run"):
        await enx.arun(None, resume="run-does-not-exist")  # type: ignore[arg-type]
