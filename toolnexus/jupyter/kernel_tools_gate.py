"""The default for kernel tools at the server's gate: a person approves the call unless a policy rule allows it.

A tool a notebook kernel serves (``tn.serve()``) is code typed into a cell a moment ago, run with the
kernel's (the user's) rights: an agent should not call it unseen. :class:`KernelToolsGate` wraps the
server's gate; for a tool tagged :data:`KERNEL_TAG` whose decision no *enforced* policy rule made (no rule
matched, or only observe/warn ones), it parks the call for approval under the built-in rule
:data:`RULE` — the approvals queue, the review widget and ``toolnexus approvals`` grant it like any other.
An enforced ``allow`` rule matching the tool (e.g. ``tags: kernel``) relaxes the default; a deny or approve
rule decides as usual. ``[ToolnexusExtension] kernel_tools_approval = False`` turns the default off.
"""

from __future__ import annotations

from typing import Any

from toolnexus.core.decision import Decision, Verdict
from toolnexus.governance.plan import CallPlan

KERNEL_TAG = "kernel"
RULE = "kernel-tools"
REASON = ("a tool served by a notebook kernel needs a person's approval unless a policy rule allows it "
          "(e.g. an allow rule with `tags: kernel`)")


class KernelToolsGate:
    """The server's gate, with kernel tools parked for approval by default (see the module docstring)."""

    def __init__(self, inner: Any, queue: Any = None) -> None:
        self.inner = inner
        self.queue = queue  # the approvals queue (the inner gate has none when no policy files are configured)

    def __getattr__(self, name: str) -> Any:
        # The wrapped gate's own API (reload, version, rule_of, policy …) stays reachable through the wrapper.
        return getattr(self.inner, name)

    async def check(self, plan: CallPlan) -> Decision:
        """The inner gate's decision; a kernel tool's call no enforced rule decided waits for approval."""
        decision = await self.inner.check(plan)
        spec = plan.spec
        if spec is None or KERNEL_TAG not in spec.tags or not decision.allowed:
            return decision
        if decision.policy is not None and decision.mode == "enforce":
            return decision  # an enforced allow rule matched: the policy relaxed the default
        return Decision(verdict=Verdict.WAIT, policy=RULE, reason=REASON, mode="enforce")

    async def settle(self, plan: CallPlan, pending: Decision) -> Decision:
        """The approvals queue's word (through the inner gate); without a queue, a deny saying why."""
        if pending.policy != RULE:
            return await self.inner.settle(plan, pending)
        if self.queue is None:
            return Decision(verdict=Verdict.DENY, policy=RULE, mode="enforce",
                            reason=f"{REASON}, and this server has no approvals queue (no state store)")
        return await self.queue.settle(plan, pending)


def install(nexus: Any) -> None:
    """Wrap ``nexus``'s gate (once) so kernel tools need approval by default."""
    governance = nexus.governance
    if not isinstance(governance.gate, KernelToolsGate):
        approvals = nexus.approvals
        governance.gate = KernelToolsGate(governance.gate, approvals.queue if approvals is not None else None)
