"""One step's life: whether it runs, the tool it calls, its call (or its items' calls), and its record.

Kept to two coroutines a step (this one and the call's): a step's cost is mostly the engine's own.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

import anyio

from toolnexus.core.errors import ErrorKind, ToolError
from toolnexus.core.events import StepFinished
from toolnexus.core.run import StepRecord, StepStatus, utcnow
from toolnexus.core.secrets import scrub_error
from toolnexus.core.spec import ToolSpec
from toolnexus.engine.calls import call
from toolnexus.engine.foreach import decided_per_item, run_items
from toolnexus.mission.expressions import ExpressionError, truthy
from toolnexus.mission.plan import PlanStep

if TYPE_CHECKING:
    from toolnexus.engine.run import RunState

log = logging.getLogger("toolnexus.engine")


async def run_step(run: RunState, step: PlanStep) -> StepRecord:
    """Run one step; its record, for :meth:`RunState.settle`."""
    record = StepRecord(step_id=step.id, tool=step.tool, version=step.version, started_at=utcnow())
    started = time.perf_counter()
    try:
        spec = _prepare(run, step, record)
        if spec is None:
            pass  # skipped, or failed before any call: the record says why
        elif step.foreach_template is None:
            await call(run, step, spec, record, run.context(step), None)
        else:
            await run_items(run, step, spec, record)
    except anyio.get_cancelled_exc_class():
        _record_cancelled(run, record, started)
        raise
    except Exception as exc:  # a bug of ours must fail this step, not escape from the run
        log.exception("step %s of run %s failed inside the engine", step.id, run.run_id)
        record.status = StepStatus.FAILED
        record.error = ToolError(kind=ErrorKind.RUNTIME_ERROR,
                                 message=f"internal error running the step: {type(exc).__name__}: {exc}")
    _stamp(record, started)
    if record.error is not None and run.engine.invoker.scrub_secrets:
        record.error = scrub_error(record.error)  # the engine's own (an expression's message quotes values)
    return record


def _prepare(run: RunState, step: PlanStep, record: StepRecord) -> ToolSpec | None:
    """Decide whether the step runs and find its tool: the tool's spec, or None (the record says why not)."""
    return _tool(run, step, record) if _runs(run, step, record) else None


def _runs(run: RunState, step: PlanStep, record: StepRecord) -> bool:
    """Whether the step runs, as its dependencies and its `if` decide; if not, its record says why."""
    blocked = run.blocked_by(step)
    if blocked and not step.wants_status:
        record.status, record.skip_reason = StepStatus.SKIPPED, blocked
        return False
    try:
        go = _step_if(run, step)
    except ExpressionError as exc:
        record.status = StepStatus.FAILED
        record.error = ToolError(kind=ErrorKind.EXPRESSION, message=f"if: {exc}")
        return False
    if go is False:
        record.status, record.skip_reason = StepStatus.SKIPPED, "`if` was false"
        return False
    return True


def _step_if(run: RunState, step: PlanStep) -> bool | None:
    """The step's `if`, decided for the whole step; None if it has none, or it is decided per item."""
    condition = step.condition
    if condition is None:
        return step.if_ if isinstance(step.if_, bool) else None
    if decided_per_item(step):  # in a foreach step, an `if` that reads `item` or `index`
        return None
    return truthy(condition.evaluate(run.context(step)))


def _tool(run: RunState, step: PlanStep, record: StepRecord) -> ToolSpec | None:
    """The step's tool, resolved once per run; None if it is gone (the record says so)."""
    try:
        spec = run.specs.get((step.tool, step.version))
        if spec is None:
            spec = run.specs[step.tool, step.version] = run.engine.lookup(step.tool, step.version)
    except (LookupError, ValueError) as exc:  # unregistered since the plan was compiled
        hint = getattr(exc, "hint", None)
        record.status, record.error = StepStatus.FAILED, ToolError(
            kind=ErrorKind.NOT_FOUND,
            message=(exc.args[0] if exc.args else str(exc)) + (f" ({hint})" if hint else ""))
        return None
    return spec


def _record_cancelled(run: RunState, record: StepRecord, started: float) -> None:
    """A step cancelled with its run: recorded now, as the cancellation goes on up."""
    record.status = StepStatus.CANCELLED
    record.error = ToolError(kind=ErrorKind.CANCELLED, message="the run was cancelled")
    _stamp(record, started)
    run.records[record.step_id] = record
    if run.engine.bus.wants(StepFinished):
        run.engine.bus.emit(StepFinished(run_id=run.run_id, record=record))


def _stamp(record: StepRecord, started: float) -> None:
    """Note when the step finished and how long it took."""
    record.duration = time.perf_counter() - started
    record.finished_at = utcnow()
