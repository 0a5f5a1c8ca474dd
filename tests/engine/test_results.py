"""Errors are data: a failed step is recorded and summarised, never raised; outputs are rendered."""

from __future__ import annotations

from pathlib import Path

import pytest

import toolnexus as tn
from tests.engine.support import Recorder
from toolnexus import ErrorKind, RunStatus, StepStatus

pytestmark = pytest.mark.anyio

FAILING = """
mission: failing
steps:
  - id: good
    uses: test.echo
    with: {value: fine}
  - id: bad
    uses: test.fail
    with: {message: the disk is on fire}
  - id: after
    uses: test.echo
    needs: bad
    with: {value: never}
"""


async def test_a_failing_step_is_data_not_an_exception(enx: tn.Nexus, events: Recorder) -> None:
    result = await enx.arun(FAILING)
    assert result.status == RunStatus.FAILED
    assert not result.ok
    bad = result.steps["bad"]
    assert bad.status == StepStatus.FAILED
    assert bad.error is not None and bad.error.kind == ErrorKind.TOOL_ERROR
    assert bad.error.message == "ValueError: the disk is on fire"
    assert result.steps["good"].status == StepStatus.SUCCEEDED
    assert result.steps["after"].status == StepStatus.SKIPPED
    summary = result.summary()
    assert "failed" in summary
    assert "step 'bad' (test.fail) failed: tool_error: ValueError: the disk is on fire" in summary
    assert "Traceback" not in summary
    assert [r.step_id for r in result.failed_steps()] == ["bad"]
    finished = events.of("run_finished")
    assert len(finished) == 1 and finished[0].result.status == RunStatus.FAILED


def test_the_sync_api_returns_failures_too(enx: tn.Nexus) -> None:
    result = enx.run(FAILING)
    assert result.status == RunStatus.FAILED
    assert result.steps["bad"].error is not None


async def test_continue_on_error_keeps_the_run_going_and_succeeded(enx: tn.Nexus, workspace: Path) -> None:
    mission = """
mission: tolerant
steps:
  - id: optional
    uses: test.fail
    continue_on_error: true
  - id: after
    uses: eng.mark
    needs: optional
    with: {marker: after.count, value: "${{ steps.optional.status }}"}
outputs:
  seen: ${{ steps.after.outputs }}
"""
    result = await enx.arun(mission)
    assert result.status == RunStatus.SUCCEEDED, result.summary()
    assert result.steps["optional"].status == StepStatus.FAILED
    assert result.steps["optional"].error is not None
    assert result.steps["after"].status == StepStatus.SUCCEEDED
    assert result.outputs == {"seen": "failed"}
    assert (workspace / "after.count").read_text() == "1"


async def test_outputs_are_rendered_from_step_outputs_and_inputs(enx: tn.Nexus) -> None:
    mission = """
mission: outputs
inputs:
  name: {type: string, default: ada}
steps:
  - id: hello
    uses: eng.greet
    with: {name: "${{ inputs.name }}"}
  - id: words
    uses: test.count
    with: {text: "${{ steps.hello.outputs.text }}"}
outputs:
  greeting: ${{ steps.hello.outputs.text }}
  words: ${{ steps.words.outputs.count }}
  who: "name=${{ inputs.name }}"
"""
    result = await enx.arun(mission, {"name": "grace"})
    assert result.ok, result.summary()
    assert result.outputs == {"greeting": "hello grace", "words": 2, "who": "name=grace"}
    assert result.inputs == {"name": "grace"}


async def test_an_output_that_cannot_be_rendered_fails_the_run(enx: tn.Nexus) -> None:
    mission = """
mission: badoutput
steps:
  - id: hello
    uses: eng.greet
    with: {name: ada}
outputs:
  missing: ${{ steps.hello.outputs.nothing_here }}
"""
    result = await enx.arun(mission)
    assert result.status == RunStatus.FAILED
    assert result.error is not None and result.error.kind == ErrorKind.EXPRESSION
    assert "outputs" in result.summary()


async def test_a_raising_event_sink_does_not_break_the_run(enx: tn.Nexus) -> None:
    def broken(event: object) -> None:
        raise RuntimeError("observer bug")

    enx.bus.subscribe(broken)
    result = await enx.arun(FAILING.replace("test.fail", "test.echo").replace("{message: the disk is on fire}",
                                                                             "{value: ok}"))
    assert result.ok, result.summary()


async def test_a_tool_gone_since_compiling_fails_its_step_not_the_caller(enx: tn.Nexus) -> None:
    plan = enx.compile("""
mission: vanishing
steps:
  - id: gone
    uses: eng.check
    with: {value: 1}
  - id: fine
    uses: test.echo
    with: {value: ok}
""")
    enx.registry.unregister("eng.check")
    result = await enx.arun(plan)
    assert result.status == RunStatus.FAILED
    assert result.steps["gone"].status == StepStatus.FAILED
    assert result.steps["gone"].error is not None
    assert result.steps["gone"].error.kind == ErrorKind.NOT_FOUND
    assert result.steps["fine"].status == StepStatus.SUCCEEDED
    stored = enx.store.get_run(result.run_id)  # type: ignore[union-attr]
    assert stored is not None and stored.status == RunStatus.FAILED
