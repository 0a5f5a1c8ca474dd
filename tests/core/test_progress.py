"""The run progress model the CLI's display and the notebook's live view both render: each step's state from
the run's events, approvals followed by the approvals queue's events or by the gate's decisions."""

from __future__ import annotations

from toolnexus.core.call import ToolCall
from toolnexus.core.decision import Decision, Verdict
from toolnexus.core.errors import ErrorKind, ToolError
from toolnexus.core.events import (
    GateDecided,
    GovernanceChanged,
    RunStarted,
    StepFinished,
    StepRetrying,
    StepStarted,
)
from toolnexus.core.progress import (
    EVENT_TYPES,
    GATE_EVENT_TYPES,
    PENDING,
    RUNNING,
    WAITING,
    RunModel,
    waiting_note,
)
from toolnexus.core.run import StepRecord, StepStatus

RUN = "run-1"
RULE = "reviewed-reports"
TICKET = "apr-0123456789"
PLAN = {"steps": [
    {"id": "fetch", "tool": "http.fetch", "version": "1.0.0", "retry": {"attempts": 3}},
    {"id": "each", "tool": "text.render", "version": "1.0.0", "foreach": ["a", "b"]},
]}
WRITE = ToolCall(tool="files.write", run_id=RUN, step_id="each")


def started(gate: bool = False) -> RunModel:
    """A model of run RUN, just started (its clock a constant: no timing is asserted)."""
    model = RunModel(clock=lambda: 5.0, gate=gate)
    assert model.apply(RunStarted(run_id=RUN, mission="m", plan_hash="h", plan=PLAN, step_ids=["fetch", "each"]))
    return model


def requested(ticket: str = TICKET) -> GovernanceChanged:
    """What the approvals queue announces when the ``each`` step's call is parked."""
    return GovernanceChanged(action="approval_requested", target=ticket, run_id=RUN, by="alice",
                             details={"rule": RULE, "step_id": "each"})


def test_steps_start_pending_with_their_tool_and_attempts_from_the_plan() -> None:
    model = started()
    fetch = model.rows["fetch"]
    assert (fetch.state, fetch.tool, fetch.attempts, fetch.foreach) == (PENDING, "http.fetch@1.0.0", 3, False)
    assert model.rows["each"].foreach and model.counts == {PENDING: 2}


def test_a_retried_step_counts_its_attempts_and_a_failure_keeps_its_error_and_rule() -> None:
    model = started()
    model.apply(StepStarted(run_id=RUN, step_id="fetch", tool="http.fetch"))
    boom = ToolError(kind=ErrorKind.TIMEOUT, message="too slow")
    model.apply(StepRetrying(run_id=RUN, step_id="fetch", attempt=2, error=boom, delay=0.5))
    assert model.rows["fetch"].note == "retry 2/3 in 0.5s: too slow" and model.counts["retrying"] == 1
    model.apply(StepStarted(run_id=RUN, step_id="fetch", tool="http.fetch", attempt=2))
    assert model.rows["fetch"].note == "attempt 2/3" and model.counts[RUNNING] == 1
    denied = ToolError(kind=ErrorKind.DENIED, message="no hosts but ours", details={"policy": "allowed-hosts"})
    model.apply(StepFinished(run_id=RUN, record=StepRecord(step_id="fetch", tool="http.fetch", version="1.0.0",
                                                           status=StepStatus.FAILED, attempts=2, error=denied)))
    row = model.rows["fetch"]
    assert row.failure == denied and row.error == "denied: no hosts but ours (rule allowed-hosts)"
    assert (row.state, row.attempt, row.note) == ("failed", 2, "")
    assert model.counts == {PENDING: 1, RUNNING: 0, "retrying": 0, "failed": 1}


def test_only_the_first_run_seen_is_followed() -> None:
    model = RunModel()
    assert not model.apply(StepStarted(step_id="fetch", tool="t"))  # no run yet: not taken as one
    assert model.rows == {}
    model.apply(RunStarted(run_id=RUN, mission="m", plan_hash="h", step_ids=["fetch"]))
    assert not model.apply(RunStarted(run_id="run-2", mission="m", plan_hash="h", step_ids=["other"]))
    assert not model.apply(StepStarted(run_id="run-2", step_id="fetch", tool="t"))
    assert list(model.rows) == ["fetch"] and model.rows["fetch"].state == PENDING


def test_by_the_queue_alone_a_step_waits_with_its_rule_and_ticket_until_granted() -> None:
    model = started()
    model.apply(StepStarted(run_id=RUN, step_id="each", tool="text.render", item=0))
    assert not model.apply(GateDecided(run_id=RUN, call=WRITE, decision=Decision(verdict=Verdict.WAIT)))
    assert model.rows["each"].state == RUNNING  # the gate's decisions are not followed
    model.apply(requested())
    row = model.rows["each"]
    assert (row.state, row.rule, row.ticket) == (WAITING, RULE, TICKET)
    assert row.note == waiting_note(RULE, TICKET)
    model.apply(StepStarted(run_id=RUN, step_id="each", tool="text.render", item=1))
    assert row.state == WAITING and row.items_started == 2  # an element starting leaves the parked one waiting
    assert not model.apply(GovernanceChanged(action="approval_granted", target="apr-other", run_id=RUN,
                                             details={"step_id": "each"}))
    model.apply(GovernanceChanged(action="approval_granted", target=TICKET, run_id=RUN, by="bob", reason="fine",
                                  details={"step_id": "each"}))
    assert (row.state, row.note, row.ticket) == (RUNNING, "approval granted by bob: fine", None)


def test_by_the_gate_a_step_waits_before_its_ticket_and_runs_on_with_the_decisions_reason() -> None:
    model = started(gate=True)
    model.apply(StepStarted(run_id=RUN, step_id="each", tool="text.render"))
    model.apply(GateDecided(run_id=RUN, call=WRITE, decision=Decision(verdict=Verdict.WAIT, policy=RULE)))
    row = model.rows["each"]
    assert (row.state, row.note) == (WAITING, waiting_note(RULE, None))
    model.apply(requested())
    assert row.ticket == TICKET
    assert not model.apply(GovernanceChanged(action="approval_granted", target=TICKET, run_id=RUN, by="bob",
                                             details={"step_id": "each"}))  # the gate's decision tells it
    model.apply(GateDecided(run_id=RUN, call=WRITE, decision=Decision(
        verdict=Verdict.ALLOW, decider="approval", policy=RULE, ticket=TICKET, reason="approved of bob")))
    assert (row.state, row.note, row.rule, row.ticket) == (RUNNING, "approved of bob", None, None)


def test_by_the_gate_a_denied_call_fails_its_step_and_allowed_calls_that_never_waited_change_nothing() -> None:
    model = started(gate=True)
    model.apply(StepStarted(run_id=RUN, step_id="each", tool="text.render"))
    assert not model.apply(GateDecided(run_id=RUN, call=WRITE, decision=Decision(verdict=Verdict.ALLOW)))
    model.apply(requested())
    model.apply(GateDecided(run_id=RUN, call=WRITE, decision=Decision(verdict=Verdict.DENY, reason="not today")))
    assert (model.rows["each"].state, model.rows["each"].note) == ("failed", "not today")


def test_the_event_types_a_sink_takes_include_the_gates_only_when_it_follows_the_gate() -> None:
    assert GateDecided not in EVENT_TYPES and GateDecided in GATE_EVENT_TYPES
    assert set(EVENT_TYPES) < set(GATE_EVENT_TYPES)


def test_following_a_live_control_moves_pending_steps_to_running_with_their_items() -> None:
    model = started()
    assert model.follow({"fetch": (1, 0), "each": (1, 2)})
    assert model.rows["fetch"].state == RUNNING and model.rows["fetch"].attempt == 1
    each = model.rows["each"]
    assert (each.state, each.items_started, each.foreach) == (RUNNING, 2, True)
    assert model.counts == {PENDING: 0, RUNNING: 2}
    assert not model.follow({"fetch": (1, 0), "each": (1, 2)})  # the same look again changes nothing


def test_following_never_undoes_a_finish_a_wait_for_approval_or_a_retry_not_yet_begun() -> None:
    model = started()
    model.follow({"fetch": (1, 0), "each": (1, 1)})
    model.apply(StepFinished(run_id=RUN, record=StepRecord(step_id="each", tool="t", version="1",
                                                                 status=StepStatus.SUCCEEDED)))
    model.apply(StepRetrying(run_id=RUN, step_id="fetch", attempt=2, delay=1.0,
                             error=ToolError(kind=ErrorKind.TIMEOUT, message="slow")))
    model.follow({"fetch": (1, 0), "each": (1, 1)})  # a look taken before the retry and the finish
    assert model.rows["each"].state == "succeeded"
    assert model.rows["fetch"].state == "retrying"
    model.follow({"fetch": (2, 0)})  # its second attempt began
    assert model.rows["fetch"].state == RUNNING and model.rows["fetch"].note == "attempt 2/3"
    model.follow({"each": (1, 2)})  # a stale look at a finished step
    assert model.rows["each"].state == "succeeded"
    waiting = started()
    waiting.apply(requested())
    waiting.follow({"each": (1, 1)})
    assert waiting.rows["each"].state == WAITING and waiting.rows["each"].items_started == 1
