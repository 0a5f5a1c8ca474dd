"""The engine: runs a Plan's steps as soon as their own dependencies are done.

No layer-by-layer barriers: each finished step releases its dependents directly. Read-only steps
run in parallel up to the plan's concurrency; side-effecting ones one at a time. Timeouts, retries
(retryable errors only, exponential backoff), ``if``, ``foreach``, budgets and cancellation are all
handled here; observers learn everything from events.

The parts: :mod:`~toolnexus.engine.run` holds a run's state and the runners that take its ready
steps; :mod:`~toolnexus.engine.steps` is one step's life, :mod:`~toolnexus.engine.foreach` a
foreach step's items, :mod:`~toolnexus.engine.calls` one call (cache, budget, retries), and
:mod:`~toolnexus.engine.conclude` the run's result.
"""

from __future__ import annotations

import time
from contextlib import nullcontext
from typing import Any

import anyio

from toolnexus.core.caller import Caller, reset_identity, use_identity
from toolnexus.core.events import RunFinished, RunStarted
from toolnexus.core.ids import new_id
from toolnexus.core.run import RunResult, RunStatus, utcnow
from toolnexus.core.secrets import scrub, scrub_recorded
from toolnexus.engine.conclude import conclude
from toolnexus.engine.control import RunControl
from toolnexus.engine.executor import RUN_EXECUTOR, Executor
from toolnexus.engine.invoke import Invoker
from toolnexus.engine.run import RunState
from toolnexus.mission.plan import Plan
from toolnexus.store.sqlite import StateStore, StoredRun


class Engine:
    """Runs plans. One engine serves many runs; it holds no per-run state."""

    def __init__(self, invoker: Invoker, store: StateStore | None = None) -> None:
        self.invoker = invoker
        self.store = store
        self.bus = invoker.bus
        self.lookup = invoker.lookup

    async def run(self, plan: Plan, inputs: dict[str, Any] | None = None, *, run_id: str | None = None,
                  resume: StoredRun | None = None, control: RunControl | None = None,
                  source: str | None = None, caller: Caller | None = None,
                  correlation_id: str | None = None, executor: Executor | None = None) -> RunResult:
        """Run ``plan`` with bound ``inputs``; return its RunResult.

        ``control.cancel()`` stops the run and returns a ``cancelled`` result. If the calling task
        itself is cancelled, the run is recorded as cancelled and the cancellation propagates.
        Every step's call carries ``caller`` (who started the run) and the run's ``correlation_id``
        (default: the run id), as do the calls its tools make in turn. ``executor`` dispatches the steps'
        calls (default: the invoker's); the run holds its ``session()``, if it has one, from start to end.
        """
        chosen = executor or self.invoker.executor
        session = getattr(chosen, "session", None)
        release = getattr(chosen, "release", None)  # (what the run's calls kept on a cluster, let go at its end)
        token = RUN_EXECUTOR.set(executor) if executor is not None else None
        run_id = run_id or new_id("run-")
        try:
            async with session() if session is not None else nullcontext():
                try:
                    return await self._run(plan, inputs, run_id=run_id, resume=resume, control=control,
                                           source=source, caller=caller, correlation_id=correlation_id)
                finally:
                    if release is not None:
                        await release(run_id)
        finally:
            if token is not None:
                RUN_EXECUTOR.reset(token)

    async def _run(self, plan: Plan, inputs: dict[str, Any] | None, *, run_id: str,
                   resume: StoredRun | None, control: RunControl | None, source: str | None,
                   caller: Caller | None, correlation_id: str | None) -> RunResult:
        run = RunState(self, plan, dict(inputs or {}), run_id, caller, correlation_id)
        result = self._start(run, resume, source)
        started = time.perf_counter()
        scope = anyio.CancelScope()
        if control is not None:
            control._attach(scope)
            if control.live:
                run.running = {}
                control._follow(run.running, run.records)
        timed_out = False
        finished = False
        identity = use_identity(run.caller, run.correlation_id)  # the runners' tasks inherit it (sub-calls)
        try:
            with scope:
                with anyio.move_on_after(run.max_duration) as deadline:
                    async with anyio.create_task_group() as group:
                        run.start(group, resume)
                timed_out = deadline.cancelled_caught
            finished = True
        finally:
            reset_identity(identity)
            if control is not None:
                control._detach()
            result.duration = time.perf_counter() - started
            result.finished_at = utcnow()
            with anyio.CancelScope(shield=True):
                conclude(run, result, timed_out=timed_out, cancelled=not finished or scope.cancelled_caught,
                         reason=control.reason if control else None)
                self.bus.emit(RunFinished(run_id=run.run_id, result=result))
        return result

    def _start(self, run: RunState, resume: StoredRun | None, source: str | None) -> RunResult:
        """The run's result, as it starts: running, with its inputs as recorded; RunStarted announces it."""
        plan = run.plan
        # What the run's records hold: its inputs, plan and mission text scrubbed, here where they are first
        # recorded (the steps get the real inputs). Secret-named inputs become known secrets on the way.
        recorded, dump, source = self._recorded(plan, run.inputs, source)
        result = RunResult(run_id=run.run_id, mission=plan.mission, status=RunStatus.RUNNING, inputs=recorded,
                           resumed_from=resume.run_id if resume else None,
                           currency=plan.budget.currency if plan.budget else "USD")
        self.bus.emit(RunStarted(
            run_id=run.run_id, mission=plan.mission, mission_version=plan.mission_version, plan_hash=plan.hash,
            inputs=recorded, plan=dump, source=source,
            source_path=plan.source_path, resumed_from=result.resumed_from, step_ids=[s.id for s in plan.steps],
            caller=run.caller, correlation_id=run.correlation_id, executor=_executor_name(RUN_EXECUTOR.get())))
        return result

    def _recorded(self, plan: Plan, inputs: dict[str, Any],
                  source: str | None) -> tuple[dict[str, Any], dict[str, Any], str | None]:
        """The inputs, plan (JSON form) and mission text as a run's records hold them: scrubbed."""
        dump = plan.model_dump(mode="json", by_alias=True)
        if not self.invoker.scrub_secrets:
            return inputs, dump, source
        return (scrub(inputs), scrub_recorded(("plan", plan.hash), dump),
                scrub_recorded(("source", source), source) if source else source)


def _executor_name(executor: Executor | None) -> str | None:
    """The name a run's own executor is recorded under (None: the Nexus's, which its tracker knows)."""
    if executor is None:
        return None
    return str(getattr(executor, "name", None) or type(executor).__name__)
