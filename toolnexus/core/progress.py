"""A run's progress as its events tell it, without any UI: what each step of one run is doing.

The one state model the CLI's progress display (:class:`toolnexus.cli.progress.ProgressView`) and the notebook's
live run view (:mod:`toolnexus.notebook.runview`) both render: pending, running, retrying (attempt against the
step's attempts), waiting for approval (its rule and ticket), then the step's final status with its error, the
rule that caused it, its duration and cost; ``foreach`` fan-out counts; the run's cost against its budget. Plain
data, no I/O, so it is cheap to update per event; a view renders it when it decides to.

Approvals can be followed two ways. By default, by the approvals queue's events alone (``approval_requested``
with the rule and ticket, then granted, denied, expired or withdrawn): a view that does not take ``GateDecided``,
which comes for every call, takes one event fewer per step (a third less beside a fast run). With
``gate=True``, by the gate's decisions too (:data:`GATE_EVENT_TYPES`): a call parked before its ticket is known
shows as waiting, and the final decision's reason says how it was decided (the CLI, whose approvals are mostly
granted from another process, whose queue events it never sees).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
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
from toolnexus.core.run import RunResult, StepRecord, StepStatus

WAITING = "waiting"  # a display state, not a StepStatus: the step's call is parked for an approval
RETRYING = "retrying"
RUNNING = "running"
PENDING = "pending"
ACTIVE = frozenset({RUNNING, RETRYING, WAITING})
STATES = (PENDING, RUNNING, RETRYING, WAITING, "succeeded", "failed", "skipped", "cancelled")


@dataclass(slots=True)
class StepRow:
    """One step's state as a view shows it."""

    step_id: str
    index: int
    tool: str = ""  # name@version (from the plan, else the tool its first attempt called)
    state: str = PENDING
    attempt: int = 0
    attempts: int = 1  # the attempts its retry policy allows
    started: float | None = None  # clock time its current attempt began (a running duration)
    duration: float | None = None  # its final duration, once finished
    cost: float = 0.0
    note: str = ""
    error: str = ""  # what it failed with (and the rule that caused it), once failed
    failure: ToolError | None = None  # the error itself, for a view that words it otherwise
    rule: str | None = None
    ticket: str | None = None
    items_started: int = 0  # foreach: elements started so far
    items: int | None = None  # foreach: fan-out width, once finished
    foreach: bool = False


@dataclass
class RunModel:
    """The state of one run, updated by :meth:`apply` with each of its events (others' events are ignored).

    ``gate``: follow approvals by the gate's ``GateDecided`` events too (the sink must then take
    :data:`GATE_EVENT_TYPES`, else :data:`EVENT_TYPES`).
    """

    clock: Callable[[], float] = time.monotonic
    gate: bool = False
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
        """``waiting to start`` (no run yet), ``running``, or the run's final status."""
        if self.result is not None:
            return self.result.status.value
        return RUNNING if self.run_id is not None else "waiting to start"

    def elapsed(self) -> float:
        """Seconds the run has taken (so far, or in all)."""
        if self.result is not None:
            return self.result.duration
        return self.clock() - self.started if self.started is not None else 0.0

    def apply(self, event: Event) -> bool:
        """Take one event; True if it changed what a view shows (an event of another run does not)."""
        run_id = self.run_id
        if event.run_id != run_id or run_id is None:
            if type(event) is RunStarted and run_id is None:
                self._started(event)  # the model follows the first run it sees start
                return True
            return False
        handle = _HANDLERS.get(type(event))
        return handle(self, event) if handle is not None else False

    # -- the events ------------------------------------------------------------------------------

    def _started(self, event: RunStarted) -> None:
        self.run_id, self.mission, self.resumed_from = event.run_id, event.mission, event.resumed_from
        self.started, self.result, self.cost = self.clock(), None, 0.0
        plan = event.plan or {}
        budget = plan.get("budget") or {}
        self.budget = budget.get("max_cost")
        self.currency = budget.get("currency") or "USD"
        steps = {step.get("id"): step for step in plan.get("steps", []) if isinstance(step, dict)}
        rows: dict[str, StepRow] = {}
        self.rows = rows
        for index, step_id in enumerate(event.step_ids):  # a row per step of the plan: kept lean, as its events
            step = steps.get(step_id)
            if step is None:
                rows[step_id] = StepRow(step_id, index)
                continue
            retry = step.get("retry")
            rows[step_id] = StepRow(step_id, index, f"{step.get('tool', '')}@{step.get('version', '')}",
                                    attempts=int(retry.get("attempts") or 1) if retry else 1,
                                    foreach=step.get("foreach") is not None)
        self.counts = {PENDING: len(rows)}

    def _row(self, step_id: str) -> StepRow:
        row = self.rows.get(step_id)
        if row is None:  # not in the plan's list (cannot happen today): shown all the same
            row = self.rows[step_id] = StepRow(step_id, len(self.rows))
            self.counts[PENDING] = self.counts.get(PENDING, 0) + 1
        return row

    def _move(self, row: StepRow, state: str) -> None:
        old = row.state
        if old != state:
            counts = self.counts
            counts[old] -= 1
            counts[state] = counts.get(state, 0) + 1
            row.state = state

    def _step_started(self, event: StepStarted) -> bool:
        # Per step of every run: kept lean (a view must cost little beside the engine's own ~0.1 ms a step).
        row = self.rows.get(event.step_id) or self._row(event.step_id)
        attempt = event.attempt
        if event.item is not None:
            row.items_started += 1
            row.foreach = True
        if attempt > row.attempt:
            row.started = self.clock()
            row.attempt = attempt
            if attempt > 1:
                row.note = f"attempt {attempt}/{row.attempts}"
        state = row.state
        if state != RUNNING and state != WAITING:  # a foreach element starting leaves a parked one waiting
            counts = self.counts  # _move inlined: this is the one handler every step's every element runs
            counts[state] -= 1
            counts[RUNNING] = counts.get(RUNNING, 0) + 1
            row.state = RUNNING
        if not row.tool:
            row.tool = event.tool
        return True

    def follow(self, running: dict[str, tuple[int, int]], recorded: Sequence[StepRecord] = ()) -> bool:
        """Take what a live :class:`~toolnexus.engine.RunControl` says — the steps running now (step id →
        attempt, foreach items started) and the steps recorded since the last look — in place of
        ``StepStarted`` and ``StepFinished`` events; True if a row changed. Look at ``running`` first: a step
        that finished in between is then in ``recorded``, which comes after. A step finished here stays
        finished, one parked for an approval stays waiting, and one waiting to retry stays so until its next
        attempt starts."""
        changed = False
        for step_id, (attempt, items) in running.items():
            row = self.rows.get(step_id) or self._row(step_id)
            state = row.state
            if state in _FINAL:
                continue
            advanced = attempt > row.attempt
            if advanced:
                row.started, row.attempt = self.clock(), attempt
                if attempt > 1:
                    row.note = f"attempt {attempt}/{row.attempts}"
            if items != row.items_started:
                row.items_started, row.foreach, changed = items, True, True
            if state == PENDING or (state == RETRYING and advanced):
                self._move(row, RUNNING)
            changed = changed or advanced
        for record in recorded:
            changed = self.take_record(record) or changed
        return changed

    def _step_retrying(self, event: StepRetrying) -> bool:
        row = self._row(event.step_id)
        self._move(row, RETRYING)
        row.attempt = event.attempt - 1
        row.note = f"retry {event.attempt}/{row.attempts} in {event.delay:.1f}s: {event.error.message[:80]}"
        return True

    def _step_finished(self, event: StepFinished) -> bool:
        return self.take_record(event.record)

    def take_record(self, record: StepRecord) -> bool:
        """Take a step's record (from its ``StepFinished`` event, or read from a live control): its final
        state, duration, cost, foreach width and error. True (it changes what a view shows)."""
        row = self.rows.get(record.step_id) or self._row(record.step_id)
        status = _STATUS[record.status]
        old = row.state
        if old != status:  # _move inlined: every step finishes
            counts = self.counts
            counts[old] -= 1
            counts[status] = counts.get(status, 0) + 1
            row.state = status
        row.duration = record.duration
        cost = record.cost
        if cost:
            row.cost = cost
            self.cost += cost
        attempts = record.attempts
        if attempts > row.attempt:
            row.attempt = attempts
        row.items = record.items
        if row.ticket is not None:
            row.rule = row.ticket = None
        if status == "failed" and record.error is not None:
            row.failure = record.error
            row.error = str(record.error)[:300] + rule_of(record.error)
            row.note = ""
        elif record.skip_reason or record.cached or record.resumed or row.note:
            row.note = record.skip_reason or ("cached" if record.cached else "resumed" if record.resumed else "")
        return True

    def _run_finished(self, event: RunFinished) -> bool:
        result = event.result
        for step_id, record in result.steps.items():  # what no event or look told: steps never run, last ones
            row = self.rows.get(step_id)
            if row is None or row.state not in _FINAL:
                self.take_record(record)
        self.result = result
        self.cost = result.cost or self.cost
        for row in self.rows.values():
            row.started = None if row.state not in ACTIVE else row.started
        return True

    # -- approvals ------------------------------------------------------------------------------

    def _governance_changed(self, event: GovernanceChanged) -> bool:
        """A step's call parked for an approval (its rule and ticket), or that approval decided."""
        step_id = event.details.get("step_id")
        if not isinstance(step_id, str) or not event.action.startswith("approval_"):
            return False
        if event.action == "approval_requested":
            rule = event.details.get("rule")
            return self._waiting(step_id, rule if isinstance(rule, str) else None, event.target)
        row = self.rows.get(step_id)
        if self.gate or row is None or row.state != WAITING or row.ticket != event.target:
            return False  # (following the gate, its final decision tells the verdict, with its reason)
        verdict = event.action.removeprefix("approval_")
        who = f" by {event.by}" if event.by else ""
        row.note = f"approval {verdict}{who}" + (f": {event.reason[:100]}" if event.reason else "")
        if verdict == "granted":  # it runs on; otherwise it fails, which its StepFinished shows
            self._move(row, RUNNING)
            row.rule = row.ticket = None
        return True

    def _gate_decided(self, event: GateDecided) -> bool:
        """A step's call parked (waiting) or, once parked, decided: it runs on (or fails, which StepFinished shows)."""
        step_id = event.call.step_id
        if not self.gate or step_id is None:
            return False  # not followed, or not a mission step's call
        decision = event.decision
        if decision.waiting:
            return self._waiting(step_id, decision.policy, decision.ticket)
        row = self.rows.get(step_id)
        if row is None or row.state != WAITING:
            return False
        self._move(row, RUNNING if decision.allowed else "failed")
        row.note = decision.reason[:100]
        row.rule = row.ticket = None
        return True

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
    GovernanceChanged: RunModel._governance_changed,
    GateDecided: RunModel._gate_decided,
}
EVENT_TYPES = (RunStarted, StepStarted, StepRetrying, StepFinished, RunFinished, GovernanceChanged)
"""What a sink following approvals by the approvals queue's events takes (the bus builds no other for it)."""
LIVE_EVENT_TYPES = tuple(kind for kind in EVENT_TYPES if kind not in (StepStarted, StepFinished))
"""What a sink that learns of running and recorded steps from a live RunControl (:meth:`RunModel.follow`)
takes: no event per step (the engine then builds no StepStarted), only the run's own and the rare ones."""
GATE_EVENT_TYPES = (*EVENT_TYPES, GateDecided)
"""What a sink of a model with ``gate=True`` takes."""
_STATUS = {status: status.value for status in StepStatus}
_FINAL = frozenset(_STATUS.values()) - {RUNNING, PENDING}


def waiting_note(rule: str | None, ticket: str | None) -> str:
    """``waiting for approval: rule R, ticket T`` (what is known of it)."""
    known = ", ".join(part for part in (f"rule {rule}" if rule else "", f"ticket {ticket}" if ticket else "") if part)
    return f"waiting for approval: {known}" if known else "waiting for approval"


def rule_of(error: ToolError) -> str:
    """`` (rule R)`` for an error a policy rule caused, when its message does not name the rule already."""
    rule = error.details.get("policy")
    return f" (rule {rule})" if isinstance(rule, str) and rule and rule not in error.message else ""
