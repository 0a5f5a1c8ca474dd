"""`if:` skips a step and, through it, its dependents; always() and failure() run on failures."""

from __future__ import annotations

from pathlib import Path

import pytest

import toolnexus as tn
from toolnexus import RunStatus, StepStatus

pytestmark = pytest.mark.anyio

GUARDED = """
mission: guarded
inputs:
  go: {type: boolean, default: false}
steps:
  - id: maybe
    uses: eng.mark
    if: ${{ inputs.go }}
    with: {marker: maybe.count, value: ran}
  - id: after
    uses: eng.mark
    with: {marker: after.count, value: "${{ steps.maybe.outputs }}"}
  - id: independent
    uses: eng.mark
    with: {marker: independent.count}
"""


async def test_a_false_if_skips_the_step_and_its_dependents(enx: tn.Nexus, workspace: Path) -> None:
    result = await enx.arun(GUARDED, {"go": False})
    assert result.status == RunStatus.SUCCEEDED, result.summary()
    assert result.steps["maybe"].status == StepStatus.SKIPPED
    assert result.steps["maybe"].skip_reason == "`if` was false"
    assert result.steps["after"].status == StepStatus.SKIPPED
    assert "maybe" in (result.steps["after"].skip_reason or "")
    assert result.steps["independent"].status == StepStatus.SUCCEEDED
    assert not (workspace / "maybe.count").exists()
    assert not (workspace / "after.count").exists()


async def test_a_true_if_runs_the_step(enx: tn.Nexus, workspace: Path) -> None:
    result = await enx.arun(GUARDED, {"go": True})
    assert result.ok, result.summary()
    assert result.steps["maybe"].status == StepStatus.SUCCEEDED
    assert result.steps["after"].output == "ran"
    assert (workspace / "after.count").read_text() == "1"


async def test_an_if_reading_a_step_output(enx: tn.Nexus) -> None:
    mission = """
mission: branch
steps:
  - id: size
    uses: test.count
    with: {text: "one two three"}
  - id: big
    uses: test.echo
    if: ${{ steps.size.outputs.count > 2 }}
    with: {value: big}
  - id: small
    uses: test.echo
    if: ${{ steps.size.outputs.count <= 2 }}
    with: {value: small}
"""
    result = await enx.arun(mission)
    assert result.ok, result.summary()
    assert result.steps["big"].status == StepStatus.SUCCEEDED
    assert result.steps["small"].status == StepStatus.SKIPPED


ON_FAILURE = """
mission: cleanup
inputs:
  fail: {type: boolean, default: true}
steps:
  - id: work
    uses: eng.check
    with: {value: "${{ -1 if inputs.fail else 1 }}"}
  - id: next
    uses: eng.mark
    with: {marker: next.count, value: "${{ steps.work.outputs | string }}"}
  - id: cleanup
    uses: eng.mark
    needs: work
    if: ${{ always() }}
    with: {marker: cleanup.count}
  - id: report
    uses: eng.mark
    needs: work
    if: ${{ failure() }}
    with: {marker: report.count, value: "${{ steps.work.error.message }}"}
"""


async def test_always_and_failure_run_after_a_failed_dependency(enx: tn.Nexus, workspace: Path) -> None:
    result = await enx.arun(ON_FAILURE, {"fail": True})
    assert result.status == RunStatus.FAILED
    assert result.steps["work"].status == StepStatus.FAILED
    assert result.steps["next"].status == StepStatus.SKIPPED
    assert "work" in (result.steps["next"].skip_reason or "")
    assert not (workspace / "next.count").exists()
    assert result.steps["cleanup"].status == StepStatus.SUCCEEDED
    assert result.steps["report"].status == StepStatus.SUCCEEDED
    assert result.steps["report"].output == "negative value -1"


async def test_failure_is_skipped_when_the_dependency_succeeded(enx: tn.Nexus, workspace: Path) -> None:
    result = await enx.arun(ON_FAILURE, {"fail": False})
    assert result.ok, result.summary()
    assert result.steps["next"].status == StepStatus.SUCCEEDED
    assert result.steps["cleanup"].status == StepStatus.SUCCEEDED
    assert result.steps["report"].status == StepStatus.SKIPPED
    assert not (workspace / "report.count").exists()
