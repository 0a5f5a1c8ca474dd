"""The gate protocol: every call, from every surface, is decided here before it runs.

A gate answers a :class:`CallPlan` with a :class:`Decision`: allow, deny, or wait. A ``wait`` parks the
call: the invocation pipeline then awaits :meth:`Gate.settle`, which returns the final allow or deny once
someone decides (approvals build on this), honouring cancellation while it waits.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from toolnexus.core.decision import ALLOW, Decision, Verdict
from toolnexus.governance.plan import CallPlan


@runtime_checkable
class Gate(Protocol):
    """Decides calls. ``check`` must be quick; ``settle`` may wait (and must honour cancellation)."""

    async def check(self, plan: CallPlan) -> Decision:
        """Decide ``plan`` now: allow, deny, or wait (then :meth:`settle` gives the final word)."""
        ...

    async def settle(self, plan: CallPlan, pending: Decision) -> Decision:
        """Wait for the final verdict on a call ``check`` parked; returns allow or deny."""
        ...


class AllowAll:
    """The pass-through gate: allows every call."""

    async def check(self, plan: CallPlan) -> Decision:
        """Allow."""
        return ALLOW

    async def settle(self, plan: CallPlan, pending: Decision) -> Decision:
        """Never called: this gate never parks a call."""
        return ALLOW


__all__ = ["ALLOW", "AllowAll", "Decision", "Gate", "Verdict"]
