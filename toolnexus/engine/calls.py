"""One call of a step (or of one foreach item): served from the cache, or invoked — within the run's
budget, in its turn if it has side effects, holding a concurrency slot — and retried on retryable
errors; then its outcome recorded.

Kept to two coroutines a call (this one and the attempt's): the engine's per-step cost is mostly Python's.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

import anyio

from toolnexus.core.call import ToolCall, ToolResult
from toolnexus.core.context import channel_for, reset_channel, use_channel
from toolnexus.core.errors import ErrorKind, ToolError
from toolnexus.core.events import StepRetrying, StepStarted
from toolnexus.core.remote import is_remote
from toolnexus.core.run import StepRecord, StepStatus
from toolnexus.core.spec import Limits, SafetyTier, ToolSpec
from toolnexus.engine.cache import cache_key
from toolnexus.mission.expressions import ExpressionError
from toolnexus.mission.plan import PlanStep

if TYPE_CHECKING:
    from collections.abc import Mapping

    from toolnexus.engine.run import RunState


async def call(run: RunState, step: PlanStep, spec: ToolSpec, record: StepRecord, context: Mapping[str, Any],
               item: int | None) -> None:
    """Run one call of a step (one foreach item), with cache, budget and retries."""
    try:
        arguments = step.argument_template.render(context)
    except ExpressionError as exc:
        record.status = StepStatus.FAILED
        record.error = ToolError(kind=ErrorKind.EXPRESSION, message=f"with: {exc}")
        return
    key = _cache_key(run, step, spec, arguments)
    if key is not None and await _served_from_cache(run, step, spec, record, key, arguments):
        return
    attempts = step.retry.attempts if step.retry else 1
    limits = Limits(timeout=step.timeout) if step.timeout is not None else None
    result: ToolResult | None = None
    for attempt in range(1, attempts + 1):
        # Every attempt carries the run's caller and correlation id: a retry is the same call, tried again.
        invocation = ToolCall(tool=spec.name, version=spec.version, arguments=arguments, run_id=run.run_id,
                              step_id=step.id, attempt=attempt, limits=limits, runtime=step.runtime,
                              origin="mission", caller=run.caller, correlation_id=run.correlation_id)
        estimate = _estimate(step, spec)
        if not _within_budget(run, record, estimate):
            return
        result = await _attempt(run, step, spec, invocation, item, estimate)
        run.spent += result.cost
        record.attempts = attempt
        record.cost += result.cost
        if not _tries_again(result, attempt, attempts):
            break
        delay = _announce_retry(run, step, result, attempt)
        with run.aside(alone=item is None):
            await anyio.sleep(delay)
    assert result is not None
    _record_outcome(run, spec, record, result, key)


def _cache_key(run: RunState, step: PlanStep, spec: ToolSpec, arguments: dict[str, Any]) -> str | None:
    """The call's cache key, if the step is cached (and the engine has a store to cache in)."""
    return cache_key(spec.name, spec.version, arguments) if step.cache and run.engine.store is not None else None


async def _served_from_cache(run: RunState, step: PlanStep, spec: ToolSpec, record: StepRecord, key: str,
                             arguments: dict[str, Any]) -> bool:
    """Serve a cached result, once the gate allows the call (a denial fails the step: no cached result)."""
    store = run.engine.store
    hit = store.cache_get(key) if store is not None else None
    if hit is None:
        return False
    invocation = ToolCall(tool=spec.name, version=spec.version, arguments=arguments, run_id=run.run_id,
                          step_id=step.id, runtime=step.runtime, origin="mission", caller=run.caller,
                          correlation_id=run.correlation_id)
    denied = await run.engine.invoker.decide(invocation, spec, cached=True)
    if denied is not None:
        record.status, record.error = StepStatus.FAILED, denied
        return True
    record.status, record.output, record.cached = StepStatus.SUCCEEDED, hit[0], True
    return True


def _estimate(step: PlanStep, spec: ToolSpec) -> float:
    """What a call of the step is expected to cost, for the most it may run (the step's timeout, or the tool's)."""
    return spec.cost.estimate_call(step.timeout if step.timeout is not None else spec.limits.timeout)


def _within_budget(run: RunState, record: StepRecord, estimate: float) -> bool:
    """Whether the run's budget allows a call estimated to cost ``estimate``; if not, the record fails
    with the budget error (and the run's first such error becomes the run's)."""
    budget = run.plan.budget
    if (budget is not None and budget.max_cost is not None
            and run.spent + run.reserved + estimate > budget.max_cost + 1e-12):
        record.error = ToolError(
            kind=ErrorKind.BUDGET_EXCEEDED,
            message=f"the call would exceed the run's budget: spent {run.spent:.4f} + reserved "
                    f"{run.reserved:.4f} + this call {estimate:.4f} > max_cost {budget.max_cost:.4f} "
                    f"{budget.currency}",
            details={"spent": run.spent, "estimate": estimate, "max_cost": budget.max_cost})
        record.status = StepStatus.FAILED
        run.budget_error = run.budget_error or record.error
        return False
    return True


async def _attempt(run: RunState, step: PlanStep, spec: ToolSpec, invocation: ToolCall, item: int | None,
                   estimate: float) -> ToolResult:
    """One attempt: its cost reserved, its turn taken if it has side effects, a slot held while the invoker runs it."""
    serial = spec.tier != SafetyTier.READ_ONLY
    run.reserved += estimate
    try:
        # A side-effecting call queues for its turn before taking a concurrency slot, so
        # one waiting in line never holds a slot a read-only step could be using.
        if serial:
            with run.aside(alone=item is None):
                await run.side_effects.acquire()
        try:
            await run.limiter.acquire()
            try:
                _announce_start(run, step, spec, invocation, item)
                token = _use_callers_channel(invocation, spec)
                try:
                    return await run.engine.invoker.invoke(invocation, spec)
                finally:
                    if token is not None:
                        reset_channel(token)
            finally:
                run.limiter.release()
        finally:
            if serial:
                run.side_effects.release()
    finally:
        run.reserved -= estimate


def _announce_start(run: RunState, step: PlanStep, spec: ToolSpec, invocation: ToolCall, item: int | None) -> None:
    # "Started" means running, not queued: observers see real concurrency.
    running = run.running
    if running is not None:  # a live control's map: a tuple a start, no event
        prior = running.get(step.id)
        running[step.id] = (invocation.attempt, (prior[1] if prior else 0) + (item is not None))
    bus = run.engine.bus
    if bus.wants(StepStarted):
        bus.emit(StepStarted(run_id=run.run_id, step_id=step.id, tool=spec.ref, attempt=invocation.attempt,
                             item=item))


def _use_callers_channel(invocation: ToolCall, spec: ToolSpec) -> Any:
    """The run's caller (an MCP client) may want this call's progress, logs and questions: its channel put
    in use; the token to reset it, or None if the current channel stays."""
    scoped = channel_for(invocation, spec)
    return use_channel(scoped) if scoped is not None else None


def _tries_again(result: ToolResult, attempt: int, attempts: int) -> bool:
    """Whether a failed attempt is tried again: its error is retryable and attempts are left."""
    return not result.ok and result.error is not None and result.error.retryable and attempt < attempts


def _announce_retry(run: RunState, step: PlanStep, result: ToolResult, attempt: int) -> float:
    """The backoff before the next attempt (with its jitter), announced to observers."""
    assert step.retry is not None
    delay = step.retry.delay_before(attempt + 1)
    delay += delay * step.retry.jitter * random.random()
    run.engine.bus.emit(StepRetrying(run_id=run.run_id, step_id=step.id, attempt=attempt + 1,
                                     error=result.error, delay=delay))
    return delay


def _record_outcome(run: RunState, spec: ToolSpec, record: StepRecord, result: ToolResult, key: str | None) -> None:
    """The call's outcome in its record; a success is cached if the step is."""
    if result.ok:
        record.status, record.output = StepStatus.SUCCEEDED, result.output
        store = run.engine.store
        if key is not None and store is not None and not is_remote(result.output):  # (kept on a cluster that
            store.cache_put(key, spec.name, spec.version, result.output, result.cost)  # goes: not for later runs)
    else:
        record.status, record.error = StepStatus.FAILED, result.error
