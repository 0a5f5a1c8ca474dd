"""The governance of one workspace, put together from its ``[governance]`` settings.

A Nexus calls :func:`govern` once: the kill switches and the lifecycle check go before the gate, the
policy files (if any) become the gate, approve rules park calls in the approvals queue of the state
store, and every decision and governance change is appended to the audit log. Without a state store
there are no kill switches, approvals or audit (a workspace-less Nexus): the policy still decides, and
an approve rule's calls are refused saying why.

A process reloads its policy when a policy file changes (:class:`PolicyReloader`, asked before each
decision, looking at the files at most once a second); with ``guard_loosening`` a reload that weakens the
policy waits for an approval (:mod:`toolnexus.governance.loosening`).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from toolnexus.core.caller import os_user
from toolnexus.core.diagnostics import Diagnostic, DiagnosticError
from toolnexus.core.events import EventSink, GovernanceChanged
from toolnexus.core.spec import ToolSpec
from toolnexus.governance.approvals import ApprovalQueue, Approvals
from toolnexus.governance.decide import Announcer, Governance
from toolnexus.governance.flag_model import FlagsSettings
from toolnexus.governance.flags import FlagCheck, Flags
from toolnexus.governance.inflight import InFlightCalls
from toolnexus.governance.kills import KillSwitches
from toolnexus.governance.lifecycle import LifecycleCheck
from toolnexus.governance.loosening import LooseningGuard, weakenings
from toolnexus.governance.plan import CallPlan
from toolnexus.store.audit import CheckpointRow
from toolnexus.store.sqlite import StateStore

if TYPE_CHECKING:
    from toolnexus.governance.policy import Policy, PolicyGate

log = logging.getLogger("toolnexus.governance")

RELOAD_INTERVAL = 1.0
"""Seconds between two looks at the policy files for a change."""

Stamp = tuple[tuple[str, int, int], ...]
"""What a look at the policy files sees: each file's path, modification time (ns) and size (-1: missing)."""


def stamp_of(files: Sequence[Path]) -> Stamp:
    """The paths, modification times and sizes of ``files`` (a few ``stat`` calls: no file is read)."""
    seen = []
    for file in files:
        try:
            status = file.stat()
        except OSError:
            seen.append((str(file), -1, -1))
        else:
            seen.append((str(file), status.st_mtime_ns, status.st_size))
    return tuple(seen)


class PolicyReloader:
    """Reloads a policy gate's policy when its files change, in a running process (a server keeps going).

    An instance is a :class:`~toolnexus.governance.decide.Check` that never refuses: asked before each
    decision, it looks at the files (``files()``: the paths ``[governance] policies`` names now) at most every
    ``interval`` seconds, so a process that makes no calls costs nothing, and a changed policy decides the
    very call that noticed it. A policy that loads cleanly replaces the one in force (``policy_loaded``); one
    with problems is refused and the last good policy kept (``policy_rejected``, its problems as
    ``file:line:column: message``). With a loosening ``guard``, a policy that weakens the one in force is
    applied only once its approval is granted (``policy_rejected`` with ``needs_approval`` until then).
    """

    def __init__(self, gate: PolicyGate, files: Callable[[], Sequence[Path]], announce: Announcer, *,
                 guard: LooseningGuard | None = None, interval: float = RELOAD_INTERVAL) -> None:
        self.gate = gate
        self.files = files
        self.announce = announce
        self.guard = guard
        self.interval = interval
        self.pending: str | None = None
        """The ticket of a weakening policy waiting for its approval (None: none waits)."""
        self._stamp = stamp_of(files())
        self._looked_at = time.monotonic()
        self._lock = threading.Lock()

    def __call__(self, plan: CallPlan) -> None:
        """Look at the policy files if the last look is ``interval`` old (never refuses ``plan``)."""
        if time.monotonic() - self._looked_at < self.interval or not self._lock.acquire(blocking=False):
            return
        try:
            self._looked_at = time.monotonic()
            self.look()
        except Exception:  # a reload's failure must not fail the call that noticed it
            log.exception("policy reload failed")
        finally:
            self._lock.release()

    def look(self) -> None:
        """Reload the policy if its files changed; else apply a weakening policy whose approval came."""
        stamp = stamp_of(self.files())
        if stamp != self._stamp:
            self._stamp = stamp
            self.pending = None
            self.reload()
        elif self.pending is not None and self.guard is not None:
            self._approval_decided(self.guard.status(self.pending))

    def reload(self) -> None:
        """Load the policy files; apply the policy if it loads cleanly (and, guarded, is approved or no weaker)."""
        try:
            candidate = self.gate.load()
        except DiagnosticError as exc:
            self._rejected(exc.diagnostics)
            return
        if candidate.version == self.gate.version:
            return  # touched, not changed
        changes = weakenings(self.gate.policy, candidate) if self.guard is not None else []
        if changes and not self._approved(candidate, changes):
            return
        self._apply(candidate)

    def announce_loaded(self) -> None:
        """Announce the policy in force as loaded (a Nexus starting with a policy)."""
        self._emit("policy_loaded", details=self._loaded())

    def _loaded(self) -> dict[str, Any]:
        # The files' text is kept: the next process to start compares its policy with it (see hold_if_weaker).
        policy = self.gate.policy
        return {"version": policy.version, "rules": len(policy), "sources": policy.sources}

    def hold_if_weaker(self, last: Mapping[str, Any] | None) -> bool:
        """At start, with a loosening guard: if the policy files weaken ``last`` (the details of the policy last
        recorded as loaded, with its files' text), keep that policy in force and ask for an approval of the new
        one, as a running process would on reload. True if it is held."""
        sources = (last or {}).get("sources")
        if self.guard is None or not isinstance(sources, dict) or not sources:
            return False
        from toolnexus.governance.policy import compile_policy

        try:
            previous = compile_policy([(str(f), str(t)) for f, t in sources.items()], self.gate.mode)
        except DiagnosticError:
            return False  # a record we cannot read back guards nothing: the files' policy stands
        candidate = self.gate.policy
        changes = weakenings(previous, candidate)
        if not changes or self._approved(candidate, changes):
            return False
        self.gate.hold(previous)
        return True

    def _approved(self, candidate: Policy, changes: list[str]) -> bool:
        """Whether the weakening ``candidate`` has its approval; if not, say so and wait for it."""
        assert self.guard is not None
        record = self.guard.policy_approval(candidate.version, changes, candidate.files, os_user())
        if record.status == "granted":
            return True
        self.pending = record.ticket
        self._emit("policy_rejected", reason="it weakens the policy in force: " + "; ".join(changes),
                   details={"version": candidate.version, "needs_approval": record.ticket, "weakens": changes})
        return False

    def _approval_decided(self, status: str) -> None:
        """Act on the pending approval's status: apply the policy once granted, give it up once refused."""
        if status == "granted":
            self.pending = None
            self.reload()
        elif status != "requested":
            ticket, self.pending = self.pending, None
            self._emit("policy_rejected", reason=f"its approval {ticket} was {status}",
                       details={"needs_approval": ticket, "status": status})

    def _apply(self, candidate: Policy) -> None:
        problems = self.gate.reload()
        if problems:
            self._rejected(problems)
            return
        if self.gate.version != candidate.version:  # changed again since it was read: read it at the next look
            self._stamp = ()
        self._emit("policy_loaded", details=self._loaded())

    def _rejected(self, problems: Sequence[Diagnostic]) -> None:
        log.warning("policy reload refused, the last good policy stays: %s", "; ".join(map(str, problems)))
        self._emit("policy_rejected", reason=f"{len(problems)} problem(s); the last good policy stays",
                   details={"version": self.gate.version, "problems": [str(p) for p in problems]})

    def _emit(self, action: str, *, reason: str = "", details: dict[str, Any]) -> None:
        if not self.announce.wants(GovernanceChanged):
            return
        target = ", ".join(str(f) for f in self.files())
        self.announce.emit(GovernanceChanged(action=action, target=target, reason=reason,  # type: ignore[arg-type]
                                             details=details))


@dataclass
class Governed:
    """The governance parts of a workspace that people and surfaces reach: the policy gate (None without
    policy files), the approvals, the kill switches and the audit log (None without a state store)."""

    gate: Any = None
    approvals: Approvals | None = None
    kills: KillSwitches | None = None
    audit: Any = None
    flags: Flags | None = None
    reloader: PolicyReloader | None = None
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
    guard = None
    if store is not None:
        queue = ApprovalQueue(store, timeout=settings.approval_timeout, announce=announce,
                              policy_version=lambda: parts.gate.version if parts.gate is not None else None,
                              rule_of=lambda rule: parts.gate.rule_of(rule) if parts.gate is not None else None)
        parts.approvals = Approvals(store, announce, queue=queue)
        guard = LooseningGuard(queue) if settings.guard_loosening else None
        # The watcher stops this process's running calls when another process sets a switch (idle otherwise).
        parts.kills = KillSwitches(store, bus, tenant=settings.tenant, in_flight=in_flight, guard=guard).watch()
        governance.checks.append(parts.kills)
    # The [flags] tables with, over them, the flags set in the store (`toolnexus flags set`; each change audited).
    parts.flags = Flags.from_settings(flags, environment=getattr(settings, "environment", None),
                                      tenant=settings.tenant, store=store, announce=bus)
    governance.checks.append(FlagCheck(parts.flags))  # a tool tagged flag:NAME runs where NAME is on
    governance.checks.append(LifecycleCheck.from_settings(settings, opt_in=parts.flags.opt_in))
    if settings.policies and not gate_given:
        _policy_gate(parts, governance, settings, workspace, store=store, bus=bus, tools=tools, guard=guard)
    if settings.audit and store is not None:
        from toolnexus.governance.audit import AuditLog, AuditSink
        from toolnexus.governance.audit.outcomes import Outcomes

        parts.audit = AuditLog.from_settings(settings, store, workspace, on_checkpoint=on_checkpoint)
        # Written a moment later, many to a commit (~30 µs a decision instead of ~70): see docs/governance.md.
        parts._sink = AuditSink(parts.audit, deferred=True)
        subscribe(parts._sink)
        # Each outcome the store records (a call, a step, a run's end) is audited in the same transaction.
        store.join(Outcomes(parts.audit, parts._sink))
    if parts.reloader is not None:
        last = _last_loaded(parts.audit)
        # Once the audit listens; and only when the policy in force is not the one last recorded as loaded, so
        # that each short-lived process (a CLI command) does not add a record of the same policy. A process
        # starting on files that weaken that policy is guarded like a reload.
        if (last or {}).get("version") != parts.reloader.gate.version and not parts.reloader.hold_if_weaker(last):
            parts.reloader.announce_loaded()
    return parts


def _last_loaded(audit: Any) -> dict[str, Any] | None:
    """The details of the policy the audit log last recorded as loaded (None: none, or no audit log)."""
    if audit is None:
        return None
    from toolnexus.store.audit import RecordFilter

    rows = audit.rows.query(RecordFilter(kind="governance.policy_loaded"), limit=1, newest=True)
    if not rows:
        return None
    details = json.loads(rows[0].body).get("details")
    return details if isinstance(details, dict) else None


def _policy_gate(parts: Governed, governance: Governance, settings: Any, workspace: str | Path, *,
                 store: StateStore | None, bus: Announcer, tools: Callable[[], Iterable[ToolSpec]],
                 guard: LooseningGuard | None) -> None:
    """Make the policy files the gate, reloaded when they change (the reloader is the first check asked)."""
    from toolnexus.governance.policy import PolicyGate, missions_in, policy_files

    queue = parts.approvals.queue if parts.approvals is not None else None
    parts.gate = PolicyGate.from_settings(settings, workspace, approvals=queue, tools=tools,
                                          mission_of=missions_in(store) if store is not None else None,
                                          flags=parts.flags.enabled)
    governance.gate = parts.gate
    patterns, root = list(settings.policies), Path(workspace)
    parts.reloader = PolicyReloader(parts.gate, lambda: policy_files(patterns, root), bus, guard=guard)
    governance.checks.insert(0, parts.reloader)
