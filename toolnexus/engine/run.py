"""RunState: the state of one run in progress, and the runners that take its ready steps.

Steps are run by *runners*: tasks that take ready steps from a queue, one after another. A runner
that finishes a step goes on with the next ready one (in a chain, the one it just released), so a
step costs no task of its own — starting an anyio task was a sixth of the engine's per-step cost.
Runners are started as ready steps outnumber them, up to the plan's concurrency; a runner waiting
for something other than its own call (the side-effect lock, a retry's backoff, foreach items)
stands aside while it waits, so the steps behind it are not held up.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import TYPE_CHECKING, Any

import anyio
import anyio.abc
import anyio.lowlevel

from toolnexus.core.caller import Caller
from toolnexus.core.errors import ToolError
from toolnexus.core.events import StepFinished
from toolnexus.core.remote import is_remote
from toolnexus.core.run import StepRecord, StepStatus
from toolnexus.core.spec import ToolSpec
from toolnexus.engine.slots import Slots
from toolnexus.engine.steps import run_step
from toolnexus.mission.plan import Plan, PlanStep
from toolnexus.store.sqlite import StoredRun

if TYPE_CHECKING:
    from toolnexus.engine.engine import Engine

_FAILED_LIKE = (StepStatus.FAILED, StepStatus.CANCELLED)
# Shared by every wait that needs no standing aside: entering it costs no allocation.
_NOT_ASIDE: AbstractContextManager[None] = nullcontext()


class RunState:
    """The state of one run in progress."""

    def __init__(self, engine: Engine, plan: Plan, inputs: dict[str, Any], run_id: str,
                 caller: Caller | None = None, correlation_id: str | None = None) -> None:
        self.engine = engine
        self.plan = plan
        self.inputs = inputs
        self.run_id = run_id
        # Who started the run and the id its steps' calls (and their retries and sub-calls) share: one of each
        # per run, handed to every call as they are (no per-step object).
        self.caller = caller
        self.correlation_id = correlation_id or run_id
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
        # The steps running now (id → attempt, foreach items started), for a live RunControl; None: not kept.
        self.running: dict[str, tuple[int, int]] | None = None

    @property
    def max_duration(self) -> float:
        """How long the run may take, in seconds: its budget's ``max_duration``, or forever."""
        budget = self.plan.budget
        limit = budget.max_duration if budget else None
        return limit if limit is not None else float("inf")

    # -- the start ---------------------------------------------------------------------------

    def start(self, group: anyio.abc.TaskGroup, resume: StoredRun | None) -> None:
        """Wire the steps' dependencies, keep what a resumed run already did, and start on the ready steps."""
        self.task_group = group
        done = kept_steps(self.plan, resume)
        self.kept = set(done)
        self.unfinished -= len(done)
        for step in self.plan.steps:
            for dep in step.needs:
                self.dependents[dep].append(step.id)
            self.waiting[step.id] = len(step.needs)
        for step in self.plan.steps:
            # A step kept from the resumed run is not run again; finish() releases its dependents.
            if step.id not in done and self.waiting[step.id] == 0:
                self.ready.append(step)
        for step in self.plan.steps:
            if step.id in done:
                self.finish(done[step.id].model_copy(update={"resumed": True}))
        self.dispatch()

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
                    # Parked inline, not in a coroutine of its own: runners park as often as once a step.
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
                record = await run_step(self, step)
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

    def aside(self, *, alone: bool) -> AbstractContextManager[None]:
        """Around a wait of a step's call: its runner stands aside if the call is the step's own
        (``alone``); a foreach item's wait needs not, its runner already stands aside for the items."""
        return self.standing_aside() if alone else _NOT_ASIDE

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
        """Record the settling steps (one StepFinished each, batched) and release their dependents."""
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
        if self.running is not None:
            self.running.pop(record.step_id, None)
        self.views[record.step_id] = {
            "outputs": record.output, "status": record.status.value,
            "error": record.error.model_dump(mode="json") if record.error else None,
        }
        waiting = self.waiting
        for dependent in self.dependents[record.step_id]:
            waiting[dependent] -= 1
            if waiting[dependent] == 0 and dependent not in self.kept:
                self.ready.append(self.plan.step(dependent))

    # -- what a step sees --------------------------------------------------------------------

    def context(self, step: PlanStep, **extra: Any) -> dict[str, Any]:
        """What a step's expressions see: the inputs, the steps so far, and the status functions of its `if`."""
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

    def blocked_by(self, step: PlanStep) -> str | None:
        """Why a step cannot run because of its dependencies, or None."""
        for dep in step.needs:
            record = self.records[dep]
            if record.status is StepStatus.SUCCEEDED:  # the common case: nothing more to look up
                continue
            dep_step = self.plan.step(dep)
            tolerated = record.status == StepStatus.FAILED and dep_step.continue_on_error
            if record.status in _FAILED_LIKE and not tolerated:
                return f"dependency `{dep}` {record.status.value}"
            if record.status == StepStatus.SKIPPED:
                return f"dependency `{dep}` was skipped"
        return None


def kept_steps(plan: Plan, resume: StoredRun | None) -> dict[str, StepRecord]:
    """The steps of a resumed run to keep: done there, and every dependency kept too.

    A step that was skipped because a dependency failed is "done" in the old run, but that
    dependency runs again now, so the step must run again (and so must its dependents). So must a step whose
    output was kept on a Dask cluster: it was let go when its run ended.
    """
    if resume is None:
        return {}
    kept: dict[str, StepRecord] = {}
    for step in plan.steps:  # topological order: dependencies come first
        record = resume.steps.get(step.id)
        if (record is not None and record.done and all(dep in kept for dep in step.needs)
                and not is_remote(record.output)):
            kept[step.id] = record
    return kept
