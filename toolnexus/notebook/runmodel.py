"""The live run view's state, without any UI: what each step of one run is doing, fed by the run's events.

It mirrors the state logic of the CLI's progress display (:class:`toolnexus.cli.progress.ProgressView`: pending,
running, retrying, waiting for approval with its rule and ticket, then the step's final status) and adds what
the notebook view shows beside it: retry counts against the step's attempts, ``foreach`` fan-out counts, each
step's cost against the run's budget and running durations. Plain data, so it is cheap to update per event and
rendered only when the view decides to (at most 10 times a second).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from toolnexus.core.errors import ToolError
from toolnexus.core.events import (
    Event,
    GateDecided,
    GovernanceChanged,
    RunFinished,
    RunStarted,
    StepFinished,
    StepRetrying,
    StepStarted,
)
from toolnexus.core.run import RunResult, StepStatus

WAITING = "waiting"  # a display state, not a StepStatus: the step's call is parked for an approval
RETRYING = "retrying"
RUNNING = "running"
PENDING = "pending"
ACTIVE = frozenset({RUNNING, RETRYING, WAITING})
STATES = (PENDING, RUNNING, RETRYING, WAITING, "succeeded", "failed", "skipped", "cancelled")


@dataclass
class StepRow:
    """One step's state as the view shows it."""

    step_id: str
    index: int
    tool: str = ""
    state: str = PENDING
    attempt: int = 0
    attempts: int = 1  # the attempts its retry policy allows
    started: float | None = None  # clock time its current attempt began (a running duration)
    duration: float | None = None  # its final duration, once finished
    cost: float = 0.0
    note: str = ""
    error: str = ""
    rule: str | None = None
    ticket: str | None = None
    items_started: int = 0  # foreach: elements started so far
    items: int | None = None  # foreach: fan-out width, once finished
    foreach: bool = False


@dataclass
class RunModel:
    """The state of one run, updated by :meth:`apply` with each of its events (others' events are ignored)."""

    clock: Callable[[], float] = time.monotonic
    run_id: str | None = None
    mission: str = ""
    rows: dict[str, StepRow] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    cost: float = 0.0
    budget: float | None = None
    currency: str = "USD"
    started: float | None = None
    result: RunResult | None = None
    resumed_from: str | None = None

    @property
    def finished(self) -> bool:
        """Whether the run has ended (its result is known)."""
        return self.result is not None

    @property
    def status(self) -> str:
        """``waiting`` (no run yet), ``running``, or the run's final status."""
        if self.result is not None:
            return self.result.status.value
        return RUNNING if self.run_id is not None else "waiting to start"

    def elapsed(self) -> float:
        """Seconds the run has taken (so far, or in all)."""
        if self.result is not None:
            return self.result.duration
        return self.clock() - self.started if self.started is not None else 0.0

    def apply(self, event: Event) -> bool:
        """Take one event; True if it changed what the view shows (an event of another run does not)."""
        if isinstance(event, RunStarted):
            if self.run_id is not None and event.run_id != self.run_id:
                return False  # another run on the same Nexus: this view follows the first it saw
            self._started(event)
            return True
        if self.run_id is None or event.run_id != self.run_id:
            return False
        handle = _HANDLERS.get(type(event))
        return bool(handle(self, event)) if handle is not None else False

    # -- the events ------------------------------------------------------------------------------

    def _started(self, event: RunStarted) -> None:
        self.run_id, self.mission, self.resumed_from = event.run_id, event.mission, event.resumed_from
        self.started, self.result, self.cost = self.clock(), None, 0.0
        plan = event.plan or {}
        budget = plan.get("budget") or {}
        self.budget = budget.get("max_cost")
        self.currency = budget.get("currency") or "USD"
        steps = {step.get("id"): step for step in plan.get("steps", []) if isinstance(step, dict)}
        self.rows = {}
        for index, step_id in enumerate(event.step_ids):
            step = steps.get(step_id, {})
            retry = step.get("retry") or {}
            self.rows[step_id] = StepRow(step_id, index, tool=f"{step.get('tool', '')}@{step.get('version', '')}"
                                         if step else "", attempts=int(retry.get("attempts") or 1),
                                         foreach=step.get("foreach") is not None)
        self.counts = {PENDING: len(self.rows)}

    def _row(self, step_id: str) -> StepRow:
        row = self.rows.get(step_id)
        if row is None:  # not in the plan's list (cannot happen today): shown all the same
            row = self.rows[step_id] = StepRow(step_id, len(self.rows))
            self.counts[PENDING] = self.counts.get(PENDING, 0) + 1
        return row

    def _move(self, row: StepRow, state: str) -> None:
        if row.state != state:
            self.counts[row.state] = self.counts.get(row.state, 1) - 1
            self.counts[state] = self.counts.get(state, 0) + 1
            row.state = state

    def _step_started(self, event: StepStarted) -> bool:
        row = self._row(event.step_id)
        if event.item is not None:
            row.items_started += 1
            row.foreach = True
        if row.state in (PENDING, RETRYING) or event.attempt > row.attempt:
            row.started = self.clock()
        row.attempt = max(row.attempt, event.attempt)
        row.tool = row.tool or event.tool
        row.note = f"attempt {row.attempt}/{row.attempts}" if row.attempt > 1 else ""
        if row.state != WAITING:
            self._move(row, RUNNING)
        return True

    def _step_retrying(self, event: StepRetrying) -> bool:
        row = self._row(event.step_id)
        self._move(row, RETRYING)
        row.attempt = event.attempt - 1
        row.note = (f"retry {event.attempt}/{row.attempts} in {event.delay:.1f}s: {event.error.message[:80]}")
        return True

    def _step_finished(self, event: StepFinished) -> bool:
        record = event.record
        row = self._row(record.step_id)
        self._move(row, record.status.value)
        row.tool = f"{record.tool}@{record.version}"
        row.duration, row.started = record.duration, None
        row.cost = record.cost
        self.cost += record.cost
        row.attempt = max(row.attempt, record.attempts)
        row.rule = row.ticket = None
        row.items = record.items
        row.error = ""
        if record.status == StepStatus.FAILED and record.error is not None:
            row.error = str(record.error)[:300] + rule_of(record.error)
            row.note = ""
        else:
            row.note = record.skip_reason or ("cached" if record.cached else "resumed" if record.resumed else "")
        return True

    def _run_finished(self, event: RunFinished) -> bool:
        self.result = event.result
        self.cost = event.result.cost or self.cost
        for row in self.rows.values():
            row.started = None if row.state not in ACTIVE else row.started
        return True

    def _gate_decided(self, event: GateDecided) -> bool:
        step_id = event.call.step_id
        if step_id is None:
            return False  # not a mission step's call
        decision = event.decision
        if decision.waiting:
            return self._waiting(step_id, decision.policy, decision.ticket)
        row = self.rows.get(step_id)
        if row is None or row.state != WAITING:
            return False
        self._move(row, RUNNING if decision.allowed else "failed")
        row.note, row.rule, row.ticket = decision.reason[:120], None, None
        return True

    def _governance_changed(self, event: GovernanceChanged) -> bool:
        step_id = event.details.get("step_id")
        if event.action != "approval_requested" or not isinstance(step_id, str):
            return False
        rule = event.details.get("rule")
        return self._waiting(step_id, rule if isinstance(rule, str) else None, event.target)

    def _waiting(self, step_id: str, rule: str | None, ticket: str | None) -> bool:
        row = self._row(step_id)
        self._move(row, WAITING)
        row.rule, row.ticket = rule or row.rule, ticket or row.ticket
        row.note = waiting_note(row.rule, row.ticket)
        return True


_HANDLERS: dict[type[Event], Callable[[RunModel, Any], bool]] = {
    StepStarted: RunModel._step_started,
    StepRetrying: RunModel._step_retrying,
    StepFinished: RunModel._step_finished,
    RunFinished: RunModel._run_finished,
    GateDecided: RunModel._gate_decided,
    GovernanceChanged: RunModel._governance_changed,
}
EVENT_TYPES = (RunStarted, *_HANDLERS)


def waiting_note(rule: str | None, ticket: str | None) -> str:
    """``waiting for approval: rule R, ticket T`` (what is known of it)."""
    known = ", ".join(part for part in (f"rule {rule}" if rule else "", f"ticket {ticket}" if ticket else "") if part)
    return f"waiting for approval: {known}" if known else "waiting for approval"


def rule_of(error: ToolError) -> str:
    """`` (rule R)`` for an error a policy rule caused, when its message does not name the rule already."""
    rule = error.details.get("policy")
    return f" (rule {rule})" if isinstance(rule, str) and rule and rule not in error.message else ""
