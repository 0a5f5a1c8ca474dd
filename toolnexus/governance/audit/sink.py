"""The audit sink: one record per gate decision and per governance change, taken from the event bus.

A decision is recorded when it is made — before the call runs, in a transaction of its own (the call's
own record follows when it finishes), so a call that crashes its process still left its decision behind.
With ``deferred=True`` the records are written a moment later instead, many to a transaction (as the
state store writes standalone calls): a fraction of the cost per decision, at the price of the last
few milliseconds of decisions if the process is killed. When the state store records a call's outcome
first, the decisions still waiting go into that transaction (:meth:`AuditSink.take`), with the outcome's
own record (:mod:`toolnexus.governance.audit.outcomes`).

What may carry a secret — the arguments, a decision's reason and warning, a change's reason and details —
is scrubbed first (the one scrubber): a secret never reaches the audit.
"""

from __future__ import annotations

import logging
from typing import Any

from toolnexus.core.caller import local_caller
from toolnexus.core.decision import Decision
from toolnexus.core.events import Event, GateDecided, GovernanceChanged
from toolnexus.core.secrets import KNOWN, scrub, scrub_text
from toolnexus.governance.audit.jcs import Canonical, canonical, canonical_value, unicode_safe
from toolnexus.governance.audit.log import AuditLog, Entry
from toolnexus.store.background import DeferredWriter

log = logging.getLogger("toolnexus.audit")

AuditedEvent = GateDecided | GovernanceChanged


def decision_record(event: GateDecided) -> tuple[str, dict[str, Any]]:
    """The kind (``decision.allow|deny|wait``) and body of a decision's record, scrubbed."""
    call, decision = event.call, event.decision
    caller = call.caller or local_caller()  # None: the process's OS user
    body = {
        "tool": call.tool, "version": call.version, "subject": event.subject, "cached": event.cached,
        "runtime": event.runtime or call.runtime,
        "principal": caller.principal, "tenant": caller.tenant, "surface": caller.surface.value,
        "origin": call.origin, "call_id": call.id, "correlation_id": call.correlation_id or call.id,
        "run_id": call.run_id, "step_id": call.step_id, "attempt": call.attempt,
        "arguments": scrub(call.arguments),
        "decision": _decision(event),
    }
    return f"decision.{decision.verdict.value}", body


def decision_text(event: GateDecided) -> tuple[str, Canonical]:
    """The kind and body of a decision's record, as :func:`decision_record` gives them, the body written straight
    as its canonical JSON: the record of every gate decision, without a dict built and walked for it."""
    call = event.call
    caller = call.caller or local_caller()
    arguments = scrub(call.arguments)
    # The keys in JCS order (all ASCII: sorted as text); each value as canonical_value writes it, the decision's
    # part made once per Decision object. A test checks this is canonical(decision_record(event)[1]).
    json_of = canonical_value
    arguments_text = "{}" if type(arguments) is dict and not arguments else json_of(arguments)  # (most calls: none)
    text = (f'{{"arguments":{arguments_text},"attempt":{json_of(call.attempt)},"cached":{json_of(event.cached)},'
            f'"call_id":{json_of(call.id)},"correlation_id":{json_of(call.correlation_id or call.id)},'
            f'"decision":{_dumped_decision(event)[1]},"origin":{json_of(call.origin)},'
            f'"principal":{json_of(caller.principal)},"run_id":{json_of(call.run_id)},'
            f'"runtime":{json_of(event.runtime or call.runtime)},"step_id":{json_of(call.step_id)},'
            f'"subject":{json_of(event.subject)},"surface":{json_of(caller.surface.value)},'
            f'"tenant":{json_of(caller.tenant)},"tool":{json_of(call.tool)},"version":{json_of(call.version)}}}')
    return f"decision.{event.decision.verdict.value}", Canonical(unicode_safe(text))


def _decision(event: GateDecided) -> dict[str, Any]:
    return dict(_dumped_decision(event)[0])  # a copy: no record can change another's


def _dumped_decision(event: GateDecided) -> tuple[dict[str, Any], str]:
    """The decision's part of its record, and its canonical JSON. A policy builds one Decision per rule and hands
    the same (frozen) object out for every call the rule decides, so this is made once, not per record: kept while
    the known secrets are the same (a secret declared since could be in its reason)."""
    decision, generation = event.decision, KNOWN.generation_now()  # (a scrub would have read the environment)
    cached = _dumped.get(id(decision))
    if cached is None or cached[0] is not decision or cached[1] != generation:
        dumped = _dump(decision)
        cached = (decision, generation, dumped, canonical(dumped))
        if len(_dumped) >= _DUMPED_MAX:
            _dumped.clear()
        _dumped[id(decision)] = cached  # (the entry holds the decision: its id is not reused while cached)
    return cached[2], cached[3]


def _dump(decision: Decision) -> dict[str, Any]:
    # Only the free text can hold a secret (a rule's reason may quote an argument); the rest is ours.
    dumped = decision.model_dump(mode="json", exclude_none=True)
    for field in ("reason", "warning"):
        if dumped.get(field):
            dumped[field] = scrub_text(dumped[field])
    return dumped


# Decision dumps by the decision's id: a policy's rules (a few thousand) and the fixed decisions (allow, the
# floor's, a kill switch's). Cleared when full, rather than evicted one by one: rebuilt at a dump per decision.
_DUMPED_MAX = 4096
_dumped: dict[int, tuple[Decision, int, dict[str, Any], str]] = {}


def change_record(event: GovernanceChanged) -> tuple[str, dict[str, Any]]:
    """The kind (``governance.<action>``) and body of a governance change's record, scrubbed."""
    body = {"action": event.action, "target": event.target, "principal": event.by,
            "reason": scrub_text(event.reason), "run_id": event.run_id, "details": scrub(event.details)}
    return f"governance.{event.action}", body


def entry(event: AuditedEvent) -> Entry:
    """What ``event`` appends: its kind, its scrubbed body, and when it happened."""
    kind, body = decision_text(event) if isinstance(event, GateDecided) else change_record(event)
    return kind, body, event.at


class AuditSink:
    """An event sink appending every :class:`GateDecided` and :class:`GovernanceChanged` to ``audit``.

    Quick and never raising: a record that cannot be written is logged as an error (and counted in
    :attr:`failures`). ``deferred``: written a moment later, in batches (see the module doc).
    """

    event_types = (GateDecided, GovernanceChanged)

    def __init__(self, audit: AuditLog, *, deferred: bool = False) -> None:
        self.audit = audit
        self.failures = 0
        self._writer = DeferredWriter[AuditedEvent](self._write, name="toolnexus-audit") if deferred else None

    def __call__(self, event: Event) -> None:
        """Record ``event`` (other events are ignored)."""
        if not isinstance(event, GateDecided | GovernanceChanged):
            return
        if self._writer is not None:
            self._writer.add(event)
        else:
            self._write([event])

    def _write(self, events: list[AuditedEvent]) -> None:
        try:
            self.audit.append_many([entry(event) for event in events])
        except Exception as exc:  # a sink must not raise: the calls go on, the failure is reported
            self.failures += len(events)
            first = events[0]
            what = first.call.tool if isinstance(first, GateDecided) else first.target
            log.error("audit: could not record %d event(s) (the first about %s): %s", len(events), what, exc)

    def take(self) -> list[Entry]:
        """The records still waiting (``deferred``), handed over to be appended elsewhere: in the transaction
        that records the outcome of their calls (see :class:`~toolnexus.governance.audit.outcomes.Outcomes`)."""
        if self._writer is None:
            return []
        return [entry(event) for event in self._writer.take()]

    def flush(self) -> None:
        """Write the records still waiting (``deferred``); the Nexus calls this when it closes."""
        if self._writer is not None:
            self._writer.flush()
