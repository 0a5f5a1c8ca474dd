"""The progress display shows a step whose call waits for an approval — the rule, the ticket and the command
that grants it — and clears it when the call is decided and the step runs on."""

from __future__ import annotations

import io

from rich.console import Console

from toolnexus.cli.progress import WAITING, ProgressView, waiting_note
from toolnexus.core.call import ToolCall
from toolnexus.core.decision import Decision, Verdict
from toolnexus.core.errors import ErrorKind, ToolError
from toolnexus.core.events import GateDecided, GovernanceChanged, RunStarted, StepFinished, StepStarted
from toolnexus.core.run import StepRecord, StepStatus

RUN = "run-1"
RULE = "reviewed-reports"
TICKET = "apr-0123456789"
WRITE = ToolCall(tool="files.write", arguments={"path": "out/r.md"}, run_id=RUN, step_id="publish")


def view(live: bool) -> tuple[ProgressView, io.StringIO]:
    """A view writing to a wide in-memory console, with the run started and its publish step running."""
    text = io.StringIO()
    shown = ProgressView(Console(file=text, width=300, force_terminal=False, color_system=None), live=live)
    shown(RunStarted(run_id=RUN, mission="m", plan_hash="h", step_ids=["render", "publish"]))
    shown(StepStarted(run_id=RUN, step_id="publish", tool="files.write"))
    return shown, text


def park(shown: ProgressView) -> None:
    """What the gate and the approvals queue announce when the publish step's call is parked."""
    shown(GateDecided(run_id=RUN, call=WRITE, decision=Decision(verdict=Verdict.WAIT, policy=RULE,
                                                                reason="a person reviews every report")))
    shown(GovernanceChanged(action="approval_requested", target=TICKET, run_id=RUN, by="alice",
                            details={"tool": "files.write", "rule": RULE, "step_id": "publish"}))


def release(shown: ProgressView) -> None:
    """The parked call granted (the final decision), then the step finishing."""
    shown(GateDecided(run_id=RUN, call=WRITE, decision=Decision(
        verdict=Verdict.ALLOW, decider="approval", policy=RULE, ticket=TICKET,
        reason=f"approved of bob (ticket {TICKET})")))
    assert shown.rows["publish"]["state"] == "running"
    shown(StepFinished(run_id=RUN, record=StepRecord(step_id="publish", tool="files.write", version="1.0.0",
                                                     status=StepStatus.SUCCEEDED, attempts=1, duration=0.2)))


def rendered(shown: ProgressView) -> str:
    """The live table as text."""
    text = io.StringIO()
    Console(file=text, width=300, color_system=None).print(shown)
    return text.getvalue()


def test_the_waiting_note_names_the_rule_the_ticket_and_the_command() -> None:
    assert waiting_note(RULE, TICKET) == (f"waiting for approval: rule {RULE}, ticket {TICKET} — "
                                          f"toolnexus approvals approve {TICKET}")
    assert waiting_note(RULE, None) == f"waiting for approval: rule {RULE}"
    assert waiting_note(None, None) == "waiting for approval"


def test_the_live_table_shows_a_waiting_step_until_it_resumes() -> None:
    shown, _ = view(live=True)
    try:
        shown(GateDecided(run_id=RUN, call=WRITE, decision=Decision(verdict=Verdict.WAIT, policy=RULE)))
        assert shown.rows["publish"]["state"] == WAITING  # parked before the queue names its ticket
        assert shown.rows["publish"]["note"] == waiting_note(RULE, None)
        park(shown)
        assert shown.rows["publish"]["note"] == waiting_note(RULE, TICKET)
        table = rendered(shown)
        assert "⏸" in table and f"toolnexus approvals approve {TICKET}" in table
        release(shown)
        assert shown.rows["publish"]["state"] == "succeeded"
        assert "waiting" not in rendered(shown)
    finally:
        if shown.live is not None:
            shown.live.stop()


def test_without_a_terminal_a_line_tells_of_the_wait_and_one_of_the_resumption() -> None:
    shown, text = view(live=False)
    park(shown)
    park(shown)  # told again (an event repeated): still one line for the ticket
    release(shown)
    lines = text.getvalue().splitlines()
    assert lines[0] == f"  ⏸ publish — {waiting_note(RULE, TICKET)}"
    assert lines[1] == f"  … publish resumed — approved of bob (ticket {TICKET})"
    assert lines[2].startswith("  ✓ publish")
    assert len(lines) == 3


def test_a_denied_call_leaves_the_wait_and_direct_calls_are_ignored() -> None:
    shown, text = view(live=False)
    direct = ToolCall(tool="files.write")  # no run, no step: not the display's business
    shown(GateDecided(call=direct, decision=Decision(verdict=Verdict.WAIT, policy=RULE)))
    shown(GovernanceChanged(action="approval_requested", target="apr-other", details={"step_id": None}))
    assert set(shown.rows) == {"render", "publish"} and shown.rows["publish"]["state"] == "running"
    park(shown)
    shown(GateDecided(run_id=RUN, call=WRITE, decision=Decision(
        verdict=Verdict.DENY, decider="approval", policy=RULE, ticket=TICKET, reason="numbers not checked yet")))
    assert shown.rows["publish"]["state"] == "failed"
    assert shown.rows["publish"]["note"] == "numbers not checked yet"
    assert "resumed" not in text.getvalue()


def test_the_view_reads_only_the_events_it_shows() -> None:
    assert {GateDecided, GovernanceChanged, StepStarted, StepFinished} <= set(ProgressView.event_types)


def test_a_step_a_rule_refused_names_the_rule() -> None:
    shown, text = view(live=False)
    denied = ToolError(kind=ErrorKind.DENIED, message="writes go under out/", details={"policy": "no-other-writes"})
    shown(StepFinished(run_id=RUN, record=StepRecord(step_id="publish", tool="files.write", version="1.0.0",
                                                     status=StepStatus.FAILED, error=denied)))
    assert text.getvalue().rstrip().endswith("denied: writes go under out/ (rule no-other-writes)")
    named = ToolError(kind=ErrorKind.DENIED, message="policy rule no-other-writes denies it",
                      details={"policy": "no-other-writes"})
    shown(StepFinished(run_id=RUN, record=StepRecord(step_id="render", tool="text.render", version="1.0.0",
                                                     status=StepStatus.FAILED, error=named)))
    assert text.getvalue().rstrip().endswith("denied: policy rule no-other-writes denies it")  # said once
