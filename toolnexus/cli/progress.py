"""The run progress display: a live rich table on a terminal, one line per finished step otherwise.

What each step is doing is :class:`toolnexus.core.progress.RunModel`'s (the state the notebook's live run view
renders too); this module only words and draws it. A step whose call waits for a person's approval shows as
waiting — the rule, the ticket and the command that grants it — until its call is decided (``GateDecided`` with
the final verdict: the model follows the gate, as approvals are mostly granted from another process) and it
runs on.
"""

from __future__ import annotations

import time

from rich.console import Console
from rich.live import Live
from rich.markup import escape as esc
from rich.table import Table
from rich.text import Text

from toolnexus.core import progress
from toolnexus.core.events import (
    Event,
    GateDecided,
    GovernanceChanged,
    RunFinished,
    RunStarted,
    StepFinished,
    StepRetrying,
)
from toolnexus.core.progress import PENDING, WAITING, RunModel, StepRow, rule_of
from toolnexus.core.units import format_duration

_ICONS = {
    "pending": "·",
    "running": "…",
    "succeeded": "✓",
    "failed": "✗",
    "skipped": "↷",
    "cancelled": "⊘",
    "retrying": "↻",
    WAITING: "⏸",
}
_STYLES = {
    "succeeded": "green",
    "failed": "red",
    "skipped": "dim",
    "cancelled": "yellow",
    "running": "cyan",
    "retrying": "magenta",
    WAITING: "bold yellow",
}

__all__ = ["WAITING", "ProgressView", "waiting_note"]


def waiting_note(rule: str | None, ticket: str | None) -> str:
    """``waiting for approval: rule X, ticket T — toolnexus approvals approve T`` (what is known of it)."""
    note = progress.waiting_note(rule, ticket)
    return f"{note} — toolnexus approvals approve {ticket}" if ticket else note


class ProgressView:
    """An event sink that shows each step's state as the run goes (the first run it sees start)."""

    # What it reads: the bus builds no other event for it.
    event_types = progress.GATE_EVENT_TYPES

    def __init__(self, console: Console, live: bool | None = None) -> None:
        self.console = console
        self.live_mode = console.is_terminal if live is None else live
        self.model = RunModel(gate=True)
        self.live: Live | None = None
        self.started = time.perf_counter()

    @property
    def rows(self) -> dict[str, dict[str, str]]:
        """Each step's cells as the table shows them: ``state``, ``tool``, ``time``, ``note``."""
        return {step_id: _cells(row) for step_id, row in self.model.rows.items()}

    def __rich__(self) -> Table:
        table = Table(box=None, show_header=True, header_style="bold")
        for column in ("", "step", "tool", "time", "note"):
            table.add_column(column)
        for step_id, row in self.rows.items():
            state = row["state"]
            table.add_row(
                Text(_ICONS.get(state, "?"), style=_STYLES.get(state, "")),  # markup would break on no style
                Text(step_id),
                Text(row["tool"]),
                Text(row["time"]),
                Text(row["note"]),
            )
        return table

    def __call__(self, event: Event) -> None:
        """Update the model with one run event, then the live table or the log of lines."""
        before = self._approval_state(event)
        if not self.model.apply(event):
            return
        if isinstance(event, RunStarted):
            self.started = time.perf_counter()
            if self.live_mode:
                self.live = Live(self, console=self.console, refresh_per_second=8, transient=False)
                self.live.start()
        elif isinstance(event, RunFinished):
            if self.live is not None:
                self.live.stop()
                self.live = None
        elif not self.live_mode:
            self._log(event, before)

    def _approval_state(self, event: Event) -> tuple[str | None, str | None]:
        """The ticket and state of the step an approval event names, before the event (so that a ticket is
        told once, and a resumption only of a step that waited)."""
        if isinstance(event, GateDecided):
            step_id = event.call.step_id
        elif isinstance(event, GovernanceChanged):
            step_id = event.details.get("step_id")
        else:
            return None, None
        row = self.model.rows.get(step_id) if isinstance(step_id, str) else None
        return (row.ticket, row.state) if row is not None else (None, None)

    def _log(self, event: Event, before: tuple[str | None, str | None]) -> None:
        """Without a live table: one line per retry, finished step, ticket waited for and resumption."""
        if isinstance(event, StepRetrying):
            self.console.print(f"  ↻ {esc(event.step_id)}: {esc(str(event.error))} — retrying in {event.delay:.1f}s")
        elif isinstance(event, StepFinished):
            record = event.record
            note = _note(self.model.rows[record.step_id])
            style = _STYLES.get(record.status.value, "")
            self.console.print(
                f"  [{style}]{_ICONS[record.status.value]}[/] {esc(record.step_id)} "
                f"[dim]({esc(record.tool)}@{esc(record.version)}, {format_duration(record.duration)})[/]"
                + (f" — {esc(note)}" if note else ""),
                highlight=False,
            )
        else:
            self._log_approval(event, before)

    def _log_approval(self, event: Event, before: tuple[str | None, str | None]) -> None:
        """A line for a ticket a step waits on (once per ticket), and one when its call is granted."""
        if isinstance(event, GateDecided):
            step_id = event.call.step_id
            if before[1] == WAITING and event.decision.allowed:
                self.console.print(f"  {_ICONS['running']} {esc(step_id or '')} resumed — "
                                   f"{esc(event.decision.reason)}", highlight=False)
                return
        else:
            step_id = getattr(event, "details", {}).get("step_id")
        row = self.model.rows.get(step_id) if isinstance(step_id, str) else None
        if row is not None and row.state == WAITING and row.ticket and row.ticket != before[0]:
            self.console.print(f"  [{_STYLES[WAITING]}]{_ICONS[WAITING]}[/] {esc(row.step_id)} — {esc(_note(row))}",
                               highlight=False)


def _cells(row: StepRow) -> dict[str, str]:
    """A step's cells, worded for a terminal."""
    return {
        "state": row.state,
        "tool": row.tool if row.state != PENDING else "",
        "time": format_duration(row.duration) if row.duration is not None else "",
        "note": _note(row),
    }


def _note(row: StepRow) -> str:
    """What to know of a step: its error (with the rule that caused it), the approval it waits for (with the
    command that grants it), why it was skipped, or its fan-out."""
    if row.state == "failed" and row.failure is not None:
        return str(row.failure)[:100] + rule_of(row.failure)
    if row.state == WAITING:
        return waiting_note(row.rule, row.ticket)
    if row.items is not None and not row.note:
        return f"{row.items} items"
    return row.note
