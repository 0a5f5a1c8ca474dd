"""``toolnexus approvals list|show|approve|deny``: tickets found by prefix or tail, decisions as the OS user
over the ``cli`` channel, and clear errors with exit codes (2: a usage error, 1: a refused decision)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

import toolnexus as tn
from toolnexus.cli import app
from toolnexus.core.caller import Caller, os_user
from toolnexus.core.decision import Decision, Verdict
from toolnexus.governance.approvals import ApprovalQueue
from toolnexus.governance.plan import CallPlan
from toolnexus.store.approvals import ApprovalRecord
from toolnexus.store.sqlite import StateStore

runner = CliRunner()


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["approvals", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def queue(workspace: Path) -> Iterator[ApprovalQueue]:
    store = StateStore(workspace / ".toolnexus" / "state.db")
    yield ApprovalQueue(store)
    store.close()


def _request(queue: ApprovalQueue, *, principal: str = "requester", **conditions: object) -> ApprovalRecord:
    call = tn.ToolCall(tool="files.write", arguments={"path": "out/report.txt", "api_token": "s3cret-value"},
                       caller=Caller(principal=principal), run_id="run-1", step_id="write")
    return queue.request(CallPlan(call=call), Decision(verdict=Verdict.WAIT, policy="writes",
                                                       reason="writes need a review"), **conditions)


def test_list_and_show_the_waiting_calls(queue: ApprovalQueue) -> None:
    code, out, err = invoke("list")
    assert code == 0, err
    record = _request(queue)
    code, out, err = invoke("list", "--json")
    assert code == 0, err
    [listed] = json.loads(out)
    assert listed["ticket"] == record.ticket and listed["status"] == "requested"
    assert listed["arguments"] == {"path": "out/report.txt", "api_token": "***"}  # scrubbed when recorded
    code, out, _ = invoke("list", "--status", "granted", "--json")
    assert json.loads(out) == []
    code, out, err = invoke("show", record.ticket[-6:])
    assert code == 0, err
    assert record.ticket in out and "files.write" in out and "writes need a review" in out
    assert "s3cret-value" not in out


def test_approve_grants_as_the_os_user_over_the_cli(queue: ApprovalQueue) -> None:
    record = _request(queue)
    code, _, err = invoke("approve", record.ticket, "--reason", "fine")
    assert code == 0, err
    assert "granted" in err
    granted = queue.show(record.ticket)
    assert (granted.status, granted.decided_by, granted.channel, granted.scope, granted.decision_reason) == (
        "granted", os_user(), "cli", "call", "fine")
    code, _, err = invoke("approve", record.ticket)
    assert code == 1 and "already granted" in err and "Traceback" not in err


def test_scoped_grants(queue: ApprovalQueue) -> None:
    run = _request(queue)
    assert invoke("approve", run.ticket, "--scope", "run", "--for", "30m")[0] == 0
    granted = queue.show(run.ticket)
    assert granted.scope == "run" and granted.grant_until == pytest.approx(granted.decided_at + 1800)
    pattern = _request(queue)
    code, _, err = invoke("approve", pattern.ticket, "--scope", "pattern", "--match", "path=out/*")
    assert code == 0, err
    granted = queue.show(pattern.ticket)
    assert granted.pattern == {"path": "out/*"} and granted.grant_until == pytest.approx(granted.decided_at + 3600)


def test_deny_needs_a_reason_and_records_it(queue: ApprovalQueue) -> None:
    record = _request(queue)
    code, _, err = invoke("deny", record.ticket)
    assert code == 2 and "--reason" in err
    code, _, err = invoke("deny", record.ticket, "--reason", "not today")
    assert code == 0, err
    denied = queue.show(record.ticket)
    assert (denied.status, denied.decision_reason, denied.decided_by) == ("denied", "not today", os_user())


def test_four_eyes_refuses_the_requester(queue: ApprovalQueue) -> None:
    record = _request(queue, principal=os_user(), four_eyes=True)
    code, _, err = invoke("approve", record.ticket)
    assert code == 1 and "needs an approver other than its requester" in err
    assert queue.show(record.ticket).open


@pytest.mark.parametrize(("args", "message"), [
    (("show", "nope"), "no approval ticket 'nope'"),
    (("approve", "nope"), "no approval ticket 'nope'"),
    (("approve", "TICKET", "--for", "soon"), "is not a duration"),
    (("approve", "TICKET", "--scope", "pattern"), "--scope pattern and --match go together"),
    (("approve", "TICKET", "--match", "path=out/*"), "--scope pattern and --match go together"),
    (("approve", "TICKET", "--scope", "pattern", "--match", "path"), "expected key=value"),
])
def test_mistakes_are_clear_errors_with_exit_2(queue: ApprovalQueue, args: tuple[str, ...], message: str) -> None:
    ticket = _request(queue).ticket
    code, _, err = invoke(*(ticket if a == "TICKET" else a for a in args))
    assert code == 2 and message in err and "Traceback" not in err, err


def test_an_ambiguous_prefix_is_refused(queue: ApprovalQueue) -> None:
    first, second = _request(queue), _request(queue)
    common = next(i for i, (a, b) in enumerate(zip(first.ticket, second.ticket, strict=True)) if a != b)
    code, _, err = invoke("show", first.ticket[:common])
    assert code == 2 and "several approval tickets" in err


def test_an_overdue_ticket_is_expired_not_granted(queue: ApprovalQueue) -> None:
    record = _request(queue, timeout=0)
    code, _, err = invoke("approve", record.ticket)
    assert code == 1 and "already expired" in err
    code, out, _ = invoke("list", "--status", "expired", "--json")
    assert [r["ticket"] for r in json.loads(out)] == [record.ticket]
