"""Run events: the one stream every observer (progress, store, tracking, audit) subscribes to."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, Protocol

from pydantic import BaseModel, Field

from toolnexus.core.call import ToolCall, ToolResult
from toolnexus.core.caller import Caller
from toolnexus.core.decision import Decision
from toolnexus.core.errors import ToolError
from toolnexus.core.run import RunResult, StepRecord, utcnow


class Event(BaseModel):
    """What every event carries: its ``type`` tag, the run it belongs to (None for a direct call) and when."""

    type: str
    run_id: str | None = None
    at: datetime = Field(default_factory=utcnow)


class RunStarted(Event):
    """A mission run began: what is run (mission, plan and its hash, inputs, source), so it can be resumed."""

    type: Literal["run_started"] = "run_started"
    mission: str
    mission_version: str | None = None
    plan_hash: str
    inputs: dict[str, Any] = Field(default_factory=dict)
    plan: dict[str, Any] | None = None  # the compiled plan, JSON form, so a run can be resumed
    source: str | None = None  # the mission text as run
    source_path: str | None = None
    resumed_from: str | None = None
    step_ids: list[str] = Field(default_factory=list)
    # Who started the run (each step's call carries this caller) and the run's correlation id (its steps' too).
    caller: Caller | None = None
    correlation_id: str | None = None
    executor: str | None = None  # what dispatches its steps' calls (``dask``), when the run was given its own


class StepStarted(Event):
    """An attempt of a step began running (not queued); ``item`` is the element index of a foreach step."""

    type: Literal["step_started"] = "step_started"
    step_id: str
    tool: str
    attempt: int = 1
    item: int | None = None


class StepRetrying(Event):
    """A step's attempt failed with a retryable ``error``; attempt ``attempt`` follows after ``delay`` seconds."""

    type: Literal["step_retrying"] = "step_retrying"
    step_id: str
    attempt: int
    error: ToolError
    delay: float


class StepFinished(Event):
    """A step reached its final status (succeeded, failed, skipped, cancelled, or kept from a resumed run)."""

    type: Literal["step_finished"] = "step_finished"
    record: StepRecord


class RunFinished(Event):
    """A mission run ended, however it ended; ``result`` is what the caller gets back."""

    type: Literal["run_finished"] = "run_finished"
    result: RunResult


class CallStarted(Event):
    """A tool call entered the invocation path (a mission step's attempt or a direct call), arguments scrubbed."""

    type: Literal["call_started"] = "call_started"
    call: ToolCall


class CallFinished(Event):
    """A tool call came back, with its result or error (a cancelled call included)."""

    type: Literal["call_finished"] = "call_finished"
    call: ToolCall
    result: ToolResult


class GateDecided(Event):
    """The gate decided a call (or a prompt or resource read): emitted for every decision, allow included.

    ``subject`` is what was decided: ``tool`` (a call, or a cached result about to be served when
    ``cached``), ``prompt`` or ``resource``; ``call`` holds its name and (scrubbed) arguments.
    """

    type: Literal["gate_decided"] = "gate_decided"
    call: ToolCall
    decision: Decision
    subject: Literal["tool", "prompt", "resource"] = "tool"
    runtime: str | None = None
    cached: bool = False


GovernanceAction = Literal[
    "approval_requested", "approval_granted", "approval_denied", "approval_expired", "approval_withdrawn",
    "kill", "unkill", "policy_loaded", "policy_rejected", "flag_changed", "lifecycle_changed",
]


class GovernanceChanged(Event):
    """Something changed what the gate will decide, or a parked call's fate: an approval requested, granted,
    denied, expired or withdrawn; a kill switch set or lifted; a policy (re)loaded or refused; a flag changed.

    ``target`` is what it is about (a ticket, a tool name or glob, a policy file); ``by`` who did it (a
    principal; None for the system, e.g. an expiry); ``details`` the rest (scrubbed before it is recorded).
    """

    type: Literal["governance_changed"] = "governance_changed"
    action: GovernanceAction
    target: str
    by: str | None = None
    reason: str = ""
    details: dict[str, Any] = Field(default_factory=dict)


class EventSink(Protocol):
    """Anything that wants run events. Called inline, in order; must be quick and must not raise.

    A sink may also have an ``event_types`` attribute, a collection of :class:`Event` subclasses: it
    is then sent only those (and events nobody asked for are never built). Without one it gets all.
    """

    def __call__(self, event: Event) -> None:
        """Take one event; return at once (hand slow work such as I/O to a thread of your own)."""
        ...
