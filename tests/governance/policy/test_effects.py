"""Each effect in each mode, decided by the policy gate on real calls of real tools through the Nexus."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

import toolnexus as tn
from tests.governance.policy.support import governed, write_policy
from toolnexus.config import load_settings
from toolnexus.core.decision import Decision, Verdict
from toolnexus.governance import CallPlan
from toolnexus.governance.policy import PolicyGate, missions_in

EFFECT_RULE = """
rules:
  - id: notes
    effect: {effect}
    mode: {mode}
    tools: files.write
    when: {{path: {{under: notes}}}}
    reason: notes are reviewed
"""


def _decisions(recorder, tool: str = "files.write") -> list[Decision]:
    return [e.decision for e in recorder.of("gate_decided") if e.call.tool == tool]


@pytest.mark.parametrize("mode", ["observe", "warn"])
@pytest.mark.parametrize("effect", ["deny", "approve"])
def test_an_unenforced_rule_changes_nothing_but_the_recorded_decision(workspace: Path, mode: str,
                                                                      effect: str) -> None:
    path = write_policy(workspace, EFFECT_RULE.format(effect=effect, mode=mode))
    with governed(workspace, PolicyGate.from_files([path])) as (nexus, recorder):
        result = nexus.call("files.write", path="notes/a.txt", content="x")
    assert result.ok, result.error
    assert (workspace / "notes" / "a.txt").read_text() == "x"
    [decision] = _decisions(recorder)
    assert decision.allowed and decision.policy == "notes" and decision.mode == mode
    assert decision.would is (Verdict.DENY if effect == "deny" else Verdict.WAIT)
    assert (decision.warning is not None) is (mode == "warn")
    if mode == "warn":
        assert "notes are reviewed" in decision.warning
        assert result.warnings == [decision.warning]  # the Python caller is told, as data
    else:
        assert result.warnings == []  # observe: nothing but the record


@pytest.mark.parametrize("mode", ["observe", "warn", "enforce"])
def test_an_allow_rule_allows_in_every_mode(workspace: Path, mode: str) -> None:
    path = write_policy(workspace, EFFECT_RULE.format(effect="allow", mode=mode))
    with governed(workspace, PolicyGate.from_files([path])) as (nexus, recorder):
        assert nexus.call("files.write", path="notes/a.txt", content="x").ok
    [decision] = _decisions(recorder)
    assert decision.allowed and decision.would is None and decision.decider == "policy"
    assert decision.policy == ("notes" if mode == "enforce" else None)


def test_an_enforced_deny_refuses_the_call(workspace: Path) -> None:
    path = write_policy(workspace, EFFECT_RULE.format(effect="deny", mode="enforce"))
    with governed(workspace, PolicyGate.from_files([path])) as (nexus, recorder):
        result = nexus.call("files.write", path="notes/a.txt", content="x")
        other = nexus.call("files.write", path="other/a.txt", content="x")
    assert result.error.kind == tn.ErrorKind.DENIED and result.error.message == "notes are reviewed"
    assert not (workspace / "notes").exists() and other.ok
    decision = _decisions(recorder)[0]
    assert decision.verdict is Verdict.DENY and decision.policy == "notes" and decision.mode == "enforce"


def test_an_enforced_approve_without_an_approvals_queue_is_denied_saying_why(workspace: Path) -> None:
    path = write_policy(workspace, EFFECT_RULE.format(effect="approve", mode="enforce"))
    with governed(workspace, PolicyGate.from_files([path])) as (nexus, recorder):
        result = nexus.call("files.write", path="notes/a.txt", content="x")
    assert result.error.kind == tn.ErrorKind.DENIED and "approvals need the state store" in result.error.message
    assert [d.verdict for d in _decisions(recorder)] == [Verdict.WAIT, Verdict.DENY]
    assert not (workspace / "notes").exists()


class Granting:
    """An approvals queue that grants every parked call at once, keeping what it was asked."""

    def __init__(self) -> None:
        self.asked: list[tuple[CallPlan, Decision]] = []

    async def settle(self, plan: CallPlan, pending: Decision) -> Decision:
        """Grant."""
        self.asked.append((plan, pending))
        return Decision(verdict=Verdict.ALLOW, decider="approvals", policy=pending.policy, reason="granted by bob")


def test_an_enforced_approve_waits_on_the_approvals_queue(workspace: Path) -> None:
    path = write_policy(workspace, """
        rules:
          - id: big-writes
            effect: approve
            mode: enforce
            tools: files.write
            approvers: [ops]
            four_eyes: true
            channels: [cli, rest]
            timeout: 10m
        """)
    approvals = Granting()
    gate = PolicyGate.from_files([path], approvals=approvals)
    with governed(workspace, gate) as (nexus, recorder):
        assert nexus.call("files.write", path="a.txt", content="x").ok
    [(plan, pending)] = approvals.asked
    assert plan.call.arguments["path"] == "a.txt" and pending.policy == "big-writes"
    rule = gate.policy.rule("big-writes")
    assert rule.approvers == ("ops",) and rule.four_eyes and rule.channels == ("cli", "rest") and rule.timeout == 600
    assert [d.verdict for d in _decisions(recorder)] == [Verdict.WAIT, Verdict.ALLOW]


WRITES = """
mode: enforce
rules:
  - id: writes-under-out
    effect: allow
    tools: files.write
    when: {path: {under: out}}
  - id: no-other-writes
    effect: deny
    tools: [files.write]
    unless: {path: {under: out}}
    reason: writes go under out/
"""


def test_files_write_is_allowed_under_out_and_denied_elsewhere(workspace: Path) -> None:
    path = write_policy(workspace, WRITES)
    with governed(workspace, PolicyGate.from_files([path])) as (nexus, recorder):
        assert nexus.call("files.write", path="out/report.md", content="x").ok
        escaped = nexus.call("files.write", path="out/../secrets.txt", content="x")
        elsewhere = nexus.call("files.write", path="src/a.py", content="x")
    assert escaped.error.kind == tn.ErrorKind.DENIED and elsewhere.error.kind == tn.ErrorKind.DENIED
    assert escaped.error.message == "writes go under out/"
    assert not (workspace / "secrets.txt").exists() and not (workspace / "src").exists()
    assert [d.policy for d in _decisions(recorder)] == ["writes-under-out", "no-other-writes", "no-other-writes"]


def test_deny_wins_over_approve_and_allow_among_enforced_rules(workspace: Path) -> None:
    path = write_policy(workspace, """
        mode: enforce
        rules:
          - {id: allow-all, effect: allow}
          - {id: approve-writes, effect: approve, tools: "files.*"}
          - {id: deny-secrets, effect: deny, tools: files.write, when: {path: {glob: "*.key"}}}
          - {id: observe-deny, effect: deny, mode: observe, tools: files.read}
        """)
    approvals = Granting()
    with governed(workspace, PolicyGate.from_files([path], approvals=approvals)) as (nexus, recorder):
        denied = nexus.call("files.write", path="id.key", content="x")
        approved = nexus.call("files.write", path="notes.txt", content="x")
        read = nexus.call("files.read", path="notes.txt")
    assert denied.error.kind == tn.ErrorKind.DENIED and approved.ok and read.ok
    decisions = [(e.call.tool, e.decision.verdict, e.decision.policy) for e in recorder.of("gate_decided")]
    assert decisions[0] == ("files.write", Verdict.DENY, "deny-secrets")
    assert decisions[1] == ("files.write", Verdict.WAIT, "approve-writes")
    # An approve rule also matches reads: approval wins over allow; the observe deny is recorded, not enforced.
    assert decisions[3][1:] == (Verdict.WAIT, "approve-writes")
    assert len(approvals.asked) == 2


def test_an_amount_condition_on_a_python_tool(workspace: Path) -> None:
    path = write_policy(workspace, """
        rules:
          - id: small-transfers
            effect: deny
            mode: enforce
            tools: pay.transfer
            unless: {amount: {lt: 500}, to: {matches: "^acct-[0-9]+$"}}
            reason: transfers of 500 or more, or to an unknown account, are refused
        """)
    with governed(workspace, PolicyGate.from_files([path])) as (nexus, _):
        assert nexus.call("pay.transfer", amount=499.5, to="acct-1").output == {"sent": 499.5, "to": "acct-1"}
        assert nexus.call("pay.transfer", amount=500, to="acct-1").error.kind == tn.ErrorKind.DENIED
        assert nexus.call("pay.transfer", amount=5, to="mallory").error.kind == tn.ErrorKind.DENIED


class Hello(BaseHTTPRequestHandler):
    """Answers every GET with a short text."""

    def do_GET(self) -> None:
        """Say hello."""
        body = b"hello"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Keep test output quiet."""


@pytest.fixture
def local_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hello)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_http_fetch_only_to_listed_hosts(workspace: Path, local_server: str) -> None:
    write_policy(workspace, """
        rules:
          - id: listed-hosts
            effect: deny
            mode: enforce
            tools: http.fetch
            unless: {url: {host_in: [127.0.0.1, "*.example.com"]}}
        """)
    (workspace / "toolnexus.toml").write_text(
        '[http]\nallow_private = true\n[governance]\npolicies = ["policies/*.yaml"]\nmode = "enforce"\n')
    gate = PolicyGate.from_settings(load_settings(workspace).settings.governance, workspace)
    with governed(workspace, gate) as (nexus, _):
        fetched = nexus.call("http.fetch", url=f"{local_server}/x")
        refused = nexus.call("http.fetch", url="http://evil.test/x")
    assert fetched.ok and fetched.output["text"] == "hello"
    assert refused.error.kind == tn.ErrorKind.DENIED and refused.error.details == {"policy": "listed-hosts"}


def test_a_rule_on_missions_matches_the_steps_of_that_mission(workspace: Path) -> None:
    path = write_policy(workspace, """
        rules:
          - {id: no-writes-nightly, effect: deny, mode: enforce, tools: files.write, missions: ["night*"]}
        """)
    mission = "mission: {name}\nsteps:\n  - id: w\n    uses: files.write\n    with: {{path: a.txt, content: x}}\n"
    gate = PolicyGate.from_files([path])
    with governed(workspace, gate) as (nexus, _):
        assert nexus.store is not None
        gate.mission_of = missions_in(nexus.store)
        nightly = nexus.run(mission.format(name="nightly"))
        daily = nexus.run(mission.format(name="daily"))
    assert nightly.steps["w"].error.kind == tn.ErrorKind.DENIED and daily.ok
