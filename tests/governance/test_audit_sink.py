"""The audit sink records the decisions of real calls through a Nexus and governance changes — scrubbed."""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

import toolnexus as tn
from toolnexus.core.caller import Caller, Surface
from toolnexus.core.events import GateDecided, GovernanceChanged
from toolnexus.governance import CallPlan, Decision, Verdict
from toolnexus.governance.audit import AuditLog, AuditSink
from toolnexus.governance.audit.jcs import Canonical

SECRET = "tn-9fQx2LmZ7pWv4RkTq8Hs"  # handed to a tool under a secret-named key


class Denying:
    """A gate that denies every call."""

    async def check(self, plan: CallPlan) -> Decision:
        return Decision(verdict=Verdict.DENY, reason="closed for the audit test", policy="closed", mode="enforce")

    async def settle(self, plan: CallPlan, pending: Decision) -> Decision:
        return pending


# Each test subscribes its own sink: the workspace's own audit (tests/governance/test_setup.py) stays off.
NO_AUDIT = {"governance": {"audit": False}}


@pytest.fixture
def nexus(workspace: Path) -> Iterator[tn.Nexus]:
    """A Nexus without the workspace's own audit sink."""
    with tn.Nexus(workspace, overrides=NO_AUDIT) as nx:
        yield nx


@pytest.fixture
def audit(nexus: tn.Nexus) -> AuditLog:
    assert nexus.store is not None
    log = AuditLog(nexus.store, checkpoint_every=10)
    nexus.bus.subscribe(AuditSink(log))
    return log


def body(audit: AuditLog, seq: int) -> dict[str, object]:
    return json.loads(next(r for r in audit.tail(50) if r.seq == seq).body)


def test_a_call_through_the_nexus_is_recorded_with_its_decision_and_caller(nexus: tn.Nexus, audit: AuditLog) -> None:
    caller = Caller(principal="alice", tenant="team-a", surface=Surface.CLI)
    result = nexus.call("text.render", template="hello", data={"api_token": SECRET}, caller=caller,
                        correlation_id="corr-1")
    assert result.ok, result.error
    (record,) = audit.tail(5)
    assert record.kind == "decision.allow"
    recorded = json.loads(record.body)
    assert recorded["tool"] == "text.render" and recorded["subject"] == "tool" and recorded["cached"] is False
    assert recorded["decision"]["verdict"] == "allow"
    assert recorded["arguments"] == {"template": "hello", "data": {"api_token": "***"}}
    assert recorded["runtime"] and recorded["call_id"].startswith("call-")
    assert (recorded["principal"], recorded["tenant"], recorded["surface"]) == ("alice", "team-a", "cli")
    assert recorded["correlation_id"] == "corr-1"
    assert audit.verify().ok


def test_a_call_without_a_caller_is_recorded_as_the_os_user(nexus: tn.Nexus, audit: AuditLog) -> None:
    from toolnexus.core.caller import os_user

    nexus.call("text.render", template="hello")
    recorded = json.loads(audit.tail(1)[0].body)
    assert recorded["principal"] == os_user() and recorded["correlation_id"] == recorded["call_id"]


def test_a_secret_argument_never_reaches_the_audit_database(nexus: tn.Nexus, audit: AuditLog) -> None:
    assert nexus.store is not None
    nexus.call("text.render", template="hello", data={"api_token": SECRET})
    nexus.call("text.render", template="hello", data={"note": f"password={SECRET}"})
    assert len(audit.tail(10)) == 2
    nexus.store.flush()
    db = nexus.store.path
    for path in (db, db.with_name(db.name + "-wal")):
        if path.exists():
            assert SECRET.encode() not in path.read_bytes(), path
    with sqlite3.connect(db) as conn:
        bodies = " ".join(b for (b,) in conn.execute("SELECT body FROM audit_records"))
    assert SECRET not in bodies and "***" in bodies


def test_a_denied_call_is_recorded_as_a_denial(workspace: Path) -> None:
    with tn.Nexus(workspace, gate=Denying(), overrides=NO_AUDIT) as nexus:
        assert nexus.store is not None
        audit = AuditLog(nexus.store)
        nexus.bus.subscribe(AuditSink(audit))
        result = nexus.call("text.render", template="hello")
        assert result.error is not None and result.error.kind == tn.ErrorKind.DENIED
        (record,) = audit.report(kind="decision.deny")
        decision = json.loads(record.body)["decision"]
        assert decision == {"verdict": "deny", "reason": "closed for the audit test", "policy": "closed",
                            "decider": "gate", "mode": "enforce"}


def test_a_governance_change_is_recorded_scrubbed(nexus: tn.Nexus, audit: AuditLog) -> None:
    nexus.bus.emit(GovernanceChanged(action="kill", target="shell.run", by="ops", reason="incident 42",
                                     details={"password": SECRET, "scope": "tool"}))
    (record,) = audit.report(kind="governance")
    assert record.kind == "governance.kill"
    assert json.loads(record.body) == {"action": "kill", "target": "shell.run", "principal": "ops",
                                       "reason": "incident 42", "run_id": None,
                                       "details": {"password": "***", "scope": "tool"}}
    assert [r.seq for r in audit.report(tool="shell.*")] == [record.seq]
    assert [r.seq for r in audit.report(principal="ops")] == [record.seq]


def test_the_sink_takes_only_decisions_and_changes(nexus: tn.Nexus) -> None:
    assert AuditSink.event_types == (GateDecided, GovernanceChanged)
    assert not nexus.bus.wants(GateDecided)  # no decision event is built for nobody
    nexus.bus.subscribe(AuditSink(AuditLog(nexus.store)))
    assert nexus.bus.wants(GateDecided) and nexus.bus.wants(GovernanceChanged)


def test_a_record_that_cannot_be_written_is_logged_not_raised(nexus: tn.Nexus, audit: AuditLog,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    assert nexus.store is not None
    with sqlite3.connect(nexus.store.path) as conn:
        conn.execute("DROP TABLE audit_records")
    sink = next(s for s in nexus.bus.sinks if isinstance(s, AuditSink))
    with caplog.at_level(logging.ERROR, logger="toolnexus.audit"):
        result = nexus.call("text.render", template="hello")
    assert result.ok  # the call went on
    assert sink.failures == 1
    assert "audit: could not record 1 event(s) (the first about text.render)" in caplog.text


@pytest.mark.anyio
async def test_a_deferred_sink_writes_a_moment_later_in_one_transaction(nexus: tn.Nexus) -> None:
    assert nexus.store is not None
    audit = AuditLog(nexus.store, checkpoint_every=3)
    sink = AuditSink(audit, deferred=True)
    nexus.bus.subscribe(sink)
    for i in range(4):
        result = await nexus.acall("text.render", template="hello", data={"i": i, "api_token": SECRET})
        assert result.ok
    sink.flush()  # what the timer on the loop would do a moment later
    records = audit.tail(10)
    assert [r.kind for r in records] == ["decision.allow"] * 4
    assert SECRET not in " ".join(r.body for r in records)
    assert audit.verify().ok and [c.seq for c in audit.rows.checkpoints()] == [3]


class Quoting:
    """A gate whose denial quotes the call's arguments (as a careless rule might)."""

    async def check(self, plan: CallPlan) -> Decision:
        return Decision(verdict=Verdict.DENY, reason=f"refused: password={SECRET}", warning=f"token {SECRET}")

    async def settle(self, plan: CallPlan, pending: Decision) -> Decision:
        return pending


def test_a_secret_quoted_in_a_decision_reason_is_scrubbed(workspace: Path) -> None:
    with tn.Nexus(workspace, gate=Quoting(), overrides=NO_AUDIT) as nexus:
        assert nexus.store is not None
        audit = AuditLog(nexus.store)
        nexus.bus.subscribe(AuditSink(audit))
        nexus.call("text.render", template="hello", data={"api_token": SECRET})
        (record,) = audit.tail(1)
        assert SECRET not in record.body and "password=***" in record.body


def test_a_decision_reused_for_many_calls_is_recorded_alike_and_a_secret_declared_since_is_scrubbed() -> None:
    # A policy hands out one Decision per rule: its part of the record is made once, but not kept past a new secret.
    from toolnexus.core.call import ToolCall
    from toolnexus.core.secrets import declare_secret
    from toolnexus.governance.audit.sink import decision_record

    late = "late-secret-5hQz8Lw2Xv"
    decision = Decision(verdict=Verdict.ALLOW, reason=f"allowed; note {late}", policy="p", mode="enforce")

    def record() -> dict[str, object]:
        event = GateDecided(call=ToolCall(tool="files.read", arguments={}), decision=decision)
        return decision_record(event)[1]["decision"]  # type: ignore[return-value]

    first = record()
    assert first == {"verdict": "allow", "reason": f"allowed; note {late}", "policy": "p", "decider": "gate",
                     "mode": "enforce"}
    first["reason"] = "changed by its reader"
    assert record()["reason"] == f"allowed; note {late}"  # each record has its own copy
    declare_secret(late)
    assert record()["reason"] == "allowed; note ***"


def test_a_secret_put_in_the_environment_after_a_decision_was_recorded_is_scrubbed_from_its_next_record(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # The cached part of a reused Decision is checked against the environment as a scrub would read it, even when
    # nothing else on the record's path asks for the known secrets (no argument long enough to scrub).
    from toolnexus.core.call import ToolCall
    from toolnexus.governance.audit.sink import decision_text

    value = "correcthorsebatterystaple"
    decision = Decision(verdict=Verdict.DENY, reason=f"denied: {value}", policy="p")

    def text() -> str:
        event = GateDecided(call=ToolCall(tool="files.read", arguments={"n": 1}), decision=decision)
        return decision_text(event)[1].text

    assert value in text()
    monkeypatch.setenv("SERVICE_API_TOKEN", value)
    assert value not in text()


def _decided(arguments: dict[str, object], **fields: object) -> GateDecided:
    from toolnexus.core.call import ToolCall

    caller = fields.pop("caller", None)
    return GateDecided(call=ToolCall(tool="files.read", arguments=arguments, caller=caller,  # type: ignore[arg-type]
                                     **fields.pop("call", {})),  # type: ignore[arg-type]
                       decision=fields.pop("decision", Decision()), **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize("event", [
    _decided({}),
    _decided({"path": "zoë/\ud800x", "n": 1.5, "big": 10**3, "é": [1, None, True, {"b": 1, "a": 2.0}], "\U0001F600": 1,
              "\uffff": 2, "api_token": SECRET},
             caller=Caller(principal='zoë\n"', tenant="t\u2028", surface=Surface.MCP),
             call={"version": "1.0", "run_id": "r", "step_id": "s", "attempt": 3, "runtime": "process"},
             decision=Decision(verdict=Verdict.DENY, reason="no \x01 way", policy="p", mode="warn",
                               would=Verdict.WAIT, warning="w"),
             runtime="docker", cached=True, subject="resource"),
], ids=["plain", "awkward"])
def test_a_decision_written_straight_as_canonical_json_is_the_canonical_json_of_its_record(event: GateDecided) -> None:
    from toolnexus.governance.audit import canonical
    from toolnexus.governance.audit.sink import decision_record, decision_text

    kind, body = decision_record(event)
    assert decision_text(event) == (kind, Canonical(canonical(body)))
    assert SECRET not in decision_text(event)[1].text


def test_a_decision_whose_arguments_json_cannot_hold_is_refused_as_before() -> None:
    import rfc8785

    from toolnexus.governance.audit.sink import decision_text

    with pytest.raises(rfc8785.CanonicalizationError):
        decision_text(_decided({"x": float("nan")}))
