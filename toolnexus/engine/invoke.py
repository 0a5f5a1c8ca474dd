"""The one invocation path: every call — a mission step, Python, the CLI, MCP — goes through here.

validate arguments → governance gate → runtime (under limits and cancellation) → cost → events.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, ExitStack, contextmanager
from typing import Any

import anyio

from toolnexus.core.call import ToolCall, ToolResult
from toolnexus.core.context import CallChannel, _channel, reset_channel, use_channel
from toolnexus.core.errors import ErrorKind, ToolError
from toolnexus.core.events import CallFinished, CallStarted, Event, EventSink
from toolnexus.core.remote import is_remote, remote_refs, remote_seen
from toolnexus.core.runtime import Runtime, RuntimeOutcome
from toolnexus.core.secrets import KNOWN, ScrubbingChannel, declare_named_secrets, scrub, scrub_error, scrub_text
from toolnexus.core.spec import ISOLATION, Limits, ToolSpec
from toolnexus.core.validation import arguments_error, output_error
from toolnexus.engine.executor import RUN_EXECUTOR, Executor, LocalExecutor
from toolnexus.governance.approvals import EXPIRED_DECIDER
from toolnexus.governance.decide import Governance
from toolnexus.governance.floor import DECIDER as FLOOR_DECIDER, RuntimeFloor
from toolnexus.governance.gate import Gate
from toolnexus.governance.inflight import InFlightCalls
from toolnexus.governance.kills import DECIDER as KILL_DECIDER
from toolnexus.governance.plan import CallPlan

log = logging.getLogger("toolnexus.engine")
# The attribute of a log record that carries a call's governance warning (what an MCP result's _meta repeats).
WARNING_ATTR = "toolnexus_warning"

ToolLookup = Callable[[str, str | None], ToolSpec]


class EventBus:
    """Delivers events to sinks in order; a failing sink is logged once and never breaks a run.

    A sink with an ``event_types`` attribute gets only events of those types; one without gets every
    event. Producers ask :meth:`wants` before building an event, so an event nobody listens to costs
    nothing (a mission step with only the state store listening builds one event, not four).
    """

    def __init__(self, sinks: Iterable[EventSink] = ()) -> None:
        self._sinks: list[EventSink] = list(sinks)
        self._broken: set[int] = set()
        self._routes: dict[type[Event], tuple[EventSink, ...]] = {}
        self._held: list[tuple[EventSink, Event]] | None = None  # inside a batch: for the other sinks

    @property
    def sinks(self) -> tuple[EventSink, ...]:
        """The subscribed sinks, in the order they receive events."""
        return tuple(self._sinks)

    def subscribe(self, sink: EventSink) -> Callable[[], None]:
        """Add ``sink``; returns a function that removes it again."""
        self._sinks.append(sink)
        self._routes = {}

        def unsubscribe() -> None:
            if sink in self._sinks:
                self._sinks.remove(sink)
                self._routes = {}

        return unsubscribe

    def _route(self, kind: type[Event]) -> tuple[EventSink, ...]:
        route = self._routes.get(kind)
        if route is None:
            route = self._routes[kind] = tuple(
                sink for sink in self._sinks
                if (types := getattr(sink, "event_types", None)) is None or issubclass(kind, tuple(types)))
        return route

    def wants(self, kind: type[Event]) -> bool:
        """Whether any sink listens to events of type ``kind``."""
        return bool(self._route(kind))

    def emit(self, event: Event) -> None:
        """Deliver ``event`` to every sink that wants its type (inside a batch, held for the sinks that take none)."""
        held = self._held
        for sink in self._route(type(event)):
            if held is not None and getattr(sink, "batch", None) is None:
                held.append((sink, event))
                continue
            try:  # (_deliver, inlined: this runs for every event of every step)
                sink(event)
            except Exception as exc:  # an observer's bug must not fail the work it observes
                self._failed(sink, exc)

    def _deliver(self, sink: EventSink, event: Event) -> None:
        try:
            sink(event)
        except Exception as exc:  # an observer's bug must not fail the work it observes
            self._failed(sink, exc)

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Events emitted inside arrive as one batch. Each sink with a ``batch()`` method (a context
        manager; the state store writes the batch in one transaction) gets them inside it; the
        others get them once it is over — so nobody hears of a step before it is recorded."""
        if self._held is not None:  # nested: the outer batch delivers
            yield
            return
        self._held = held = []
        try:
            with ExitStack() as stack:
                for sink in self._sinks:
                    begin = getattr(sink, "batch", None)
                    if begin is not None:
                        stack.enter_context(self._guarded(sink, begin))
                yield
        finally:
            self._held = None
            for sink, event in held:
                self._deliver(sink, event)

    @contextmanager
    def _guarded(self, sink: EventSink, begin: Callable[[], AbstractContextManager[Any]]) -> Iterator[None]:
        try:
            batch = begin()
            batch.__enter__()
        except Exception as exc:
            self._failed(sink, exc)
            yield
            return
        try:
            yield
        finally:
            try:
                batch.__exit__(None, None, None)
            except Exception as exc:
                self._failed(sink, exc)

    def _failed(self, sink: EventSink, exc: Exception) -> None:
        if id(sink) not in self._broken:
            self._broken.add(id(sink))
            log.warning("event sink %r failed: %s: %s", sink, type(exc).__name__, exc)


class Invoker:
    """Runs calls through the gate and the chosen runtime, emitting call events."""

    def __init__(self, lookup: ToolLookup, runtimes: Mapping[str, Runtime], gate: Gate | None = None,
                 bus: EventBus | None = None, *, check_outputs: bool = True,
                 min_runtime: Mapping[str, str] | None = None, scrub_secrets: bool = True,
                 executor: Executor | None = None) -> None:
        self.scrub_secrets = scrub_secrets
        if scrub_secrets:
            KNOWN.refresh_environment()  # the secrets of the environment this invoker runs in
        self.lookup = lookup
        self.runtimes = dict(runtimes)
        self.bus = bus or EventBus()
        # The floor and the gate decide together: every decision is the governance's, announced on the bus.
        self.governance = Governance(gate, RuntimeFloor(min_runtime), self.bus)
        self.check_outputs = check_outputs
        self.in_flight = InFlightCalls()  # the calls running in a runtime now, for the kill switches to stop
        self.executor: Executor = executor or LocalExecutor()

    @property
    def gate(self) -> Gate:
        """The configured gate (the governance's)."""
        return self.governance.gate

    @property
    def min_runtime(self) -> dict[str, str]:
        """The tier → least runtime map of the floor."""
        return self.governance.floor.min_runtime

    def _fail(self, call: ToolCall, spec: ToolSpec | None, error: ToolError, duration: float = 0.0,
              cost: float = 0.0, runtime: str = "", stderr: str | None = None) -> ToolResult:
        if self.scrub_secrets:
            # Every failed result is made here: the tool's own error, and ours — a schema message quotes
            # the offending value, a denial may quote an argument.
            error = scrub_error(error)
        return ToolResult(call_id=call.id, tool=call.tool, version=spec.version if spec else (call.version or ""),
                          error=error, duration=duration, cost=cost, runtime=runtime, stderr=stderr,
                          currency=spec.cost.currency if spec else "USD")

    async def invoke(self, call: ToolCall, spec: ToolSpec | None = None) -> ToolResult:
        """Run ``call``; failures come back as a ToolResult with ``error`` set, never as exceptions.

        Cancellation of the calling task stops the call (its runtime kills what it started) and
        propagates after a ``call_finished`` event records it.
        """
        bus = self.bus
        recorded = self._recorded(call)
        if bus.wants(CallStarted):
            bus.emit(CallStarted(run_id=call.run_id, call=recorded))
        result: ToolResult | None = None
        token = self._scrub_channel()
        try:
            scrubbed = (recorded.arguments, KNOWN.generation) if self.scrub_secrets else None
            result = await self._invoke(call, spec, scrubbed)
            return result
        except anyio.get_cancelled_exc_class():
            result = self._fail(call, spec, ToolError(kind=ErrorKind.CANCELLED, message="the call was cancelled"))
            raise
        finally:
            if token is not None:
                reset_channel(token)
            if result is not None and bus.wants(CallFinished):
                bus.emit(CallFinished(run_id=call.run_id, call=recorded, result=result))

    def _recorded(self, call: ToolCall) -> ToolCall:
        """``call`` as events and records may hold it: its arguments scrubbed (the tool gets the real ones).

        Scrubbing here, first, also makes the values of secret-named arguments known secrets, so an echo
        of them in the output, an error or a log is removed too.
        """
        if not self.scrub_secrets or not call.arguments:
            return call
        arguments = scrub(call.arguments)
        return call if arguments is call.arguments else call.model_copy(update={"arguments": arguments})

    def _declare_secrets_of(self, spec: ToolSpec) -> None:
        if spec.entry.env and self.scrub_secrets:
            declare_named_secrets(spec.entry.env)  # a tool's secret-named environment: `API_TOKEN: …`

    def _scrub_outcome(self, outcome: RuntimeOutcome) -> None:
        # Credentials a tool printed or returned never leave the runtime: not to the caller, the store,
        # MLflow or an MCP client. (Its error is scrubbed where every failed result is made: _fail.)
        if self.scrub_secrets:
            outcome.output = scrub(outcome.output)
            if outcome.stderr:
                outcome.stderr = scrub_text(outcome.stderr)

    def _scrub_channel(self) -> Any:
        """Around a call with a caller's channel (an MCP client): progress messages and log records it sends
        back are scrubbed first. Returns the token to reset, or None (no channel: nothing to wrap)."""
        channel = _channel.get()  # as the MCP layer reads it: no default channel built for nothing
        if channel is None or not self.scrub_secrets or type(channel) is CallChannel \
                or isinstance(channel, ScrubbingChannel):
            return None
        return use_channel(ScrubbingChannel(channel))

    async def decide(self, call: ToolCall, spec: ToolSpec, *, cached: bool = False) -> ToolError | None:
        """Ask the governance about ``call`` of ``spec`` in the runtime it would run in (``cached``: served
        from the result cache); the DENIED error, scrubbed, or None when it may go ahead."""
        runtime = self.governance.floor.choose(spec, call.runtime)
        denied, _ = await self._decide(CallPlan(call=call, spec=spec, runtime=runtime, cached=cached))
        return None if denied is None else (scrub_error(denied) if self.scrub_secrets else denied)

    async def _decide(self, plan: CallPlan) -> tuple[ToolError | None, str | None]:
        """Ask the governance about ``plan``: the DENIED (or APPROVAL_EXPIRED) error to return (None when it may
        run), and the warning its caller is told (a warn-mode rule, a deprecated tool), scrubbed."""
        decision = await self.governance.decide(plan)
        if decision.allowed:
            return None, (self._warn(plan, decision.warning) if decision.warning else None)
        if decision.decider == FLOOR_DECIDER and plan.spec is not None:
            details: dict[str, Any] = {"min_runtime": self.governance.floor.floor(plan.spec)}
        else:
            details = {"policy": decision.policy}
        kind = ErrorKind.APPROVAL_EXPIRED if decision.decider == EXPIRED_DECIDER else ErrorKind.DENIED
        return ToolError(kind=kind, message=decision.reason or "denied by policy", details=details), None

    def _warn(self, plan: CallPlan, warning: str) -> str:
        """Tell the caller of an allowed call its decision's warning (a warn-mode rule, a deprecated tool): a
        WARNING record, which reaches stderr, and an MCP client through the call's channel (as a log message).
        Returns the text told (scrubbed): the call's result carries it too."""
        text = scrub_text(warning) if self.scrub_secrets else warning
        log.warning("%s: %s", plan.tool, text, extra={WARNING_ATTR: text})
        return text

    async def _invoke(self, call: ToolCall, spec: ToolSpec | None,
                      scrubbed: tuple[dict[str, Any], int] | None = None) -> ToolResult:
        """The pipeline: resolve → validate → choose the runtime → decide → run → check the outcome. ``scrubbed``:
        the arguments as scrubbed for the events, with the generation of the known secrets they were scrubbed
        against — the decision's announcement reuses them while no secret was declared since (by the tool's env)."""
        if spec is None:
            found = self._resolve(call)
            if isinstance(found, ToolResult):
                return found
            spec = found
        self._declare_secrets_of(spec)
        invalid = self._validate(call, spec)
        if invalid is not None:
            return self._fail(call, spec, invalid)
        # The runtime is chosen first, so the gate decides the whole plan (with the runtime it will run in).
        runtime_name = self.governance.floor.choose(spec, call.runtime)
        recorded = scrubbed[0] if scrubbed is not None and scrubbed[1] == KNOWN.generation else None
        denied, warning = await self._decide(CallPlan(call=call, spec=spec, runtime=runtime_name,
                                                      recorded_arguments=recorded))
        if denied is not None:
            return self._fail(call, spec, denied)
        runtime = self.runtimes.get(runtime_name)
        if runtime is None:
            return self._fail(call, spec, ToolError(
                kind=ErrorKind.RUNTIME_ERROR,
                message=f"runtime {runtime_name!r} is not available (have: {', '.join(sorted(self.runtimes))})"))
        result = await self._run(call, spec, runtime_name, runtime)
        if warning is not None:
            result.warnings.append(warning)
        return result

    def _resolve(self, call: ToolCall) -> ToolSpec | ToolResult:
        """Stage 1: the tool ``call`` names, or the NOT_FOUND result."""
        try:
            return self.lookup(call.tool, call.version)
        except (LookupError, ValueError) as exc:
            hint = getattr(exc, "hint", None)
            message = (exc.args[0] if exc.args else str(exc)) + (f" ({hint})" if hint else "")
            return self._fail(call, None, ToolError(kind=ErrorKind.NOT_FOUND, message=message,
                                                    details={"unknown_tool": call.tool}))

    @staticmethod
    def _validate(call: ToolCall, spec: ToolSpec) -> ToolError | None:
        """Stage 2: the INVALID_ARGUMENTS error of ``call``'s arguments, or None when they fit the schema."""
        schema = spec.input_schema or {}
        # Nothing given and nothing required: there is nothing to validate (the common no-argument tool).
        if not call.arguments and not schema.get("required"):
            return None
        if remote_seen() and remote_refs(call.arguments):
            return None  # an output kept on the Dask workers: checked there, with the value, by the worker
        return arguments_error(spec, call.arguments)

    async def _run(self, call: ToolCall, spec: ToolSpec, runtime_name: str, runtime: Runtime) -> ToolResult:
        """Stage 5: run in ``runtime`` under the call's limits (timeout, cancellation), then check the outcome."""
        limits = spec.limits.merged(call.limits)
        started = time.perf_counter()
        stopped = None
        if limits.timeout is None and not ISOLATION.get(runtime_name, 0):
            # An in-process call with no deadline runs bare: a cancel scope would add a third to the cost of
            # the cheapest calls. A kill switch refuses its next calls; this one finishes.
            executor = RUN_EXECUTOR.get() or self.executor
            outcome: RuntimeOutcome | None = await executor.submit(runtime, spec, call, limits)
        else:
            outcome, stopped = await self._run_stoppable(call, spec, runtime, limits)
        duration = time.perf_counter() - started
        if stopped is not None:
            return self._fail(call, spec, ToolError(kind=ErrorKind.DENIED, message=stopped,
                                                    details={"decider": KILL_DECIDER}),
                              duration, spec.cost.actual(duration, None), runtime_name)
        if outcome is None:
            return self._fail(call, spec, ToolError(kind=ErrorKind.TIMEOUT, retryable=True,
                                                    message=f"{spec.ref} timed out after {limits.timeout:g}s"),
                              duration, spec.cost.actual(duration, None), runtime_name)
        self._scrub_outcome(outcome)
        return self._conclude(call, spec, outcome, duration, runtime_name)

    async def _run_stoppable(self, call: ToolCall, spec: ToolSpec, runtime: Runtime,
                             limits: Limits) -> tuple[RuntimeOutcome | None, str | None]:
        """The runtime stage in a cancel scope that ends at the call's timeout and that a kill switch (from any
        process) may cancel while the call is in flight — the runtime then kills what it started. The outcome
        (None when cut short) and why a kill switch stopped it (None when none did)."""
        with anyio.move_on_after(limits.timeout) as scope:
            flight = self.in_flight.add(call.id, spec.name, call.caller.tenant if call.caller else None, scope)
            try:
                executor = RUN_EXECUTOR.get() or self.executor
                return await executor.submit(runtime, spec, call, limits), None
            finally:
                self.in_flight.remove(flight)
        return None, flight.stopped

    def _conclude(self, call: ToolCall, spec: ToolSpec, outcome: RuntimeOutcome, duration: float,
                  runtime_name: str) -> ToolResult:
        """Stage 6: the result of a (scrubbed) outcome — its error named after the tool, its output checked."""
        if outcome.error is not None:
            error = outcome.error if isinstance(outcome.error, ToolError) else ToolError.model_validate(outcome.error)
            if error.kind == ErrorKind.INVALID_ARGUMENTS and not error.message.startswith("invalid arguments for"):
                # The tool's own validation: name the tool, as the schema check does.
                error = error.model_copy(update={"message": f"{spec.ref}: {error.message}".replace(
                    f"{spec.ref}: invalid arguments", f"invalid arguments for {spec.ref}", 1)})
            return self._fail(call, spec, error, duration, spec.cost.actual(duration, None), runtime_name,
                              outcome.stderr)
        if self.check_outputs and spec.output_schema and not is_remote(outcome.output):  # (a worker checked that)
            bad = output_error(spec, outcome.output)
            if bad is not None:
                return self._fail(call, spec, bad, duration, spec.cost.actual(duration, outcome.output), runtime_name,
                                  outcome.stderr)
        return ToolResult(call_id=call.id, tool=spec.name, version=spec.version, output=outcome.output,
                          cost=spec.cost.actual(duration, outcome.output), currency=spec.cost.currency,
                          duration=duration, runtime=runtime_name, stderr=outcome.stderr)
