"""The governance of one workspace, put together from its ``[governance]`` settings.

A Nexus calls :func:`govern` once: the kill switches and the lifecycle check go before the gate, the
policy files (if any) become the gate, approve rules park calls in the approvals queue of the state
store, and every decision and governance change is appended to the audit log. Without a state store
there are no kill switches, approvals or audit (a workspace-less Nexus): the policy still decides, and
an approve rule's calls are refused saying why.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from toolnexus.core.events import EventSink
from toolnexus.core.spec import ToolSpec
from toolnexus.governance.approvals import ApprovalQueue, Approvals
from toolnexus.governance.decide import Announcer, Governance
from toolnexus.governance.flag_model import FlagsSettings
from toolnexus.governance.flags import FlagCheck, Flags
from toolnexus.governance.inflight import InFlightCalls
from toolnexus.governance.kills import KillSwitches
from toolnexus.governance.lifecycle import LifecycleCheck
from toolnexus.store.audit import CheckpointRow
from toolnexus.store.sqlite import StateStore


@dataclass
class Governed:
    """The governance parts of a workspace that people and surfaces reach: the policy gate (None without
    policy files), the approvals, the kill switches and the audit log (None without a state store)."""

    gate: Any = None
    approvals: Approvals | None = None
    kills: KillSwitches | None = None
    audit: Any = None
    flags: Flags | None = None
    _sink: Any = None

    def close(self) -> None:
        """Write the audit records still waiting, stop the kill-switch watcher, let go of the flags' provider."""
        if self._sink is not None:
            self._sink.flush()
        if self.kills is not None:
            self.kills.close()
        if self.flags is not None:
            self.flags.close()


def govern(governance: Governance, settings: Any, workspace: str | Path, *, store: StateStore | None,
           bus: Announcer, subscribe: Callable[[EventSink], object], tools: Callable[[], Iterable[ToolSpec]],
           in_flight: InFlightCalls, gate_given: bool,
           on_checkpoint: Callable[[CheckpointRow], None] | None = None,
           flags: FlagsSettings | None = None) -> Governed:
    """Plug the ``[governance]`` settings (``settings``) into ``governance``; returns the parts people reach.

    ``bus`` hears the governance changes; ``gate_given``: the caller passed its own gate (``Nexus(gate=...)``),
    which the policy must not replace; ``on_checkpoint`` gets each audit checkpoint once committed (the
    tracker copies it to MLflow); ``flags``: the ``[flags]`` settings (None: every rollout flag off). A bad
    policy file, or a bad ``[flags] provider``, raises a DiagnosticError saying where.
    """
    parts = Governed()
    announce = bus.emit
    if store is not None:
        # The watcher stops this process's running calls when another process sets a switch (idle otherwise).
        parts.kills = KillSwitches(store, bus, tenant=settings.tenant, in_flight=in_flight).watch()
        governance.checks.append(parts.kills)
    parts.flags = Flags.from_settings(flags, environment=getattr(settings, "environment", None),
                                      tenant=settings.tenant)
    governance.checks.append(FlagCheck(parts.flags))  # a tool tagged flag:NAME runs where NAME is on
    governance.checks.append(LifecycleCheck.from_settings(settings, opt_in=parts.flags.opt_in))
    queue = None
    if store is not None:
        queue = ApprovalQueue(store, timeout=settings.approval_timeout, announce=announce,
                              policy_version=lambda: parts.gate.version if parts.gate is not None else None,
                              rule_of=lambda rule: parts.gate.rule_of(rule) if parts.gate is not None else None)
        parts.approvals = Approvals(store, announce, queue=queue)
    if settings.policies and not gate_given:
        from toolnexus.governance.policy import PolicyGate, missions_in

        parts.gate = PolicyGate.from_settings(settings, workspace, approvals=queue, tools=tools,
                                              mission_of=missions_in(store) if store is not None else None,
                                              flags=parts.flags.enabled)
        governance.gate = parts.gate
    if settings.audit and store is not None:
        from toolnexus.governance.audit import AuditLog, AuditSink

        parts.audit = AuditLog.from_settings(settings, store, workspace, on_checkpoint=on_checkpoint)
        # Written a moment later, many to a commit (~30 µs a decision instead of ~70): see docs/governance.md.
        parts._sink = AuditSink(parts.audit, deferred=True)
        subscribe(parts._sink)
    return parts
