"""The governance review widget, driven through its ipywidgets model on a real workspace: a parked call shows
up live and Approve / Deny release it (recording the approver), four eyes refuses with a message, kill
switches set and lifted from the widget refuse and allow calls, the decisions filter, the observe counts, and
the audit status before and after a row is tampered with."""

from __future__ import annotations

import sqlite3
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import toolnexus as tn
from tests.engine.support import wait_until
from toolnexus.core.call import ToolResult
from toolnexus.notebook.review import ReviewWidget, review
from toolnexus.notebook.review_cards import TicketCard
from toolnexus.notebook.review_data import NoStore
from toolnexus.registry import spec_of

POLICY = """
rules:
  - id: reviewed-echo
    effect: approve
    mode: enforce
    tools: review.echo
    reason: echoes are reviewed
  - id: eyes
    effect: approve
    mode: enforce
    tools: review.guarded
    four_eyes: true
  - id: watch-free
    effect: deny
    mode: observe
    tools: review.free
  - id: maybe-free
    effect: approve
    mode: observe
    tools: review.free
"""

MISSION = """
mission: reviewed
steps:
  - id: first
    uses: review.echo
    with: {value: one}
  - id: second
    uses: review.echo
    needs: first
    with: {value: two}
"""


@tn.tool(name="review.echo", register=False)
def echo(value: str) -> str:
    """Return ``value``."""
    return value


@tn.tool(name="review.guarded", register=False)
def guarded(value: str) -> str:
    """Return ``value`` (its rule asks for four eyes)."""
    return value


@tn.tool(name="review.free", register=False)
def free(value: str) -> str:
    """Return ``value`` (only observed)."""
    return value


def write_workspace(root: Path, extra: str = "") -> None:
    """A workspace whose policy sends review.echo and review.guarded for approval and observes review.free."""
    (root / "policies").mkdir(exist_ok=True)
    (root / "policies" / "main.yaml").write_text(textwrap.dedent(POLICY).lstrip())
    (root / "toolnexus.toml").write_text(f'[governance]\npolicies = ["policies/*.yaml"]\n{extra}')


@pytest.fixture
def governed(workspace: Path) -> Iterator[tn.Nexus]:
    """A Nexus on a workspace with the review policy and tools, closed afterwards."""
    write_workspace(workspace, "guard_loosening = true\n")
    with tn.Nexus(workspace) as nexus:
        for function in (echo, guarded, free):
            nexus.registry.register(spec_of(function))
        yield nexus


@pytest.fixture
def widget(governed: tn.Nexus) -> Iterator[ReviewWidget]:
    """The live review widget on the governed workspace, approving as ``alice``."""
    shown = review(governed, approver="alice")
    yield shown
    shown.close()


class Parked:
    """A call made on its own thread (it blocks while it waits for approval) and its result."""

    def __init__(self, nexus: tn.Nexus, tool: str, **arguments: Any) -> None:
        self.result: ToolResult | None = None
        self.thread = threading.Thread(target=self._call, args=(nexus, tool, arguments), daemon=True)
        self.thread.start()

    def _call(self, nexus: tn.Nexus, tool: str, arguments: dict[str, Any]) -> None:
        self.result = nexus.call(tool, arguments)

    def wait(self) -> ToolResult:
        """The result, once the call ended."""
        self.thread.join(60)
        assert self.result is not None, "the call did not end"
        return self.result


def card_for(widget: ReviewWidget, tool: str) -> TicketCard:
    """The card of the waiting call of ``tool``, once the widget shows it (it follows the store on its own)."""
    wait_until(lambda: any(c.record.tool == tool for c in widget.queue.children), 30, f"{tool} in the queue")
    return next(c for c in widget.queue.children if c.record.tool == tool)  # type: ignore[attr-defined]


def test_a_parked_call_appears_live_and_approve_releases_it_recording_the_approver(
        governed: tn.Nexus, widget: ReviewWidget) -> None:
    assert "no call is waiting" in widget.empty.value and widget.empty.layout.display is None
    call = Parked(governed, "review.echo", value="secret-free")
    card = card_for(widget, "review.echo")
    assert "reviewed-echo" in card.header.value and "secret-free" in card.header.value
    assert "expires in" in card.header.value and f"{governed.caller.principal} over" in card.header.value
    assert widget.tabs.titles[0] == "Approvals (1)"
    card.reason.value = "looks fine"
    card.approve.click()
    result = call.wait()
    assert result.ok and result.output == "secret-free"
    granted = governed.approvals.show(card.record.ticket)  # type: ignore[union-attr]
    assert (granted.status, granted.decided_by, granted.scope, granted.channel, granted.decision_reason) == (
        "granted", "alice", "call", "notebook", "looks fine")
    assert "approved review.echo" in widget.status.value
    wait_until(lambda: not widget.queue.children, 10, "the queue to empty")



def test_a_call_parked_by_another_process_is_released_by_the_widget(governed: tn.Nexus, widget: ReviewWidget,
                                                                    workspace: Path) -> None:
    import os
    import subprocess
    import sys

    from tests.conftest import REPO

    code = ("import toolnexus as tn; from toolnexus.registry import spec_of; "
            "from tests.notebook.test_review import echo\n"
            "with tn.Nexus() as nexus:\n"
            "    nexus.registry.register(spec_of(echo))\n"
            "    print(nexus.call('review.echo', {'value': 'elsewhere'}).unwrap())\n")
    other = subprocess.Popen([sys.executable, "-c", code], cwd=workspace, text=True, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        card = card_for(widget, "review.echo")
        assert card.record.principal and "elsewhere" in card.header.value
        card.approve.click()
        out, err = other.communicate(timeout=60)
    finally:
        other.kill()
    assert other.returncode == 0, err
    assert out.strip() == "elsewhere"


def test_a_ticket_decided_elsewhere_leaves_the_queue_and_its_card_says_by_whom(governed: tn.Nexus,
                                                                              widget: ReviewWidget) -> None:
    call = Parked(governed, "review.echo", value="x")
    card = card_for(widget, "review.echo")
    governed.approvals.deny(card.record.ticket, "not now", by="bob")  # type: ignore[union-attr]  (the CLI, say)
    wait_until(lambda: not widget.queue.children, 10, "the decided ticket to leave the queue")
    assert widget.tabs.titles[0] == "Approvals" and widget.empty.layout.display is None
    card.approve.click()  # a card still on someone's screen
    assert f"approval {card.record.ticket} is already denied by bob" in card.message.value
    assert not call.wait().ok


def test_a_flood_of_requests_shows_the_oldest_and_counts_the_rest(governed: tn.Nexus, widget: ReviewWidget,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import toolnexus.notebook.review as review_module

    monkeypatch.setattr(review_module, "MAX_CARDS", 2)
    calls = [Parked(governed, "review.echo", value=str(i)) for i in range(3)]
    wait_until(lambda: "1 more waiting" in widget.more.value, 30, "three waiting calls")
    assert len(widget.queue.children) == 2 and widget.tabs.titles[0] == "Approvals (3)"
    oldest = sorted(governed.approvals.list("requested"), key=lambda r: r.requested_at)  # type: ignore[union-attr]
    assert [c.record.ticket for c in widget.queue.children] == [r.ticket for r in oldest[:2]]  # type: ignore[attr-defined]
    for record in oldest:
        governed.approvals.deny(record.ticket, "flood", by="bob")  # type: ignore[union-attr]
    assert not any(call.wait().ok for call in calls)
    wait_until(lambda: not widget.queue.children and not widget.more.value, 10, "the queue to empty")

def test_a_run_scoped_approval_lets_the_runs_next_step_through(governed: tn.Nexus, widget: ReviewWidget) -> None:
    results: list[Any] = []
    runner = threading.Thread(target=lambda: results.append(governed.run(MISSION)), daemon=True)
    runner.start()
    card = card_for(widget, "review.echo")
    assert "step first" in card.header.value
    card.scope.value = "run"
    card.approve.click()
    runner.join(60)
    assert results and results[0].ok, results
    tickets = governed.approvals.list()  # type: ignore[union-attr]
    assert [(t.status, t.scope, t.step_id) for t in tickets] == [("granted", "run", "first")]



def test_a_pattern_approval_for_a_time_lets_matching_calls_through(governed: tn.Nexus, widget: ReviewWidget) -> None:
    call = Parked(governed, "review.echo", value="ok-1")
    card = card_for(widget, "review.echo")
    card.scope.value = "pattern"
    assert card.pattern.layout.display is None  # the match and duration fields show for this scope only
    card.match.value = "value"
    card.approve.click()
    assert "is not argument=glob" in card.message.value
    card.match.value = "value=ok-*"
    card.duration.value = "soon"
    card.approve.click()
    assert "is not a duration" in card.message.value
    card.duration.value = "10m"
    card.approve.click()
    assert call.wait().ok
    grant = governed.approvals.show(card.record.ticket)  # type: ignore[union-attr]
    assert (grant.scope, grant.pattern) == ("pattern", {"value": "ok-*"})
    assert grant.grant_until is not None and grant.decided_at is not None
    assert grant.grant_until - grant.decided_at == pytest.approx(600)
    assert governed.call("review.echo", {"value": "ok-2"}).ok  # covered: no new ticket
    assert len(governed.approvals.list()) == 1  # type: ignore[union-attr]

def test_deny_needs_a_reason_then_fails_the_call_with_it(governed: tn.Nexus, widget: ReviewWidget) -> None:
    call = Parked(governed, "review.echo", value="x")
    card = card_for(widget, "review.echo")
    card.deny.click()
    assert "needs a reason" in card.message.value and card.record.tool in {c.record.tool for c in widget.cards.values()}
    card.reason.value = "not today"
    card.deny.click()
    result = call.wait()
    assert not result.ok and result.error is not None and "not today" in result.error.message
    denied = governed.approvals.show(card.record.ticket)  # type: ignore[union-attr]
    assert (denied.status, denied.decided_by) == ("denied", "alice")


def test_four_eyes_refuses_the_requesters_own_approval_with_a_message(governed: tn.Nexus) -> None:
    own = review(governed)  # approving as the kernel's user: the requester
    try:
        call = Parked(governed, "review.guarded", value="x")
        card = card_for(own, "review.guarded")
        assert "four eyes" in card.header.value
        card.approve.click()
        assert "needs an approver other than its requester" in card.message.value
        assert "Traceback" not in card.message.value and "needs an approver" in own.status.value
        assert governed.approvals.show(card.record.ticket).status == "requested"  # type: ignore[union-attr]
        card.reason.value = "withdrawn by its requester"
        card.deny.click()  # a requester may always turn down their own request
        assert not call.wait().ok
    finally:
        own.close()


def test_kill_and_unkill_from_the_widget_refuse_then_allow_calls(governed: tn.Nexus, widget: ReviewWidget) -> None:
    panel = widget.kill_panel
    panel.target.value = "review.free"
    panel.kill.click()
    assert "needs a reason" in panel.message.value and governed.kills.active() == []  # type: ignore[union-attr]
    panel.reason.value = "incident 42"
    panel.kill.click()
    assert "review.free" in panel.listing.value and "incident 42" in panel.listing.value
    refused = governed.call("review.free", {"value": "x"})
    assert not refused.ok and refused.error is not None and "incident 42" in refused.error.message
    # guard_loosening: lifting files a ticket that someone else must grant
    panel.unkill.click()
    assert "ticket apr-" in panel.message.value
    ticket = governed.approvals.list("requested")[0]  # type: ignore[union-attr]
    assert ticket.tool == "governance.unkill" and ticket.ticket in panel.message.value
    governed.approvals.approve(ticket.ticket, by="bob")  # type: ignore[union-attr]
    panel.ticket.value = ticket.ticket
    panel.unkill.click()
    assert "lifted 1 switch" in panel.message.value and "no kill switch in force" in panel.listing.value
    assert governed.call("review.free", {"value": "x"}).ok


def test_decisions_filter_and_observe_counts(governed: tn.Nexus, widget: ReviewWidget) -> None:
    for value in ("a", "b"):
        assert governed.call("review.free", {"value": value}).ok
    governed.kills.kill("tool", "review.free", "stop", "alice")  # type: ignore[union-attr]
    assert not governed.call("review.free", {"value": "c"}).ok

    def rows() -> str:
        widget.refresh_reports()
        return widget.decisions.value

    wait_until(lambda: rows().count("<tr><td") == 3, 10, "three decisions in the audit log")
    widget.effect_filter.value = "deny"
    assert widget.decisions.value.count("<tr><td") == 1 and "kill:tool:review.free" in widget.decisions.value
    widget.effect_filter.value = ""
    widget.mode_filter.value = "observe"
    assert widget.decisions.value.count("<tr><td") == 2
    widget.mode_filter.value = ""
    widget.rule_filter.value = "nope"
    assert "no decision matches" in widget.decisions.value
    widget.rule_filter.value = ""
    widget.tool_filter.value = "review.e*"
    assert "no decision matches" in widget.decisions.value
    observed = widget.observed.value
    assert "watch-free" in observed and "maybe-free" in observed
    assert "<td style" in observed and _counts(observed, "watch-free") == ("observe", "2", "0")


def _counts(html: str, rule: str) -> tuple[str, ...]:
    import re

    row = re.search(rf"<tr><td[^>]*>{rule}</td>(.*?)</tr>", html)
    assert row is not None, html
    return tuple(re.findall(r"<td[^>]*>(.*?)</td>", row.group(1)))


def test_the_audit_status_is_ok_then_names_the_first_tampered_record(governed: tn.Nexus,
                                                                    widget: ReviewWidget) -> None:
    for value in ("a", "b", "c"):
        governed.call("review.free", {"value": value})
    widget.refresh_audit()  # (writes this process's waiting records first)
    assert "audit log intact" in widget.audit.value and "ok:" in widget.audit.value
    decisions = governed.governed.audit.report(kind="decision")
    assert len(decisions) == 3
    seq = decisions[1].seq
    with sqlite3.connect(governed.store.path) as conn:  # type: ignore[union-attr]
        conn.execute("UPDATE audit_records SET body = replace(body, 'review.free', 'review.echo') WHERE seq = ?",
                     (seq,))
    widget.refresh_audit()
    assert "TAMPERED" in widget.audit.value and f"record {seq}" in widget.audit.value


def test_without_a_state_store_the_review_says_why(workspace: Path) -> None:
    with tn.Nexus(workspace, store=False) as nexus, pytest.raises(NoStore, match="needs a state store") as caught:
        review(nexus)
    assert caught.value._render_traceback_() == [f"NoStore: {caught.value}"]  # IPython shows this, no traceback


# -- in a real kernel --------------------------------------------------------------------------------


def test_in_a_kernel_the_widgets_thread_sends_a_parked_call_to_the_front_end(workspace: Path) -> None:
    """The widget's own thread sends the new card to the front end (a comm message): no cell refreshes it."""
    import os
    from textwrap import dedent

    from jupyter_client.manager import start_new_kernel

    from tests.conftest import REPO

    write_workspace(workspace)
    manager, client = start_new_kernel(kernel_name="python3", startup_timeout=60, cwd=str(REPO),
                                       env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        reply = client.execute_interactive(dedent(f"""
            import os, threading
            os.chdir({str(workspace)!r})
            import toolnexus as tn
            from toolnexus.registry import spec_of
            from toolnexus.notebook.review import review
            from tests.notebook.test_review import echo
            nexus = tn.Nexus()
            nexus.registry.register(spec_of(echo))
            widget = review(nexus, approver="alice")
            widget
            results = []
            threading.Thread(target=lambda: results.append(nexus.call("review.echo", {{"value": "kernel"}})),
                             daemon=True).start()
        """), timeout=60)
        assert reply["content"]["status"] == "ok", reply["content"]
        wait_until(lambda: _card_sent(client), 30, "the card sent to the front end by the widget's thread")
        reply = client.execute_interactive(dedent("""
            widget.queue.children[0].approve.click()
            import time
            deadline = time.monotonic() + 30
            while not results and time.monotonic() < deadline:
                time.sleep(0.01)
            assert results and results[0].ok and results[0].output == "kernel", results
            widget.close(); nexus.close()
        """), timeout=60)
        assert reply["content"]["status"] == "ok", reply["content"]
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def _card_sent(client: Any) -> bool:
    """Whether an iopub message now waiting updates a widget with the waiting call's card."""
    from queue import Empty

    try:
        message = client.get_iopub_msg(timeout=0.05)
    except Empty:
        return False
    state = message["content"].get("data", {}).get("state", {}) if message["msg_type"] in ("comm_msg",
                                                                                            "comm_open") else {}
    value = str(state.get("value", ""))
    return "review.echo" in value and "expires in" in value and "kernel" in value
