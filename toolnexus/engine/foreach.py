"""A foreach step: its items rendered, one call per item side by side, and the items' records merged into the step's."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import anyio
import anyio.lowlevel

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
    """Run a foreach step: one call per item (whose `if` allows it), side by side; merge their records.

    The items are taken in order by as many workers as the run may have calls in flight (its concurrency),
    not one task each: starting 100,000 tasks (each waiting for a slot) was a third of such a step's time.
    Each item's record is folded into the step's as the item ends, so only the items in flight have one.
    """
    items = _items(run, step, record)
    if items is None:
        return
    per_item = decided_per_item(step)
    merged = _Merged(len(items))
    pending = iter(enumerate(items))

    async def worker() -> None:
        for index, item in pending:  # one iterator shared by the workers: each item is taken once
            part = StepRecord(step_id=step.id, tool=step.tool, version=step.version)
            context = run.context(step, item=item, index=index)
            if not per_item or _item_runs(step, context, part):
                await call(run, step, spec, part, context, index)
            merged.add(index, part)
            # A trip round the event loop per item, as the runners take per step: an instant call never
            # yields, and a worker would otherwise run every item with the loop's timers (the audit's
            # deferred writes, whose records piled up), other steps and a cancellation all kept waiting.
            await anyio.lowlevel.checkpoint()

    with run.standing_aside():  # the items hold slots; the runner only waits for them
        async with anyio.create_task_group() as group:
            for _ in range(min(len(items), run.plan.concurrency)):
                group.start_soon(worker)
    merged.settle(record)


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


class _Merged:
    """The items' records folded as they end: what the step's record needs of them, in item order."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.outputs: list[Any] = [None] * count
        self.costs: dict[int, float] = {}  # non-zero costs by item: summed in item order, as before
        self.attempts = 0
        self.cached = count > 0
        self.skipped = 0
        self.failures: dict[int, ToolError] = {}

    def add(self, index: int, part: StepRecord) -> None:
        """Fold in one item's record."""
        self.outputs[index] = part.output
        if part.cost:
            self.costs[index] = part.cost
        self.attempts = max(self.attempts, part.attempts)
        self.cached = self.cached and part.cached
        if part.status == StepStatus.FAILED:
            assert part.error is not None
            self.failures[index] = part.error
        elif part.status == StepStatus.SKIPPED:
            self.skipped += 1

    def settle(self, record: StepRecord) -> None:
        """The step's record from its items': their outputs in order, summed cost, and its status."""
        record.items = self.count
        record.output = self.outputs
        # sum() over every item's cost began at 0 and added 0.0 for each free item: the same figure.
        record.cost = sum((self.costs[i] for i in sorted(self.costs)), 0.0 if self.count else 0)
        record.attempts = self.attempts
        record.cached = self.cached
        if self.failures:
            record.status, record.error = StepStatus.FAILED, _first_failure(sorted(self.failures.items()))
        elif self.count and self.skipped == self.count:
            record.status, record.skip_reason = StepStatus.SKIPPED, "`if` was false for every item"
        else:
            record.status = StepStatus.SUCCEEDED


def _first_failure(failed: list[tuple[int, ToolError]]) -> ToolError:
    """The step's error: its first failed item's, saying which item and how many more failed."""
    index, first = failed[0]
    more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
    return first.model_copy(update={
        "message": f"item {index}: {first.message}{more}",
        "details": {**first.details, "failed_items": [i for i, _ in failed]}})
