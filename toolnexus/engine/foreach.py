"""A foreach step: its items rendered, one call per item side by side, and the items' records merged into the step's."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import anyio

from toolnexus.core.errors import ErrorKind, ToolError
from toolnexus.core.run import StepRecord, StepStatus
from toolnexus.core.spec import ToolSpec
from toolnexus.engine.calls import call
from toolnexus.mission.expressions import ExpressionError, truthy
from toolnexus.mission.plan import PlanStep

if TYPE_CHECKING:
    from toolnexus.engine.run import RunState

_PER_ITEM_NAMES = frozenset({"item", "index"})


def decided_per_item(step: PlanStep) -> bool:
    """Whether the step's `if` is decided for each item: a foreach step's `if` that reads `item` or `index`."""
    condition = step.condition
    return condition is not None and step.foreach is not None and bool(condition.roots & _PER_ITEM_NAMES)


async def run_items(run: RunState, step: PlanStep, spec: ToolSpec, record: StepRecord) -> None:
    """Run a foreach step: one call per item (whose `if` allows it), side by side; merge their records."""
    items = _items(run, step, record)
    if items is None:
        return
    per_item = decided_per_item(step)
    parts = [StepRecord(step_id=step.id, tool=step.tool, version=step.version) for _ in items]
    with run.standing_aside():  # the items hold slots; the runner only waits for them
        async with anyio.create_task_group() as group:
            for index, item in enumerate(items):
                context = run.context(step, item=item, index=index)
                if not per_item or _item_runs(step, context, parts[index]):
                    group.start_soon(call, run, step, spec, parts[index], context, index)
    _merge(record, parts)


def _items(run: RunState, step: PlanStep, record: StepRecord) -> list[Any] | None:
    """The step's items; None if its `foreach` gives none (the record says why)."""
    assert step.foreach_template is not None
    try:
        items = step.foreach_template.render(run.context(step))
    except ExpressionError as exc:
        record.status = StepStatus.FAILED
        record.error = ToolError(kind=ErrorKind.EXPRESSION, message=f"foreach: {exc}")
        return None
    if not isinstance(items, list):
        record.status, record.error = StepStatus.FAILED, ToolError(
            kind=ErrorKind.EXPRESSION, message=f"foreach: expected a list, got {type(items).__name__}")
        return None
    return items


def _item_runs(step: PlanStep, context: Mapping[str, Any], part: StepRecord) -> bool:
    """Whether an item runs, as the step's `if` decides for it; if not, the item's record says so."""
    assert step.condition is not None
    try:
        go = truthy(step.condition.evaluate(context))
    except ExpressionError as exc:
        part.status = StepStatus.FAILED
        part.error = ToolError(kind=ErrorKind.EXPRESSION, message=f"if: {exc}")
        return False
    if not go:
        part.status = StepStatus.SKIPPED
    return go


def _merge(record: StepRecord, parts: list[StepRecord]) -> None:
    """The step's record from its items': their outputs in order, summed cost, and its status."""
    record.items = len(parts)
    record.output = [p.output for p in parts]
    record.cost = sum(p.cost for p in parts)
    record.attempts = max((p.attempts for p in parts), default=0)
    record.cached = bool(parts) and all(p.cached for p in parts)
    _settle_status(record, parts)


def _settle_status(record: StepRecord, parts: list[StepRecord]) -> None:
    """The step's status from its items': failed with the first failure, skipped if every item was, or succeeded."""
    failed = [(i, p) for i, p in enumerate(parts) if p.status == StepStatus.FAILED]
    if failed:
        record.status, record.error = StepStatus.FAILED, _first_failure(failed)
    elif parts and all(p.status == StepStatus.SKIPPED for p in parts):
        record.status, record.skip_reason = StepStatus.SKIPPED, "`if` was false for every item"
    else:
        record.status = StepStatus.SUCCEEDED


def _first_failure(failed: list[tuple[int, StepRecord]]) -> ToolError:
    """The step's error: its first failed item's, saying which item and how many more failed."""
    index, first = failed[0]
    assert first.error is not None
    more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
    return first.error.model_copy(update={
        "message": f"item {index}: {first.error.message}{more}",
        "details": {**first.error.details, "failed_items": [i for i, _ in failed]}})
