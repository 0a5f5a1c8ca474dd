"""The engine: runs a Plan's steps as soon as their own dependencies are done.

No layer-by-layer barriers: each finished step releases its dependents directly. Read-only steps
run in parallel up to the plan's concurrency; side-effecting ones one at a time. Timeouts, retries
(retryable errors only, exponential backoff), ``if``, ``foreach``, budgets and cancellation are all
handled here; observers learn everything from events.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Mapping
from contextlib import AsyncExitStack
from typing import Any

import anyio

from toolnexus.core.call import ToolCall, ToolResult
from toolnexus.core.errors import ErrorKind, ToolError
from toolnexus.core.events import RunFinished, RunStarted, StepFinished, StepRetrying, StepStarted
from toolnexus.core.ids import new_id
from toolnexus.core.run import RunResult, RunStatus, StepRecord, StepStatus, utcnow
from toolnexus.core.spec import Limits, SafetyTier, ToolSpec
from toolnexus.engine.cache import cache_key
from toolnexus.engine.control import RunControl
from toolnexus.engine.invoke import Invoker
from toolnexus.mission.expressions import ExpressionError, truthy
from toolnexus.mission.plan import Plan, PlanStep
from toolnexus.store.sqlite import StateStore, StoredRun

_FAILED_LIKE = (StepStatus.FAILED, StepStatus.CANCELLED)
log = logging.getLogger("toolnexus.engine")


class _Run:
    """The state of one run in progress."""

    def __init__(self, engine: Engine, plan: Plan, inputs: dict[str, Any], run_id: str) -> None:
        self.engine = engine
        self.plan = plan
        self.inputs = inputs
        self.run_id = run_id
        self.records: dict[str, StepRecord] = {}
        # What expressions see of each step: outputs, status and error.
        self.views: dict[str, dict[str, Any]] = {}
        self.dependents: dict[str, list[str]] = {s.id: [] for s in plan.steps}
        self.waiting: dict[str, int] = {}
        self.limiter = anyio.CapacityLimiter(plan.concurrency)
        self.side_effects = anyio.Lock()
        self.spent = 0.0
        self.reserved = 0.0
        self.budget_error: ToolError | None = None
        self.task_group: anyio.abc.TaskGroup | None = None
        self.specs: dict[str, ToolSpec] = {}  # each step's tool, resolved once per run

    # -- bookkeeping -------------------------------------------------------------------------

    def finish(self, record: StepRecord) -> None:
        self.records[record.step_id] = record
        self.views[record.step_id] = {
            "outputs": record.output, "status": record.status.value,
            "error": record.error.model_dump(mode="json") if record.error else None,
        }
        if not record.resumed:
            self.engine.bus.emit(StepFinished(run_id=self.run_id, record=record))
        assert self.task_group is not None
        for dependent in self.dependents[record.step_id]:
            self.waiting[dependent] -= 1
            if self.waiting[dependent] == 0:
                self.task_group.start_soon(self.run_step, self.plan.step(dependent), name=dependent)

    def context(self, step: PlanStep, **extra: Any) -> dict[str, Any]:
        ctx: dict[str, Any] = {"inputs": self.inputs, "steps": self.views, **extra}
        condition = step.condition
        if condition is not None and condition.calls:
            states = [self.records[d].status for d in step.needs]
            ctx.update(
                always=lambda: True,
                success=lambda: all(s in (StepStatus.SUCCEEDED, StepStatus.SKIPPED) for s in states),
                failure=lambda: any(s == StepStatus.FAILED for s in states),
                cancelled=lambda: any(s == StepStatus.CANCELLED for s in states),
            )
        return ctx

    # -- one step ----------------------------------------------------------------------------

    def blocked_by(self, step: PlanStep) -> str | None:
        """Why a step cannot run because of its dependencies, or None."""
        for dep in step.needs:
            record = self.records[dep]
            dep_step = self.plan.step(dep)
            tolerated = record.status == StepStatus.FAILED and dep_step.continue_on_error
            if record.status in _FAILED_LIKE and not tolerated:
                return f"dependency `{dep}` {record.status.value}"
            if record.status == StepStatus.SKIPPED:
                return f"dependency `{dep}` was skipped"
        return None

    async def run_step(self, step: PlanStep) -> None:
        record = StepRecord(step_id=step.id, tool=step.tool, version=step.version, started_at=utcnow())
        started = time.perf_counter()
        try:
            await self._run_step(step, record)
        except anyio.get_cancelled_exc_class():
            record.status = StepStatus.CANCELLED
            record.error = ToolError(kind=ErrorKind.CANCELLED, message="the run was cancelled")
            record.duration = time.perf_counter() - started
            record.finished_at = utcnow()
            self.records[step.id] = record
            self.engine.bus.emit(StepFinished(run_id=self.run_id, record=record))
            raise
        except Exception as exc:  # a bug of ours must fail this step, not escape from the run
            log.exception("step %s of run %s failed inside the engine", step.id, self.run_id)
            record.status = StepStatus.FAILED
            record.error = ToolError(kind=ErrorKind.RUNTIME_ERROR,
                                     message=f"internal error running the step: {type(exc).__name__}: {exc}")
        record.duration = time.perf_counter() - started
        record.finished_at = utcnow()
        self.finish(record)

    async def _run_step(self, step: PlanStep, record: StepRecord) -> None:
        blocked = self.blocked_by(step)
        if blocked and not step.wants_status:
            record.status, record.skip_reason = StepStatus.SKIPPED, blocked
            return
        condition = step.condition
        # In a foreach step, an `if` that reads `item` or `index` is decided per item, below.
        per_item = condition is not None and step.foreach is not None and bool(condition.roots & {"item", "index"})
        if condition is None and isinstance(step.if_, bool):
            go_all: bool | None = step.if_
        elif condition is not None and not per_item:
            try:
                go_all = truthy(condition.evaluate(self.context(step)))
            except ExpressionError as exc:
                record.status = StepStatus.FAILED
                record.error = ToolError(kind=ErrorKind.EXPRESSION, message=f"if: {exc}")
                return
        else:
            go_all = None
        if go_all is False:
            record.status, record.skip_reason = StepStatus.SKIPPED, "`if` was false"
            return
        try:
            spec = self.specs.get(step.id)
            if spec is None:
                spec = self.specs[step.id] = self.engine.lookup(step.tool, step.version)
        except (LookupError, ValueError) as exc:  # unregistered since the plan was compiled
            hint = getattr(exc, "hint", None)
            record.status, record.error = StepStatus.FAILED, ToolError(
                kind=ErrorKind.NOT_FOUND,
                message=(exc.args[0] if exc.args else str(exc)) + (f" ({hint})" if hint else ""))
            return
        foreach = step.foreach_template
        if foreach is None:
            await self.call(step, spec, record, self.context(step), None)
            return
        try:
            items = foreach.render(self.context(step))
        except ExpressionError as exc:
            record.status = StepStatus.FAILED
            record.error = ToolError(kind=ErrorKind.EXPRESSION, message=f"foreach: {exc}")
            return
        if not isinstance(items, list):
            record.status, record.error = StepStatus.FAILED, ToolError(
                kind=ErrorKind.EXPRESSION, message=f"foreach: expected a list, got {type(items).__name__}")
            return
        parts = [StepRecord(step_id=step.id, tool=step.tool, version=step.version) for _ in items]
        async with anyio.create_task_group() as group:
            for index, item in enumerate(items):
                context = self.context(step, item=item, index=index)
                if per_item:
                    assert condition is not None
                    try:
                        go = truthy(condition.evaluate(context))
                    except ExpressionError as exc:
                        parts[index].status = StepStatus.FAILED
                        parts[index].error = ToolError(kind=ErrorKind.EXPRESSION, message=f"if: {exc}")
                        continue
                    if not go:
                        parts[index].status = StepStatus.SKIPPED
                        continue
                group.start_soon(self.call, step, spec, parts[index], context, index)
        record.items = len(items)
        record.output = [p.output for p in parts]
        record.cost = sum(p.cost for p in parts)
        record.attempts = max((p.attempts for p in parts), default=0)
        record.cached = bool(parts) and all(p.cached for p in parts)
        failed = [(i, p) for i, p in enumerate(parts) if p.status == StepStatus.FAILED]
        if failed:
            index, first = failed[0]
            assert first.error is not None
            record.status = StepStatus.FAILED
            record.error = first.error.model_copy(update={
                "message": f"item {index}: {first.error.message}"
                           + (f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""),
                "details": {**first.error.details, "failed_items": [i for i, _ in failed]}})
        elif parts and all(p.status == StepStatus.SKIPPED for p in parts):
            record.status, record.skip_reason = StepStatus.SKIPPED, "`if` was false for every item"
        else:
            record.status = StepStatus.SUCCEEDED

    async def call(self, step: PlanStep, spec: ToolSpec, record: StepRecord, context: Mapping[str, Any],
                   item: int | None) -> None:
        """Run one call of a step (one foreach item), with cache, budget and retries."""
        try:
            arguments = step.argument_template.render(context)
        except ExpressionError as exc:
            record.status = StepStatus.FAILED
            record.error = ToolError(kind=ErrorKind.EXPRESSION, message=f"with: {exc}")
            return
        store = self.engine.store
        key = cache_key(spec.name, spec.version, arguments) if step.cache and store is not None else None
        if key is not None and store is not None:
            hit = store.cache_get(key)
            if hit is not None:
                record.status, record.output, record.cached = StepStatus.SUCCEEDED, hit[0], True
                return
        attempts = step.retry.attempts if step.retry else 1
        limits = Limits(timeout=step.timeout) if step.timeout is not None else None
        serial = spec.tier != SafetyTier.READ_ONLY
        result: ToolResult | None = None
        for attempt in range(1, attempts + 1):
            call = ToolCall(tool=spec.name, version=spec.version, arguments=arguments, run_id=self.run_id,
                            step_id=step.id, attempt=attempt, limits=limits, runtime=step.runtime, origin="mission")
            estimate = spec.cost.estimate_call(step.timeout if step.timeout is not None else spec.limits.timeout)
            budget = self.plan.budget
            if budget is not None and budget.max_cost is not None and \
                    self.spent + self.reserved + estimate > budget.max_cost + 1e-12:
                record.error = ToolError(
                    kind=ErrorKind.BUDGET_EXCEEDED,
                    message=f"the call would exceed the run's budget: spent {self.spent:.4f} + reserved "
                            f"{self.reserved:.4f} + this call {estimate:.4f} > max_cost {budget.max_cost:.4f} "
                            f"{budget.currency}",
                    details={"spent": self.spent, "estimate": estimate, "max_cost": budget.max_cost})
                record.status = StepStatus.FAILED
                self.budget_error = self.budget_error or record.error
                return
            self.reserved += estimate
            try:
                async with AsyncExitStack() as held:
                    # A side-effecting call queues for its turn before taking a concurrency slot, so
                    # one waiting in line never holds a slot a read-only step could be using.
                    if serial:
                        await held.enter_async_context(self.side_effects)
                    await held.enter_async_context(self.limiter)
                    # "Started" means running, not queued: observers see real concurrency.
                    self.engine.bus.emit(StepStarted(run_id=self.run_id, step_id=step.id, tool=spec.ref,
                                                     attempt=attempt, item=item))
                    result = await self.engine.invoker.invoke(call, spec)
            finally:
                self.reserved -= estimate
            self.spent += result.cost
            record.attempts = attempt
            record.cost += result.cost
            if result.ok or result.error is None or not result.error.retryable or attempt == attempts:
                break
            assert step.retry is not None
            delay = step.retry.delay_before(attempt + 1)
            delay += delay * step.retry.jitter * random.random()
            self.engine.bus.emit(StepRetrying(run_id=self.run_id, step_id=step.id, attempt=attempt + 1,
                                              error=result.error, delay=delay))
            await anyio.sleep(delay)
        assert result is not None
        if result.ok:
            record.status, record.output = StepStatus.SUCCEEDED, result.output
            if key is not None and store is not None:
                store.cache_put(key, spec.name, spec.version, result.output, result.cost)
        else:
            record.status, record.error = StepStatus.FAILED, result.error


class Engine:
    """Runs plans. One engine serves many runs; it holds no per-run state."""

    def __init__(self, invoker: Invoker, store: StateStore | None = None) -> None:
        self.invoker = invoker
        self.store = store
        self.bus = invoker.bus
        self.lookup = invoker.lookup

    async def run(self, plan: Plan, inputs: dict[str, Any] | None = None, *, run_id: str | None = None,
                  resume: StoredRun | None = None, control: RunControl | None = None,
                  source: str | None = None) -> RunResult:
        """Run ``plan`` with bound ``inputs``; return its RunResult.

        ``control.cancel()`` stops the run and returns a ``cancelled`` result. If the calling task
        itself is cancelled, the run is recorded as cancelled and the cancellation propagates.
        """
        inputs = dict(inputs or {})
        run = _Run(self, plan, inputs, run_id or new_id("run-"))
        result = RunResult(run_id=run.run_id, mission=plan.mission, status=RunStatus.RUNNING, inputs=inputs,
                           resumed_from=resume.run_id if resume else None,
                           currency=plan.budget.currency if plan.budget else "USD")
        self.bus.emit(RunStarted(
            run_id=run.run_id, mission=plan.mission, mission_version=plan.mission_version, plan_hash=plan.hash,
            inputs=inputs, plan=plan.model_dump(mode="json", by_alias=True), source=source,
            source_path=plan.source_path, resumed_from=result.resumed_from, step_ids=[s.id for s in plan.steps]))
        started = time.perf_counter()
        scope = anyio.CancelScope()
        if control is not None:
            control._attach(scope)
        timed_out = False
        finished = False
        try:
            with scope:
                max_duration = plan.budget.max_duration if plan.budget else None
                with anyio.move_on_after(max_duration if max_duration is not None else float("inf")) as deadline:
                    async with anyio.create_task_group() as group:
                        run.task_group = group
                        self._schedule(run, resume)
                timed_out = deadline.cancelled_caught
            finished = True
        finally:
            if control is not None:
                control._detach()
            result.duration = time.perf_counter() - started
            result.finished_at = utcnow()
            with anyio.CancelScope(shield=True):
                self._conclude(run, result, timed_out=timed_out,
                               cancelled=not finished or scope.cancelled_caught,
                               reason=control.reason if control else None)
                self.bus.emit(RunFinished(run_id=run.run_id, result=result))
        return result

    def _schedule(self, run: _Run, resume: StoredRun | None) -> None:
        done = self._kept(run.plan, resume)
        for step in run.plan.steps:
            for dep in step.needs:
                run.dependents[dep].append(step.id)
            run.waiting[step.id] = len(step.needs)
        assert run.task_group is not None
        ready = []
        for step in run.plan.steps:
            if step.id in done:
                # Kept from the resumed run; its dependents are released by finish().
                continue
            if run.waiting[step.id] == 0:
                ready.append(step)
        for step in run.plan.steps:
            if step.id in done:
                run.finish(done[step.id].model_copy(update={"resumed": True}))
        for step in ready:
            if step.id not in run.records:
                run.task_group.start_soon(run.run_step, step, name=step.id)

    @staticmethod
    def _kept(plan: Plan, resume: StoredRun | None) -> dict[str, StepRecord]:
        """The steps of a resumed run to keep: done there, and every dependency kept too.

        A step that was skipped because a dependency failed is "done" in the old run, but that
        dependency runs again now, so the step must run again (and so must its dependents).
        """
        if resume is None:
            return {}
        kept: dict[str, StepRecord] = {}
        for step in plan.steps:  # topological order: dependencies come first
            record = resume.steps.get(step.id)
            if record is not None and record.done and all(dep in kept for dep in step.needs):
                kept[step.id] = record
        return kept

    def _conclude(self, run: _Run, result: RunResult, *, timed_out: bool, cancelled: bool,
                  reason: str | None) -> None:
        for step in run.plan.steps:
            if step.id not in run.records:
                why = ("the run's max_duration was reached" if timed_out else
                       "the run was cancelled" if cancelled else "a dependency did not complete")
                status = StepStatus.CANCELLED if (timed_out or cancelled) else StepStatus.SKIPPED
                run.records[step.id] = StepRecord(step_id=step.id, tool=step.tool, version=step.version,
                                                  status=status, skip_reason=why)
        result.steps = {s.id: run.records[s.id] for s in run.plan.steps}
        result.cost = sum(r.cost for r in run.records.values() if not r.resumed)
        if timed_out:
            result.status = RunStatus.FAILED
            budget = run.plan.budget
            limit = budget.max_duration if budget and budget.max_duration is not None else 0
            result.error = ToolError(kind=ErrorKind.BUDGET_EXCEEDED,
                                     message=f"the run exceeded its max_duration of {limit:g}s")
        elif cancelled:
            result.status = RunStatus.CANCELLED
            result.error = ToolError(kind=ErrorKind.CANCELLED, message=reason or "the run was cancelled")
        elif any(r.status == StepStatus.FAILED and not run.plan.step(r.step_id).continue_on_error
                 for r in run.records.values()):
            result.status = RunStatus.FAILED
            result.error = run.budget_error
        else:
            result.status = RunStatus.SUCCEEDED
        if result.status != RunStatus.CANCELLED:
            try:
                result.outputs = run.plan.output_template.render({"inputs": run.inputs, "steps": run.views})
            except ExpressionError as exc:
                if result.status == RunStatus.SUCCEEDED:
                    result.status = RunStatus.FAILED
                    result.error = ToolError(kind=ErrorKind.EXPRESSION, message=f"outputs: {exc}")
