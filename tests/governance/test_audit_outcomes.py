"""Outcome records: a call's, a step's and a run's end are audited in the same transaction as the state store's
record of them — with the decisions still waiting — so the audit and the store never disagree."""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Sequence
from datetime import date
from pathlib import Path

import pytest

import toolnexus as tn
from toolnexus.core.call import ToolCall, ToolResult
from toolnexus.core.caller import Caller, Surface
from toolnexus.core.errors import ErrorKind, ToolError
from toolnexus.core.events import CallFinished, Event, StepFinished
from toolnexus.core.run import StepRecord, StepStatus
from toolnexus.governance.audit import AuditLog
from toolnexus.governance.audit.jcs import Canonical, canonical
from toolnexus.governance.audit.outcomes import call_outcome, call_outcome_text, output_digest
from toolnexus.registry import spec_of
from toolnexus.store.sqlite import StateStore

SECRET = "tn-Outc0me-7Hq2ZxW9LmPv"


def records(nexus: tn.Nexus) -> list[tuple[str, dict[str, object]]]:
    audit = nexus.governed.audit
    assert isinstance(audit, AuditLog)
    return [(row.kind, json.loads(row.body)) for row in audit.tail(1000)]


def test_a_direct_call_is_audited_with_its_decision_and_outcome(workspace: Path) -> None:
    with tn.Nexus(workspace) as nexus:
        result = nexus.call("text.render", template="{{ token }}", data={"token": SECRET})
        assert result.ok, result.error
    with tn.Nexus(workspace) as nexus:
        found = records(nexus)
        kinds = [kind for kind, _ in found]
        decision = kinds.index("decision.allow")
        finished = kinds.index("call.finished")
        assert decision < finished  # the decision first, then what the call came to
        body = found[finished][1]
        assert body["call_id"] == result.call_id and body["ok"] is True and body["tool"] == "text.render"
        assert body["output_sha256"] == output_digest(result.output)
        assert SECRET not in json.dumps(found)  # an outcome holds a digest of the output, never the output
        assert nexus.governed.audit.verify().ok


def test_a_mission_audits_each_steps_decision_and_the_run_with_its_steps_by_status(workspace: Path) -> None:
    mission = ("mission: audited\nsteps:\n  - id: a\n    uses: text.render\n    with: {template: one}\n"
               "  - id: b\n    uses: text.render\n    needs: a\n    with: {template: two}\n"
               "  - id: c\n    uses: files.read\n    needs: b\n    with: {path: missing.txt}\n")
    with tn.Nexus(workspace) as nexus:
        result = nexus.run(mission)
        assert not result.ok
        found = records(nexus)
    decisions = {body["step_id"]: i for i, (kind, body) in enumerate(found) if kind == "decision.allow"}
    assert set(decisions) == {"a", "b", "c"}
    assert not [kind for kind, _ in found if kind == "step.finished"]  # a step's outcome is its record in the store
    (index, run), = [(i, body) for i, (kind, body) in enumerate(found) if kind == "run.finished"]
    assert run["run_id"] == result.run_id and run["status"] == "failed"
    assert run["steps"] == {"succeeded": 2, "failed": 1}
    assert index > max(decisions.values())


def test_a_failed_call_is_audited_with_its_error_kind(workspace: Path) -> None:
    with tn.Nexus(workspace) as nexus:
        result = nexus.call("files.read", path="no-such-file.txt")
        assert not result.ok and result.error is not None
    with tn.Nexus(workspace) as nexus:
        (body,) = [body for kind, body in records(nexus) if kind == "call.finished"]
    assert body["ok"] is False and body["error"] == result.error.kind.value and body["output_sha256"] is None


def _failing(events: Sequence[Event]) -> None:
    raise RuntimeError("the audit could not be written")


def test_a_step_is_not_recorded_when_what_must_be_written_with_it_fails(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.db")
    try:
        store(StepFinished(run_id="run-1", record=StepRecord(step_id="kept", tool="t", version="1",
                                                             status=StepStatus.SUCCEEDED)))
        store.join(_failing)
        with pytest.raises(RuntimeError, match="could not be written"):
            store(StepFinished(run_id="run-1", record=StepRecord(step_id="lost", tool="t", version="1",
                                                                 status=StepStatus.SUCCEEDED)))
        assert set(store.steps("run-1")) == {"kept"}  # all or nothing: the step went with its audit record
    finally:
        store.close()


def test_inside_a_batch_only_the_failing_step_is_undone(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.db")
    calls = 0

    def second_fails(events: Sequence[Event]) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise RuntimeError("no room")

    store.join(second_fails)
    try:
        with store.batch():
            for step in ("first", "second", "third"):
                with contextlib.suppress(RuntimeError):  # the second step's failure is the case under test
                    store(StepFinished(run_id="run-1", record=StepRecord(step_id=step, tool="t", version="1",
                                                                         status=StepStatus.SUCCEEDED)))
        assert set(store.steps("run-1")) == {"first", "third"}
    finally:
        store.close()


@pytest.mark.parametrize("output", [
    {"content": [{"type": "text", "text": "héllo \u2028 日"}], "ok": True, "n": 3, "x": 1.5, "nan": float("nan")},
    ["a", 1, None], "text", 7, {"when": date(2026, 12, 7), "b": {"z": 1, "a": 2}},
])
def test_an_output_digest_is_the_sha256_of_its_sorted_json(output: object) -> None:
    text = json.dumps(output, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    assert output_digest(output) == hashlib.sha256(text.encode()).hexdigest()


def test_an_output_holding_a_lone_surrogate_is_digested_and_its_call_audited(workspace: Path) -> None:
    name = b"caf\xe9.txt".decode("utf-8", "surrogateescape")  # an undecodable file name, as os.listdir gives it
    assert output_digest(name) == hashlib.sha256(json.dumps(name, ensure_ascii=False).encode(
        "utf-8", "surrogatepass")).hexdigest()

    @tn.tool(name="files.odd_name")
    def odd_name() -> str:
        """Return an undecodable file name."""
        return name

    with tn.Nexus(workspace) as nexus:
        nexus.registry.register(spec_of(odd_name))
        result = nexus.call("files.odd_name")
        assert result.ok, result.error
        finished = [body for kind, body in records(nexus) if kind == "call.finished"]
        assert [body["call_id"] for body in finished] == [result.call_id]
        assert finished[0]["output_sha256"] == output_digest(name)


def _finished(**result: object) -> CallFinished:
    call = ToolCall(tool="files.read", arguments={"path": "a"},
                    caller=Caller(principal='zoë "q"\n', tenant="t\u2028", surface=Surface.MCP))
    return CallFinished(call=call, result=ToolResult(call_id=call.id, tool="files.read", version="1.0", **result))


@pytest.mark.parametrize("event", [
    _finished(output={"rows": 3}, cost=0.0, duration=0.0000123),
    _finished(output=None, cost=1.25, duration=3.5, error=ToolError(kind=ErrorKind.TIMEOUT, message="slow")),
    _finished(output="日本 odd", cost=1e-7, duration=123456.0),
], ids=["tiny-duration", "failed", "odd"])
def test_a_call_outcome_written_straight_as_canonical_json_is_the_canonical_json_of_its_record(
        event: CallFinished) -> None:
    kind, body, at = call_outcome(event)
    assert call_outcome_text(event) == (kind, Canonical(canonical(body)), at)
