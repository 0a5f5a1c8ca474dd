"""The governance review widget (``tn.review()``): approve what waits, flip kill switches, read the decisions.

``review()`` shows, for the workspace's state store — the same one the CLI, the Jupyter server's REST routes
and every agent's calls use:

- **Approvals**: the queue, live. Each waiting call shows its tool, scrubbed arguments, who asked (an agent
  over MCP, a run's step), the rule and a countdown to its deadline, with **Approve** / **Deny**, a scope
  (this call, this run, matching arguments for a time) and a reason. The decision is recorded with the
  notebook's user as the approver; a refusal (four eyes, decided elsewhere) is shown as a message.
- **Kill switches**: those in force; kill with a reason, or lift (with ``guard_loosening`` the ticket it
  files is shown).
- **Decisions**: the audit log's recent decisions, filtered by tool, rule, effect and mode.
- **Observe**: per observe or warn rule, how many calls it would have denied or sent for approval.
- **Audit**: ``audit verify``'s status — intact, or the first bad record.

Live: a daemon thread looks at the database's ``PRAGMA data_version`` every :data:`POLL` seconds (a read of
shared memory) and re-reads the queue and the switches only when any process committed; the countdowns tick
on the same timer. Closing the widget stops the thread.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

import ipywidgets as widgets

from toolnexus.notebook.review_cards import KillPanel, TicketCard
from toolnexus.notebook.review_data import EFFECTS, MODES, Outcome, Review
from toolnexus.notebook.review_html import decisions_html, message_html, observed_html, verification_html
from toolnexus.store.approvals import ApprovalRecord

if TYPE_CHECKING:
    from toolnexus.api import Nexus

POLL = 0.1
"""Seconds between two looks at the store for changes (and two countdown ticks)."""

MAX_CARDS = 50
"""Waiting calls shown at once, oldest first (the rest are counted): a flood of requests stays readable."""

TABS = ("Approvals", "Kill switches", "Decisions", "Observe", "Audit")


class ReviewWidget(widgets.VBox):
    """The review widget over a :class:`~toolnexus.notebook.review_data.Review` (see the module's doc)."""

    def __init__(self, review: Review, *, live: bool = True, poll: float = POLL) -> None:
        self.review = review
        self.poll = poll
        self.status = widgets.HTML(layout=widgets.Layout(width="100%"))
        self.cards: dict[str, TicketCard] = {}
        self.queue = widgets.VBox(layout=widgets.Layout(width="100%"))
        self.empty = widgets.HTML("<i>no call is waiting for approval</i>")
        self.more = widgets.HTML()
        self.kill_panel = KillPanel(review, self.show)
        self.tool_filter = widgets.Text(placeholder="tool (glob)", layout=widgets.Layout(width="auto"))
        self.rule_filter = widgets.Text(placeholder="rule", layout=widgets.Layout(width="auto"))
        self.effect_filter = widgets.Dropdown(options=[("any effect", ""), *((e, e) for e in EFFECTS)],
                                              layout=widgets.Layout(width="auto"))
        self.mode_filter = widgets.Dropdown(options=[("any mode", ""), *((m, m) for m in MODES)],
                                            layout=widgets.Layout(width="auto"))
        self.decisions = widgets.HTML(layout=widgets.Layout(width="100%"))
        self.observed = widgets.HTML(layout=widgets.Layout(width="100%"))
        self.audit = widgets.HTML(layout=widgets.Layout(width="100%"))
        self.tabs = widgets.Tab(children=self._pages(), layout=widgets.Layout(width="100%"))
        self.tabs.titles = TABS
        super().__init__([self.status, self.tabs], layout=widgets.Layout(width="100%", max_width="100%"))
        self._lock = threading.RLock()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self.refresh()
        self.refresh_reports()
        if live:
            self.start()

    def _pages(self) -> list[widgets.Widget]:
        for control in (self.tool_filter, self.rule_filter, self.effect_filter, self.mode_filter):
            control.observe(lambda _: self.refresh_decisions(), names="value")
        refresh = widgets.Button(description="Refresh", icon="refresh")
        refresh.on_click(lambda _: self.refresh_reports())
        verify = widgets.Button(description="Verify", icon="check")
        verify.on_click(lambda _: self.refresh_audit())
        wrap = widgets.Layout(flex_flow="row wrap", width="100%")
        filters = widgets.HBox([self.tool_filter, self.rule_filter, self.effect_filter, self.mode_filter, refresh],
                               layout=wrap)
        return [widgets.VBox([self.empty, self.queue, self.more]), self.kill_panel,
                widgets.VBox([filters, self.decisions]), self.observed, widgets.VBox([verify, self.audit])]

    # -- refreshing --------------------------------------------------------------------------------

    def refresh(self) -> None:
        """Read the approvals queue and the kill switches again (the live part)."""
        with self._lock:
            pending = self.review.pending()
            self._show_cards(pending[:MAX_CARDS], time.time())
            more = len(pending) - MAX_CARDS
            self.more.value = f"<i>{more} more waiting: decide these first</i>" if more > 0 else ""
            self.empty.layout.display = "none" if pending else None
            self.tabs.set_title(0, f"Approvals ({len(pending)})" if pending else "Approvals")
            self.kill_panel.refresh()

    def _show_cards(self, records: list[ApprovalRecord], now: float) -> None:
        """Show a card for each of ``records`` (reusing those already shown) and no other."""
        shown = {record.ticket for record in records}
        for ticket in [t for t in self.cards if t not in shown]:
            self.cards.pop(ticket).close()
        for record in records:
            card = self.cards.get(record.ticket)
            if card is None:
                self.cards[record.ticket] = TicketCard(record, self.review, self._decided, now)
            else:
                card.tick(now)
        children = tuple(self.cards[record.ticket] for record in records)
        if self.queue.children != children:
            self.queue.children = children

    def refresh_decisions(self) -> None:
        """The decisions list, under the current filters."""
        rows = self.review.decisions(self.tool_filter.value, self.rule_filter.value, self.effect_filter.value,
                                     self.mode_filter.value)
        self.decisions.value = decisions_html(rows)

    def refresh_audit(self) -> None:
        """Verify the audit chain again and show its status."""
        self.audit.value = verification_html(self.review.verify())

    def refresh_reports(self) -> None:
        """The decisions, the observe counts and the audit status (read on demand: they walk the audit log)."""
        self.refresh_decisions()
        self.observed.value = observed_html(self.review.observed())
        self.refresh_audit()

    def tick(self) -> None:
        """Advance the countdowns of the waiting tickets."""
        now = time.time()
        with self._lock:
            for card in list(self.cards.values()):
                card.tick(now)

    def show(self, outcome: Outcome) -> None:
        """Show what an action did (a refusal in red)."""
        self.status.value = message_html(outcome.ok, outcome.message)

    def _decided(self, outcome: Outcome) -> None:
        self.show(outcome)
        if outcome.ok:
            self.refresh()

    # -- live updates --------------------------------------------------------------------------------

    def start(self) -> None:
        """Start following the store (idempotent)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._follow, name="toolnexus-review", daemon=True)
            self._thread.start()

    def _follow(self) -> None:
        watch = self.review.approvals.queue.table.store.change_watch()
        watch.changed()
        try:
            while not self._stopped.wait(self.poll):
                try:
                    if watch.changed():
                        self.refresh()
                    else:
                        self.tick()
                except Exception as exc:  # a locked database or a closed store: say so, keep following
                    self.show(Outcome(False, f"could not read the store: {exc}"))
        finally:
            watch.close()

    def stop(self) -> None:
        """Stop following the store."""
        self._stopped.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=2)

    def close(self) -> None:
        """Stop following the store and close the widget."""
        self.stop()
        super().close()


def review(nexus: Nexus | None = None, *, approver: str | None = None, live: bool = True) -> ReviewWidget:
    """The governance review widget for ``nexus`` (default: the current directory's workspace).

    ``approver`` is who the decisions are recorded as (default: the kernel's user); ``live=False`` reads the
    store only when asked (:meth:`ReviewWidget.refresh`).
    """
    if nexus is None:
        from toolnexus.api import default_nexus

        nexus = default_nexus()
    return ReviewWidget(Review(nexus, approver), live=live)

