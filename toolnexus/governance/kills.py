"""Kill switches: stop a tool, a namespace, a tenant or everything, at once, in every process sharing the store.

``toolnexus kill TOOL --reason …`` writes a switch to the state store. Every process's governance refuses
new calls it matches (decider ``kill-switch``), and its running calls are cancelled, their sandboxes
killed. A process notices a switch set elsewhere within :data:`REFRESH_INTERVAL`: its check and (while
calls run) a watcher thread ask SQLite's ``data_version`` whether anyone committed, and only then read
the handful of active switches again.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING

from toolnexus.core.caller import os_user
from toolnexus.core.decision import Decision, Verdict
from toolnexus.core.events import GovernanceChanged
from toolnexus.governance.decide import Announcer
from toolnexus.governance.inflight import InFlight, InFlightCalls
from toolnexus.governance.plan import CallPlan
from toolnexus.store.kills import SCOPES, KillRecord, KillScope, KillTable
from toolnexus.store.sqlite import StateStore, data_version

if TYPE_CHECKING:
    from toolnexus.governance.loosening import LooseningGuard

log = logging.getLogger("toolnexus.governance")

DECIDER = "kill-switch"
REFRESH_INTERVAL = 0.1
"""Seconds between two looks at the store for switches set by another process."""
MEMO_SIZE = 10_000


def _glob(target: str, name: str) -> bool:
    return target == name or fnmatchcase(name, target)


@dataclass(frozen=True, slots=True)
class Switch:
    """An active kill switch, compiled for matching."""

    record: KillRecord

    def stops(self, tool: str, tenant: str | None) -> bool:
        """Whether this switch stops calls of ``tool`` made for ``tenant``."""
        scope, target = self.record.scope, self.record.target
        if scope == "tool":
            return _glob(target, tool)
        if scope == "namespace":
            namespace = tool.rpartition(".")[0]
            return _glob(target, namespace) or tool.startswith(target.rstrip(".") + ".")
        if scope == "tenant":
            return tenant is not None and _glob(target, tenant)
        return True  # all

    def reason(self, tool: str) -> str:
        """Why a call of ``tool`` is refused or stopped, naming the switch, its reason and who set it."""
        record = self.record
        what = "every tool" if record.scope == "all" else f"{record.scope} {record.target}"
        by = f" by {record.by}" if record.by else ""
        return f"{tool} is stopped by a kill switch on {what}{by}: {record.reason}"

    @property
    def policy(self) -> str:
        """The name decisions record as their policy: ``kill:<scope>:<target>``."""
        return f"kill:{self.record.scope}:{self.record.target}"


class KillSwitches:
    """The kill switches of a state store: set and lift them, and refuse (and stop) the calls they match.

    An instance is a :class:`~toolnexus.governance.decide.Check`: append it to ``Governance.checks``.
    ``announce`` (the Nexus's bus) hears a :class:`GovernanceChanged` ``kill``/``unkill`` for each switch set
    or lifted here; ``tenant`` is the tenant of calls that name none (``[governance] tenant``); ``in_flight``
    the running calls a switch stops (the invoker's: ``nexus.invoker.in_flight``; default none); ``guard``
    (``[governance] guard_loosening``) makes lifting a switch need an approval someone else granted.
    """

    def __init__(self, store: StateStore, announce: Announcer | None = None, *, tenant: str | None = None,
                 in_flight: InFlightCalls | None = None, refresh_interval: float = REFRESH_INTERVAL,
                 guard: LooseningGuard | None = None) -> None:
        self.table = KillTable(store)
        self.guard = guard
        self.announce = announce
        self.tenant = tenant
        self.in_flight = in_flight if in_flight is not None else InFlightCalls()
        self.refresh_interval = refresh_interval
        # The switches in force and the answers found for them, swapped together on a reload (read once per call).
        self._active: tuple[tuple[Switch, ...], dict[tuple[str, str | None], Switch | None]] = ((), {})
        self._local = threading.local()  # per thread: its connection's last data_version and when it looked
        self._closed = threading.Event()
        self._listeners: list[Callable[[], None]] = []
        self._watcher: threading.Thread | None = None
        self._reload(self.store.connection())

    @property
    def store(self) -> StateStore:
        """The state store the switches live in."""
        return self.table.store

    # -- setting and lifting ------------------------------------------------------------------

    def kill(self, scope: KillScope, target: str, reason: str, by: str | None) -> KillRecord:
        """Set a switch on ``target`` (a name or a glob; ignored for scope ``all``); returns it. New calls it
        matches are refused at once here, within :data:`REFRESH_INTERVAL` elsewhere; running ones are stopped."""
        if scope not in SCOPES:
            raise ValueError(f"unknown kill-switch scope {scope!r} (use one of {', '.join(SCOPES)})")
        if not reason.strip():
            raise ValueError("a kill switch needs a reason (it is shown to every caller it refuses)")
        target = "*" if scope == "all" else target.strip()
        if not target:
            raise ValueError(f"a {scope} kill switch needs a target: a name or a glob")
        record, new = self.table.add(scope, target, reason.strip(), by)
        self._reload(self.store.connection())
        if new:
            self._emit("kill", record, by)
        return record

    def unkill(self, target: str, by: str | None, scope: KillScope | None = None, *,
               ticket: str | None = None) -> list[KillRecord]:
        """Lift the active switches on ``target`` (of ``scope``, or every scope); the ones lifted.

        With the loosening :attr:`guard` on, ``ticket`` must name an approval of this lifting that someone
        other than its requester granted (it is used up); without one a request is filed and
        :class:`~toolnexus.governance.loosening.ApprovalNeeded` raised, naming its ticket.
        """
        if scope == "all":
            target = "*"
        if self.guard is not None and self._set_on(target, scope):
            self.guard.lift(target, scope, by or os_user(), ticket)
        lifted = self.table.lift(target, by, scope)
        self._reload(self.store.connection())
        for record in lifted:
            self._emit("unkill", record, by)
        return lifted

    def _set_on(self, target: str, scope: KillScope | None) -> bool:
        """Whether a switch on ``target`` (of ``scope``, or any) is in force: only lifting one asks for approval."""
        return any(r.target == target and scope in (None, r.scope) for r in self.table.active())

    def active(self) -> list[KillRecord]:
        """The switches in force now, as the store has them."""
        return self.table.active()

    def stopping(self, tool: str, tenant: str | None = None) -> KillRecord | None:
        """The switch in force that stops ``tool`` for ``tenant`` (default: :attr:`tenant`), or None — e.g. for
        a listing (MCP ``tools/list``) that leaves out what would be refused."""
        self._refresh()
        switches, memo = self._active
        switch = self._matching(switches, memo, tool, tenant) if switches else None
        return None if switch is None else switch.record

    def subscribe(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call ``listener()`` whenever the switches in force change (set or lifted here or in another process;
        with :meth:`watch` on, noticed within :data:`REFRESH_INTERVAL` even when no call runs). It is called on
        whichever thread noticed, and must return at once. Returns a function that unsubscribes it."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def _changed(self) -> None:
        for listener in list(self._listeners):
            try:
                listener()
            except Exception:  # a listener's bug must not stop the switches
                log.exception("kill-switch listener %r failed", listener)

    def _emit(self, action: str, record: KillRecord, by: str | None) -> None:
        announce = self.announce
        if announce is None or not announce.wants(GovernanceChanged):
            return
        announce.emit(GovernanceChanged(action=action, target=record.target, by=by,  # type: ignore[arg-type]
                                        reason=record.reason,
                                        details={"scope": record.scope, "switch": record.id}))

    # -- deciding -----------------------------------------------------------------------------

    def __call__(self, plan: CallPlan) -> Decision | None:
        """Refuse ``plan`` if a switch stops its tool or tenant (None: no switch matches)."""
        self._refresh()
        switches, memo = self._active
        if not switches:
            return None
        caller = plan.call.caller
        tool = plan.tool
        switch = self._matching(switches, memo, tool, caller.tenant if caller is not None else None)
        if switch is None:
            return None
        return Decision(verdict=Verdict.DENY, decider=DECIDER, policy=switch.policy, reason=switch.reason(tool))

    def _matching(self, switches: tuple[Switch, ...], memo: dict[tuple[str, str | None], Switch | None],
                  tool: str, tenant: str | None) -> Switch | None:
        """The first of ``switches`` that stops ``tool`` for ``tenant``; ``memo`` keeps the answers for these
        switches, so globs are matched once per tool and tenant."""
        tenant = tenant or self.tenant
        key = (tool, tenant)
        try:
            return memo[key]
        except KeyError:
            pass
        switch = next((s for s in switches if s.stops(tool, tenant)), None)
        if len(memo) >= MEMO_SIZE:
            memo.clear()
        memo[key] = switch
        return switch

    def _refresh(self) -> None:
        """Read the switches again if the store changed since this thread last looked (at most every
        :attr:`refresh_interval`)."""
        local = self._local
        now = time.monotonic()
        if now - getattr(local, "checked_at", -1e9) < self.refresh_interval:
            return
        local.checked_at = now
        conn = self.store.connection()
        # data_version: commits by other connections; total_changes: this connection's own.
        version = (data_version(conn), conn.total_changes)
        if version != getattr(local, "version", None):
            local.version = version
            self._reload(conn)

    def _reload(self, conn: sqlite3.Connection) -> None:
        switches = tuple(Switch(r) for r in self.table.active(conn))
        if switches != self._active[0]:
            self._active = (switches, {})
            self._changed()
        if switches:
            self._stop_running(switches)

    def _stop_running(self, switches: Sequence[Switch]) -> list[InFlight]:
        """Cancel the running calls ``switches`` match and nobody stopped yet (their runtimes kill what they
        started)."""

        def reason(flight: InFlight) -> str | None:
            tenant = flight.tenant or self.tenant
            switch = next((s for s in switches if s.stops(flight.tool, tenant)), None)
            return None if switch is None else switch.reason(flight.tool)

        if self._closed.is_set():  # closed: its watcher may still be finishing a look
            return []
        stopped = self.in_flight.stop(reason)
        if stopped:
            log.warning("kill switch stopped %d running call(s): %s", len(stopped),
                        ", ".join(f.tool for f in stopped))
        return stopped

    # -- the watcher --------------------------------------------------------------------------

    def watch(self) -> KillSwitches:
        """Start the thread that stops this process's running calls when another process sets a switch, and
        tells the :meth:`subscribe` listeners (it looks only while calls run or someone listens). Returns self;
        :meth:`close` stops it."""
        if self._watcher is None:
            self._watcher = threading.Thread(target=self._watch, name="toolnexus-kill-switches", daemon=True)
            self._watcher.start()
        return self

    def _watch(self) -> None:
        while not self._closed.is_set():
            # While calls run (to stop them) or someone listens for changes; an idle process sleeps.
            busy = bool(self._listeners) or self.in_flight.busy.wait(0.5)
            if busy and not self._closed.is_set():
                self._look()
                self._closed.wait(self.refresh_interval)

    def _look(self) -> None:
        """The watcher's look: re-read the switches if the store changed, and stop the running calls they match
        (also one allowed just before its switch was set, and started after)."""
        try:
            self._refresh()
        except sqlite3.Error as exc:  # the store closed under us, or is locked for long: try again
            log.debug("kill-switch watcher: %s", exc)
        switches = self._active[0]
        if switches:
            self._stop_running(switches)

    def close(self) -> None:
        """Stop the watcher thread (it ends within half a second; nothing waits for it)."""
        self._closed.set()
        self._watcher = None
