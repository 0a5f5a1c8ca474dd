"""Outcome records: what a decided call came to, appended in the same transaction as the call's own record.

The state store records each direct call, each finished step and each run's end; :class:`Outcomes` joins
those transactions (:meth:`~toolnexus.store.sqlite.StateStore.join`) and appends, in each, the audit
records still waiting to be written — the decisions of the calls just recorded among them — so a call's
record and its decision commit together or not at all. A direct call and a run also get an outcome
record of their own (``call.finished``, ``run.finished``); a step's outcome is its record in the store,
and the run's end counts its steps by status (a record per step would double what auditing costs a
mission's step, for what the store's step record already holds).

An outcome names what it concludes (the call id and correlation id, or the run) and how it ended: status,
the error's kind, cost, duration, and the SHA-256 of the output (never the output, which may hold
anything; the digest proves what was returned to whoever kept it).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from toolnexus.core.caller import local_caller
from toolnexus.core.errors import ToolError
from toolnexus.core.events import CallFinished, Event, RunFinished
from toolnexus.governance.audit.jcs import Canonical, canonical_value, unicode_safe
from toolnexus.governance.audit.log import AuditLog, Entry
from toolnexus.governance.audit.sink import AuditSink


def output_digest(output: Any) -> str | None:
    """The SHA-256 of ``output`` as JSON (keys sorted; what JSON cannot hold, as its text); None for none."""
    if output is None:
        return None
    # surrogatepass: an output may hold a lone surrogate (an undecodable file name); the digest must not fail
    return hashlib.sha256(_DIGESTED.encode(output).encode("utf-8", "surrogatepass")).hexdigest()


# json.dumps(output, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str), without an encoder
# made for each call's outcome (a quarter of the time for a small output). encode() keeps no state between calls.
_DIGESTED = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _error(error: ToolError | None) -> str | None:
    return error.kind.value if error is not None else None


def call_outcome(event: CallFinished) -> Entry:
    """The ``call.finished`` record of a direct call."""
    call, result = event.call, event.result
    caller = call.caller or local_caller()
    body = {"call_id": call.id, "correlation_id": call.correlation_id or call.id, "tool": result.tool,
            "version": result.version, "principal": caller.principal, "tenant": caller.tenant,
            "surface": caller.surface.value, "ok": result.ok, "error": _error(result.error),
            "cost": result.cost, "duration": round(result.duration, 6), "output_sha256": output_digest(result.output)}
    return "call.finished", body, event.at


def call_outcome_text(event: CallFinished) -> Entry:
    """:func:`call_outcome`, its body written straight as canonical JSON (a test checks they agree): the record of
    every direct call, whose floats (cost, duration) would send the whole object through the slow writer."""
    call, result = event.call, event.result
    caller = call.caller or local_caller()
    json_of = canonical_value
    text = (f'{{"call_id":{json_of(call.id)},"correlation_id":{json_of(call.correlation_id or call.id)},'
            f'"cost":{json_of(result.cost)},"duration":{json_of(round(result.duration, 6))},'
            f'"error":{json_of(_error(result.error))},"ok":{json_of(result.ok)},'
            f'"output_sha256":{json_of(output_digest(result.output))},"principal":{json_of(caller.principal)},'
            f'"surface":{json_of(caller.surface.value)},"tenant":{json_of(caller.tenant)},'
            f'"tool":{json_of(result.tool)},"version":{json_of(result.version)}}}')
    return "call.finished", Canonical(unicode_safe(text)), event.at


def run_outcome(event: RunFinished) -> Entry:
    """The ``run.finished`` record of a run."""
    result = event.result
    steps: dict[str, int] = {}
    for record in result.steps.values():
        steps[record.status.value] = steps.get(record.status.value, 0) + 1
    body = {"run_id": result.run_id, "mission": result.mission, "status": result.status.value,
            "cost": result.cost, "duration": round(result.duration, 6), "steps": steps,
            "error": _error(result.error), "output_sha256": output_digest(result.outputs or None)}
    return "run.finished", body, event.at


def outcome(event: Event) -> Entry | None:
    """The outcome record of ``event`` (None: an event with none of its own, e.g. a finished step)."""
    if isinstance(event, CallFinished):
        return call_outcome_text(event)
    if isinstance(event, RunFinished):
        return run_outcome(event)
    return None


class Outcomes:
    """A companion of the state store appending outcome records to ``audit`` in the store's transactions;
    ``sink`` (the deferred decision sink) hands over the decisions still waiting, so they come first."""

    def __init__(self, audit: AuditLog, sink: AuditSink | None = None) -> None:
        self.audit = audit
        self.sink = sink

    def __call__(self, events: Sequence[Event]) -> None:
        """Append the waiting decisions and the outcomes of ``events`` (inside the caller's transaction: a
        failure raises, and the store undoes the records they belong with)."""
        entries = self.sink.take() if self.sink is not None else []
        entries.extend(found for event in events if (found := outcome(event)) is not None)
        if entries:
            self.audit.append_many(entries)
