"""The engine: runs a Plan's steps as soon as their own dependencies are done.

No layer-by-layer barriers: each finished step releases its dependents directly. Read-only steps
run in parallel up to the plan's concurrency; side-effecting ones one at a time. Timeouts, retries
(retryable errors only, exponential backoff), ``if``, ``foreach``, budgets and cancellation are all
handled here; observers learn everything from events.

Steps are run by *runners*: tasks that take ready steps from a queue, one after another. A runner
that finishes a step goes on with the next ready one (in a chain, the one it just released), so a
step costs no task of its own — starting an anyio task was a sixth of the engine's per-step cost.
Runners are started as ready steps outnumber them, up to the plan's concurrency; a runner waiting
for something other than its own call (the side-effect lock, a retry's backoff, foreach items)
stands aside while it waits, so the steps behind it are not held up.
"""

from __future__ import annotations

import logging
import random
import time
from collections import deque
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import anyio
import anyio.lowlevel

from toolnexus.core.call import ToolCall, ToolResult
from toolnexus.core.context import channel_for, reset_channel, use_channel
from toolnexus.core.errors import ErrorKind, ToolError
from toolnexus.core.events import RunFinished, RunStarted, StepFinished, StepRetrying, StepStarted
from toolnexus.core.ids import new_id
from toolnexus.core.run import RunResult, RunStatus, StepRecord, StepStatus, utcnow
from toolnexus.core.secrets import scrub, scrub_error, scrub_recorded
from toolnexus.core.spec import Limits, SafetyTier, ToolSpec
from toolnexus.engine.cache import cache_key
from toolnexus.engine.control import RunControl
from toolnexus.engine.invoke import Invoker
from toolnexus.engine.slots import Slots
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
        self.limiter = Slots(plan.concurrency)
        self.side_effects = anyio.Lock()
        self.spent = 0.0
        self.reserved = 0.0
        self.budget_error: ToolError | None = None
        self.task_group: anyio.abc.TaskGroup | None = None
        # Each tool the plan uses, resolved once per run (not once per step).
        self.specs: dict[tuple[str, str], ToolSpec] = {}
        self.ready: deque[PlanStep] = deque()  # released, not yet taken by a runner
        self.kept: set[str] = set()  # steps a resumed run keeps from the run it resumes
        self.runners = 0  # runner tasks, parked or not, except those standing aside
        self.parked: deque[anyio.Event] = deque()  # runners waiting for work, each woken by its event
        self.prompted = 0  # runners started or woken by dispatch() that have not yet looked for work
        self.unfinished = len(plan.steps)  # steps not yet recorded (or kept from a resumed run)
        self.settling: list[StepRecord] = []  # finished steps not yet recorded (see settle())

    # -- runners -----------------------------------------------------------------------------

    def dispatch(self) -> None:
        """Wake parked runners, or start new ones up to the concurrency, for ready steps nobody is about to take."""
        assert self.task_group is not None
        while len(self.ready) > self.prompted:
            if self.parked:
                self.parked.popleft().set()
            elif self.runners < self.plan.concurrency:
                self.runners += 1
                self.task_group.start_soon(self.runner, name=f"toolnexus runner of {self.run_id}")
            else:
                return
            self.prompted += 1

    async def runner(self) -> None:
        """Run ready steps one after another; park while there are none; leave when every step is done."""
        prompted = True  # dispatch() counted this runner as prompted when it started it
        try:
            while True:
                if prompted:
                    # Starting (or being woken) went once round the event loop: only a pending
                    # cancellation remains to be honoured before the next step.
                    self.prompted -= 1
                    prompted = False
                    await anyio.lowlevel.checkpoint_if_cancelled()
                if not self.ready:
                    if not self.unfinished:
                        return
                    wake = anyio.Event()
                    self.parked.append(wake)
                    try:
                        await wake.wait()
                    finally:
                        if not wake.is_set():  # cancelled while parked
                            self.parked.remove(wake)
                    if not self.unfinished:
                        return  # dismissed: the run is over
                    prompted = True
                    continue
                step = self.ready.popleft()
                self.dispatch()
                record = await self.run_step(step)
                if not await self.settle(record):
                    # One trip round the event loop per step: other tasks run, a cancellation lands
                    # here before the next step, and a chain of instant steps never monopolises the loop.
                    await anyio.lowlevel.checkpoint()
        finally:
            if prompted:
                self.prompted -= 1
            self.runners -= 1

    @contextmanager
    def standing_aside(self) -> Iterator[None]:
        """Around a runner's wait that holds no slot: the ready steps behind it get another runner."""
        self.runners -= 1
        self.dispatch()
        try:
            yield
        finally:
            self.runners += 1

    # -- bookkeeping -------------------------------------------------------------------------

    async def settle(self, record: StepRecord) -> bool:
        """Hand in a finished step: recorded (committed by the state store), then its dependents released.

        Steps finishing in the same turn of the event loop are recorded together — one store
        transaction, not one each. The first of them leads: it lets the loop go round once, so the
        others can join, and then records them all. No step counts as done — no dependent starts, no
        observer hears of it — before it is recorded, so a process killed at any moment has
        recorded every step it reported. Returns whether this runner went round the loop.
        """
        self.settling.append(record)
        if len(self.settling) > 1:
            return False  # the leader records it
        try:
            await anyio.lowlevel.checkpoint()
        finally:
            self.record_settled()  # even if cancelled meanwhile: these steps did finish
        return True

    def record_settled(self) -> None:
        batch, self.settling = self.settling, []
        self.unfinished -= len(batch)
        bus = self.engine.bus
        if bus.wants(StepFinished):
            if len(batch) == 1:
                bus.emit(StepFinished(run_id=self.run_id, record=batch[0]))
            else:
                with bus.batch():
                    for record in batch:
                        bus.emit(StepFinished(run_id=self.run_id, record=record))
        for record in batch:
            self.finish(record)
        if not self.unfinished:  # the run is over: dismiss the parked runners
            while self.parked:
                self.parked.popleft().set()

    def finish(self, record: StepRecord) -> None:
        """Make a recorded step's outcome visible to expressions and release its dependents."""
        self.records[record.step_id] = record
        self.views[record.step_id] = {
            "outputs": record.output, "status": record.status.value,
            "error": record.error.model_dump(mode="json") if record.error else None,
        }
        waiting = self.waiting
        for dependent in self.dependents[record.step_id]:
            waiting[dependent] -= 1
            if waiting[dependent] == 0 and dependent not in self.kept:
                self.ready.append(self.plan.step(dependent))

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

    async def run_step(self, step: PlanStep) -> StepRecord:
        """Run one step; its record, for :meth:`settle`."""
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
            if self.engine.bus.wants(StepFinished):
                self.engine.bus.emit(StepFinished(run_id=self.run_id, record=record))
            raise
        except Exception as exc:  # a bug of ours must fail this step, not escape from the run
            log.exception("step %s of run %s failed inside the engine", step.id, self.run_id)
            record.status = StepStatus.FAILED
            record.error = ToolError(kind=ErrorKind.RUNTIME_ERROR,
                                     message=f"internal error running the step: {type(exc).__name__}: {exc}")
        record.duration = time.perf_counter() - started
        record.finished_at = utcnow()
        if record.error is not None and self.engine.invoker.scrub_secrets:
            record.error = scrub_error(record.error)  # the engine's own (an expression's message quotes values)
        return record

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
            spec = self.specs.get((step.tool, step.version))
            if spec is None:
                spec = self.specs[step.tool, step.version] = self.engine.lookup(step.tool, step.version)
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
        with self.standing_aside():  # the items hold slots; the runner only waits for them
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

    async def _served_from_cache(self, step: PlanStep, spec: ToolSpec, record: StepRecord, key: str,
                                 arguments: dict[str, Any]) -> bool:
        """Serve a cached result, once the gate allows the call (a denial fails the step: no cached result)."""
        store = self.engine.store
        hit = store.cache_get(key) if store is not None else None
        if hit is None:
            return False
        call = ToolCall(tool=spec.name, version=spec.version, arguments=arguments, run_id=self.run_id,
                        step_id=step.id, runtime=step.runtime, origin="mission")
        denied = await self.engine.invoker.decide(call, spec, cached=True)
        if denied is not None:
            record.status, record.error = StepStatus.FAILED, denied
            return True
        record.status, record.output, record.cached = StepStatus.SUCCEEDED, hit[0], True
        return True

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
        if key is not None and store is not None and await self._served_from_cache(step, spec, record, key,
                                                                                     arguments):
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
                # A side-effecting call queues for its turn before taking a concurrency slot, so
                # one waiting in line never holds a slot a read-only step could be using.
                if serial:
                    if item is None:
                        with self.standing_aside():
                            await self.side_effects.acquire()
                    else:
                        await self.side_effects.acquire()
                try:
                    await self.limiter.acquire()
                    try:
                        # "Started" means running, not queued: observers see real concurrency.
                        if self.engine.bus.wants(StepStarted):
                            self.engine.bus.emit(StepStarted(run_id=self.run_id, step_id=step.id, tool=spec.ref,
                                                             attempt=attempt, item=item))
                        # The run's caller (an MCP client) may want this step's progress, logs and questions.
                        scoped = channel_for(call, spec)
                        token = use_channel(scoped) if scoped is not None else None
                        try:
                            result = await self.engine.invoker.invoke(call, spec)
                        finally:
                            if token is not None:
                                reset_channel(token)
                    finally:
                        self.limiter.release()
                finally:
                    if serial:
                        self.side_effects.release()
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
            if item is None:
                with self.standing_aside():
                    await anyio.sleep(delay)
            else:
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
        # What the run's records hold: its inputs, plan and mission text scrubbed, here where they are first
        # recorded (the steps get the real inputs). Secret-named inputs become known secrets on the way.
        recorded, dump, source = self._recorded(plan, inputs, source)
        result = RunResult(run_id=run.run_id, mission=plan.mission, status=RunStatus.RUNNING, inputs=recorded,
                           resumed_from=resume.run_id if resume else None,
                           currency=plan.budget.currency if plan.budget else "USD")
        self.bus.emit(RunStarted(
            run_id=run.run_id, mission=plan.mission, mission_version=plan.mission_version, plan_hash=plan.hash,
            inputs=recorded, plan=dump, source=source,
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
        run.kept = set(done)
        run.unfinished -= len(done)
        for step in run.plan.steps:
            for dep in step.needs:
                run.dependents[dep].append(step.id)
            run.waiting[step.id] = len(step.needs)
        for step in run.plan.steps:
            # A step kept from the resumed run is not run again; finish() releases its dependents.
            if step.id not in done and run.waiting[step.id] == 0:
                run.ready.append(step)
        for step in run.plan.steps:
            if step.id in done:
                run.finish(done[step.id].model_copy(update={"resumed": True}))
        run.dispatch()

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
        self._scrub_result(result)

    def _recorded(self, plan: Plan, inputs: dict[str, Any],
                  source: str | None) -> tuple[dict[str, Any], dict[str, Any], str | None]:
        """The inputs, plan (JSON form) and mission text as a run's records hold them: scrubbed."""
        dump = plan.model_dump(mode="json", by_alias=True)
        if not self.invoker.scrub_secrets:
            return inputs, dump, source
        return (scrub(inputs), scrub_recorded(("plan", plan.hash), dump),
                scrub_recorded(("source", source), source) if source else source)

    def _scrub_result(self, result: RunResult) -> None:
        # Outputs may quote the run's inputs as they are (`${{ inputs.api_token }}`); errors their values.
        if self.invoker.scrub_secrets:
            result.outputs = scrub(result.outputs) if result.outputs else result.outputs
            result.error = scrub_error(result.error) if result.error is not None else None
