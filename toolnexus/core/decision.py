"""What the gate says about a call: allow, deny, or wait for a person's approval."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict


class Verdict(StrEnum):
    """The three answers a gate can give."""

    ALLOW = "allow"
    DENY = "deny"
    WAIT = "wait"  # park the call until someone approves or denies it (or the caller cancels)


class Decision(BaseModel):
    """One decision of the gate: the verdict, why, which rule and which decider made it.

    ``decider`` names who decided: ``gate`` (the configured gate or policy), ``runtime-floor`` (the
    tier's least isolation), ``jupyter-authorizer`` (the Jupyter server's authorizer, for MCP and REST
    callers). ``ticket`` identifies a parked call while the verdict is ``wait``.

    A rule that is not enforced still decides: in ``observe`` mode the verdict is ``allow`` and ``would``
    records what the rule would have done (deny or wait); in ``warn`` mode likewise, and the caller is told
    (``warning``). ``mode`` is the deciding rule's mode (None: not a policy rule).
    """

    model_config = ConfigDict(frozen=True)

    verdict: Verdict = Verdict.ALLOW
    reason: str = ""
    policy: str | None = None
    decider: str = "gate"
    ticket: str | None = None
    mode: Literal["observe", "warn", "enforce"] | None = None
    would: Verdict | None = None
    warning: str | None = None

    @property
    def allowed(self) -> bool:
        """Whether the call may run now."""
        return self.verdict is Verdict.ALLOW

    @property
    def waiting(self) -> bool:
        """Whether the call is parked, waiting for an approval."""
        return self.verdict is Verdict.WAIT


ALLOW = Decision()
