"""A run's governance decisions, folded from its ``GateDecided`` events: per-run counts and one entry a decided call.

A call the gate parks is decided twice — ``wait``, then the final allow or deny — and both decisions carry
the call's id: they are paired into one entry whose span runs from the wait to the final decision, and the
time between them adds up to ``governance.wait_seconds``. Every count is reported, zeros included, so runs
compare (and MLflow searches such as ``metrics.`governance.denied` > 0`` match) whether or not anything was
refused.
"""

from __future__ import annotations

from typing import Any

from toolnexus.core.decision import Verdict
from toolnexus.core.events import GateDecided
from toolnexus.core.secrets import scrub_text
from toolnexus.governance.approvals import DECIDER as APPROVAL_DECIDER, EXPIRED_DECIDER

COUNTS = ("decisions", "denied", "waited", "approved", "expired", "warned", "would_deny", "would_wait")
"""The ``governance.*`` counts of a run (with ``governance.wait_seconds``)."""


def _ns(event: GateDecided) -> int:
    return int(event.at.timestamp() * 1e9)


class DecisionLog:
    """The decisions of one run: :meth:`add` each ``GateDecided``; :meth:`metrics` and :attr:`entries` for MLflow.

    An entry is what the trace's decision span is made of: the call (id, step, attempt, tool), the final
    decision's verdict, decider, rule, mode, would, ticket and warning, when it was decided (from the wait
    decision, if there was one) and how long it waited.
    """

    def __init__(self) -> None:
        self.counts = dict.fromkeys(COUNTS, 0)
        self.wait_seconds = 0.0
        self.entries: list[dict[str, Any]] = []
        self._waiting: dict[str, GateDecided] = {}  # call id -> its wait decision, until the final one

    def add(self, event: GateDecided) -> None:
        """Count ``event``'s decision; a wait is held until its call's final decision arrives."""
        if event.decision.verdict is Verdict.WAIT:
            self.counts["waited"] += 1
            self._waiting[event.call.id] = event
            return
        self._count(event)
        self._enter(event, _ns(event))

    def close(self, end_ns: int) -> None:
        """The run ended: a call still waiting (cancelled while parked) is entered as waiting until ``end_ns``."""
        for waiting in list(self._waiting.values()):
            self._enter(waiting, end_ns)

    def _enter(self, event: GateDecided, end_ns: int) -> None:
        """The entry of ``event``'s call, decided at ``end_ns`` — from its wait decision on, if it waited."""
        call, decision = event.call, event.decision
        wait = self._waiting.pop(call.id, None)
        start_ns = _ns(wait) if wait is not None else end_ns
        waited = (end_ns - start_ns) / 1e9
        self.wait_seconds += waited
        self.entries.append({
            "call_id": call.id, "step_id": call.step_id, "attempt": call.attempt, "tool": call.tool,
            "verdict": decision.verdict.value, "decider": decision.decider, "policy": decision.policy or "",
            "mode": decision.mode or "", "would": decision.would.value if decision.would else "",
            "ticket": decision.ticket or (wait.decision.ticket if wait is not None else None) or "",
            # The free text may quote an argument (as in the audit, scrubbed before it reaches MLflow).
            "warning": scrub_text(decision.warning or ""), "reason": scrub_text(decision.reason),
            "cached": event.cached,
            "start_ns": start_ns, "end_ns": end_ns, "waited": waited,
        })

    def _count(self, event: GateDecided) -> None:
        decision = event.decision
        counts = self.counts
        counts["decisions"] += 1
        if decision.verdict is Verdict.DENY:
            counts["denied"] += 1
            counts["expired"] += decision.decider == EXPIRED_DECIDER
        elif decision.decider == APPROVAL_DECIDER:
            counts["approved"] += 1
        if decision.allowed and decision.warning:
            counts["warned"] += 1
        if decision.would is Verdict.DENY:
            counts["would_deny"] += 1
        elif decision.would is Verdict.WAIT:
            counts["would_wait"] += 1

    def metrics(self) -> dict[str, float]:
        """The run's ``governance.*`` metrics, zeros included."""
        metrics = {f"governance.{name}": float(count) for name, count in self.counts.items()}
        metrics["governance.wait_seconds"] = self.wait_seconds
        return metrics
