"""The governance gate: every call, from every surface, is decided here before it runs.

This issue ships the protocol and a pass-through; policies, approvals and kill switches plug in later
without changing any caller.
"""

from __future__ import annotations

from typing import Literal, Protocol

from pydantic import BaseModel

from toolnexus.core.call import ToolCall
from toolnexus.core.spec import ToolSpec


class Decision(BaseModel):
    """What the gate says about a call."""

    verdict: Literal["allow", "deny", "approve"] = "allow"
    reason: str = ""
    policy: str | None = None

    @property
    def allowed(self) -> bool:
        return self.verdict == "allow"


ALLOW = Decision()


class Gate(Protocol):
    """Decides a call; may wait (for an approval), and must honour cancellation while it does."""

    async def check(self, spec: ToolSpec, call: ToolCall) -> Decision: ...


class AllowAll:
    """The pass-through gate: allows every call."""

    async def check(self, spec: ToolSpec, call: ToolCall) -> Decision:
        return ALLOW
