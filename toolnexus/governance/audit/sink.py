"""The audit sink: one record per gate decision and per governance change, taken from the event bus.

A decision is recorded when it is made — before the call runs, in a transaction of its own (the call's
own record follows when it finishes), so a call that crashes its process still left its decision behind.
Everything recorded is scrubbed first (the one scrubber): a secret never reaches the audit.
"""

from __future__ import annotations

import logging
from typing import Any

from toolnexus.core.caller import local_caller
from toolnexus.core.events import Event, GateDecided, GovernanceChanged
from toolnexus.core.secrets import scrub
from toolnexus.governance.audit.log import AuditLog

log = logging.getLogger("toolnexus.audit")


def decision_record(event: GateDecided) -> tuple[str, dict[str, Any]]:
    """The kind (``decision.allow|deny|wait``) and body of a decision's record."""
    call, decision = event.call, event.decision
    caller = call.caller or local_caller()  # None: the process's OS user
    body = {
        "tool": call.tool, "version": call.version, "subject": event.subject, "cached": event.cached,
        "runtime": event.runtime or call.runtime,
        "principal": caller.principal, "tenant": caller.tenant, "surface": caller.surface.value,
        "origin": call.origin, "call_id": call.id, "correlation_id": call.correlation_id or call.id,
        "run_id": call.run_id, "step_id": call.step_id, "attempt": call.attempt,
        "arguments": call.arguments,
        "decision": decision.model_dump(mode="json", exclude_none=True),
    }
    return f"decision.{decision.verdict.value}", body


def change_record(event: GovernanceChanged) -> tuple[str, dict[str, Any]]:
    """The kind (``governance.<action>``) and body of a governance change's record."""
    body = {"action": event.action, "target": event.target, "principal": event.by, "reason": event.reason,
            "run_id": event.run_id, "details": event.details}
    return f"governance.{event.action}", body


class AuditSink:
    """An event sink appending every :class:`GateDecided` and :class:`GovernanceChanged` to ``audit``.

    Quick (one small commit) and never raising: a record that cannot be written is logged as an error.
    """

    event_types = (GateDecided, GovernanceChanged)

    def __init__(self, audit: AuditLog) -> None:
        self.audit = audit
        self.failures = 0

    def __call__(self, event: Event) -> None:
        """Record ``event`` (other events are ignored)."""
        if isinstance(event, GateDecided):
            kind, body = decision_record(event)
        elif isinstance(event, GovernanceChanged):
            kind, body = change_record(event)
        else:
            return
        try:
            self.audit.append(kind, scrub(body), event.at)
        except Exception as exc:  # a sink must not raise: the call goes on, the failure is reported
            self.failures += 1
            log.error("audit: could not record %s of %s: %s", kind, body.get("tool") or body.get("target"), exc)
