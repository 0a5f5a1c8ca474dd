"""A run's result, once the run is over: every step's record, the run's status and error, its outputs — scrubbed."""

from __future__ import annotations

from typing import TYPE_CHECKING

from toolnexus.core.errors import ErrorKind, ToolError
from toolnexus.core.run import RunResult, RunStatus, StepRecord, StepStatus
from toolnexus.core.secrets import scrub, scrub_error
from toolnexus.mission.expressions import ExpressionError

if TYPE_CHECKING:
    from toolnexus.engine.run import RunState


def conclude(run: RunState, result: RunResult, *, timed_out: bool, cancelled: bool, reason: str | None) -> None:
    """Fill in ``result`` from the run's records: whether it ran out of time, was cancelled (for
    ``reason``), or ran to its end."""
    _record_steps_not_run(run, timed_out=timed_out, cancelled=cancelled)
    result.steps = {s.id: run.records[s.id] for s in run.plan.steps}
    result.cost = sum(r.cost for r in run.records.values() if not r.resumed)
    status, error = _status(run, timed_out=timed_out, cancelled=cancelled, reason=reason)
    result.status = status
    if status != RunStatus.SUCCEEDED:
        result.error = error
    if status != RunStatus.CANCELLED:
        _render_outputs(run, result)
    if run.engine.invoker.scrub_secrets:
        # Outputs may quote the run's inputs as they are (`${{ inputs.api_token }}`); errors their values.
        result.outputs = scrub(result.outputs) if result.outputs else result.outputs
        result.error = scrub_error(result.error) if result.error is not None else None


def _record_steps_not_run(run: RunState, *, timed_out: bool, cancelled: bool) -> None:
    """A record for each step that never finished: cancelled with the run, or skipped for want of a dependency."""
    why = ("the run's max_duration was reached" if timed_out else
           "the run was cancelled" if cancelled else "a dependency did not complete")
    status = StepStatus.CANCELLED if (timed_out or cancelled) else StepStatus.SKIPPED
    for step in run.plan.steps:
        if step.id not in run.records:
            run.records[step.id] = StepRecord(step_id=step.id, tool=step.tool, version=step.version,
                                              status=status, skip_reason=why)


def _status(run: RunState, *, timed_out: bool, cancelled: bool,
            reason: str | None) -> tuple[RunStatus, ToolError | None]:
    """The run's status and error: failed if it ran out of time or a step failed (that it could not
    continue after), cancelled, or succeeded."""
    if timed_out:
        budget = run.plan.budget
        limit = budget.max_duration if budget and budget.max_duration is not None else 0
        return RunStatus.FAILED, ToolError(kind=ErrorKind.BUDGET_EXCEEDED,
                                           message=f"the run exceeded its max_duration of {limit:g}s")
    if cancelled:
        return RunStatus.CANCELLED, ToolError(kind=ErrorKind.CANCELLED, message=reason or "the run was cancelled")
    if any(r.status == StepStatus.FAILED and not run.plan.step(r.step_id).continue_on_error
           for r in run.records.values()):
        return RunStatus.FAILED, run.budget_error
    return RunStatus.SUCCEEDED, None


def _render_outputs(run: RunState, result: RunResult) -> None:
    """The mission's outputs; a run that succeeded fails if they cannot be rendered."""
    try:
        result.outputs = run.plan.output_template.render({"inputs": run.inputs, "steps": run.views})
    except ExpressionError as exc:
        if result.status == RunStatus.SUCCEEDED:
            result.status = RunStatus.FAILED
            result.error = ToolError(kind=ErrorKind.EXPRESSION, message=f"outputs: {exc}")
