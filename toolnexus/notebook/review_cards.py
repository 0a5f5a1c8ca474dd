"""The review widget's interactive parts: a waiting ticket's card (Approve / Deny) and the kill-switch panel."""

from __future__ import annotations

from collections.abc import Callable

import ipywidgets as widgets

from toolnexus.notebook.review_data import Outcome, Review
from toolnexus.notebook.review_html import message_html, switches_html, ticket_html
from toolnexus.store.approvals import ApprovalRecord
from toolnexus.store.kills import SCOPES

SCOPE_CHOICES = (("this call", "call"), ("this run", "run"), ("matching arguments, for a time", "pattern"))

Decided = Callable[[Outcome], None]


def _wide(placeholder: str, description: str = "") -> widgets.Text:
    return widgets.Text(placeholder=placeholder, description=description,
                        layout=widgets.Layout(flex="1 1 12em", min_width="8em", width="auto"))


class TicketCard(widgets.VBox):
    """One waiting call: what it is, and Approve / Deny with a scope and a reason.

    ``decided(outcome)`` is told what a click did; a refusal also stays on the card (:attr:`message`).
    """

    def __init__(self, record: ApprovalRecord, review: Review, decided: Decided, now: float) -> None:
        self.record = record
        self.review = review
        self.decided = decided
        self.header = widgets.HTML(ticket_html(record, now), layout=widgets.Layout(width="100%"))
        self.scope = widgets.Dropdown(options=SCOPE_CHOICES, value="call", description="scope",
                                      layout=widgets.Layout(width="auto"))
        self.match = _wide("argument=glob, e.g. path=out/*", "match")
        self.duration = _wide("for how long, e.g. 1h", "for")
        self.reason = _wide("reason (needed to deny)", "reason")
        self.approve = widgets.Button(description="Approve", button_style="success", icon="check")
        self.deny = widgets.Button(description="Deny", button_style="danger", icon="times")
        self.message = widgets.HTML()
        self.approve.on_click(lambda _: self._approve())
        self.deny.on_click(lambda _: self._deny())
        self.scope.observe(lambda _: self._show_pattern(), names="value")
        self.pattern = widgets.HBox([self.match, self.duration], layout=widgets.Layout(flex_flow="row wrap"))
        self._show_pattern()
        row = widgets.Layout(flex_flow="row wrap", width="100%", align_items="center")
        super().__init__([self.header, widgets.HBox([self.scope, self.reason], layout=row), self.pattern,
                          widgets.HBox([self.approve, self.deny, self.message], layout=row)],
                         layout=widgets.Layout(border="1px solid #ccc", padding="4px", margin="2px 0",
                                               width="100%"))

    def _show_pattern(self) -> None:
        self.pattern.layout.display = None if self.scope.value == "pattern" else "none"

    def tick(self, now: float) -> None:
        """Show the countdown as of ``now``."""
        html = ticket_html(self.record, now)
        if html != self.header.value:
            self.header.value = html

    def _approve(self) -> None:
        self._done(self.review.approve(self.record.ticket, self.scope.value, self.reason.value,
                                       duration=self.duration.value, match=self.match.value))

    def _deny(self) -> None:
        self._done(self.review.deny(self.record.ticket, self.reason.value))

    def _done(self, outcome: Outcome) -> None:
        self.message.value = message_html(outcome.ok, outcome.message)
        self.decided(outcome)


class KillPanel(widgets.VBox):
    """The kill switches in force, and a form to set one (with a reason) or lift one."""

    def __init__(self, review: Review, decided: Decided) -> None:
        self.review = review
        self.decided = decided
        self.listing = widgets.HTML(layout=widgets.Layout(width="100%"))
        self.scope = widgets.Dropdown(options=list(SCOPES), value="tool", description="scope",
                                      layout=widgets.Layout(width="auto"))
        self.target = _wide("tool, namespace or tenant (a glob)", "target")
        self.reason = _wide("why (shown to every caller refused)", "reason")
        self.ticket = _wide("approval ticket, to lift a guarded switch", "ticket")
        self.kill = widgets.Button(description="Kill", button_style="danger", icon="ban")
        self.unkill = widgets.Button(description="Unkill", button_style="warning", icon="undo")
        self.message = widgets.HTML()
        self.kill.on_click(lambda _: self._kill())
        self.unkill.on_click(lambda _: self._unkill())
        row = widgets.Layout(flex_flow="row wrap", width="100%", align_items="center")
        super().__init__([self.listing, widgets.HBox([self.scope, self.target, self.reason], layout=row),
                          widgets.HBox([self.kill, self.unkill, self.ticket], layout=row), self.message],
                         layout=widgets.Layout(width="100%"))

    def refresh(self) -> None:
        """List the switches in force again."""
        html = switches_html(self.review.switches())
        if html != self.listing.value:
            self.listing.value = html

    def _kill(self) -> None:
        self._done(self.review.kill(self.scope.value, self.target.value, self.reason.value))

    def _unkill(self) -> None:
        scope = self.scope.value
        self._done(self.review.unkill(self.target.value.strip() or "*", scope, self.ticket.value))

    def _done(self, outcome: Outcome) -> None:
        self.message.value = message_html(outcome.ok, outcome.message)
        self.refresh()
        self.decided(outcome)
