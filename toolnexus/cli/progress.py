"""The run progress display: a live rich table on a terminal, one line per finished step otherwise.

A step whose call waits for a person's approval shows as waiting — the rule, the ticket and the command that
grants it — until its call is decided (``GateDecided`` with the final verdict) and it runs on.
"""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.markup import escape as esc
from rich.table import Table
from rich.text import Text

from toolnexus.core.decision import Decision
from toolnexus.core.errors import ToolError
from toolnexus.core.events import (
    Event,
    GateDecided,
    GovernanceChanged,
    RunFinished,
    RunStarted,
    StepFinished,
    StepRetrying,
    StepStarted,
)
from toolnexus.core.run import StepStatus
from toolnexus.core.units import format_duration

WAITING = "waiting"  # a display state, not a StepStatus: the step's call is parked for an approval

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


def waiting_note(rule: str | None, ticket: str | None) -> str:
    """``waiting for approval: rule X, ticket T — toolnexus approvals approve T`` (what is known of it)."""
    known = ", ".join(part for part in (f"rule {rule}" if rule else "", f"ticket {ticket}" if ticket else "") if part)
    note = f"waiting for approval: {known}" if known else "waiting for approval"
    return f"{note} — toolnexus approvals approve {ticket}" if ticket else note


class ProgressView:
    """An event sink that shows each step's state as the run goes."""

    # What it reads: the bus builds no other event for it.
    event_types = (RunStarted, StepStarted, StepRetrying, StepFinished, RunFinished, GateDecided, GovernanceChanged)

    def __init__(self, console: Console, live: bool | None = None) -> None:
        self.console = console
        self.live_mode = console.is_terminal if live is None else live
        self.rows: dict[str, dict[str, Any]] = {}
        self.live: Live | None = None
        self.started = time.perf_counter()

    def __rich__(self) -> Table:
        table = Table(box=None, show_header=True, header_style="bold")
        for column in ("", "step", "tool", "time", "note"):
            table.add_column(column)
        for step_id, row in self.rows.items():
            state = row["state"]
            table.add_row(
                Text(_ICONS.get(state, "?"), style=_STYLES.get(state, "")),  # markup would break on no style
                Text(step_id),
                Text(row.get("tool", "")),
                Text(row.get("time", "")),
                Text(row.get("note", "")),
            )
        return table

    def __call__(self, event: Event) -> None:
        """Update the live table with one run event."""
        handle = getattr(self, f"_on_{event.type}", None)
        if handle is not None:
            handle(event)

    def _on_run_started(self, event: RunStarted) -> None:
        self.rows = {sid: {"state": "pending"} for sid in event.step_ids}
        self.started = time.perf_counter()
        if self.live_mode:
            self.live = Live(self, console=self.console, refresh_per_second=8, transient=False)
            self.live.start()

    def _on_step_started(self, event: StepStarted) -> None:
        row = self.rows.setdefault(event.step_id, {})
        row.update(
            state="running",
            tool=event.tool,
            note=f"attempt {event.attempt}" if event.attempt > 1 else row.get("note", ""),
        )

    def _on_step_retrying(self, event: StepRetrying) -> None:
        row = self.rows.setdefault(event.step_id, {})
        row.update(state="retrying", note=f"retry {event.attempt} in {event.delay:.1f}s: {event.error.message[:60]}")
        if not self.live_mode:
            self.console.print(f"  ↻ {esc(event.step_id)}: {esc(str(event.error))} — retrying in {event.delay:.1f}s")

    def _on_step_finished(self, event: StepFinished) -> None:
        record = event.record
        note = ""
        if record.status == StepStatus.FAILED and record.error:
            note = str(record.error)[:100] + _rule_of(record.error)
        elif record.skip_reason:
            note = record.skip_reason
        elif record.cached:
            note = "cached"
        elif record.items is not None:
            note = f"{record.items} items"
        self.rows[record.step_id] = {
            "state": record.status.value,
            "tool": f"{record.tool}@{record.version}",
            "time": format_duration(record.duration),
            "note": note,
        }
        if not self.live_mode:
            style = _STYLES.get(record.status.value, "")
            self.console.print(
                f"  [{style}]{_ICONS[record.status.value]}[/] {esc(record.step_id)} "
                f"[dim]({esc(record.tool)}@{esc(record.version)}, {format_duration(record.duration)})[/]"
                + (f" — {esc(note)}" if note else ""),
                highlight=False,
            )

    def _on_run_finished(self, event: RunFinished) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None

    # -- approvals ------------------------------------------------------------------------------

    def _on_gate_decided(self, event: GateDecided) -> None:
        """A step's call parked (waiting) or, once parked, decided: it runs on (or fails, which StepFinished shows)."""
        step_id = event.call.step_id
        if step_id is None or event.run_id is None:
            return  # not a mission step's call
        decision = event.decision
        if decision.waiting:
            self._waiting(step_id, decision.policy, decision.ticket)
        elif self.rows.get(step_id, {}).get("state") == WAITING:
            self._resumed(step_id, decision)

    def _on_governance_changed(self, event: GovernanceChanged) -> None:
        """The approvals queue recorded a ticket for a step's parked call: show its ticket."""
        step_id = event.details.get("step_id")
        if event.action == "approval_requested" and event.run_id is not None and isinstance(step_id, str):
            self._waiting(step_id, event.details.get("rule"), event.target)

    def _waiting(self, step_id: str, rule: str | None, ticket: str | None) -> None:
        row = self.rows.setdefault(step_id, {})
        told = row.get("ticket")
        row.update(state=WAITING, rule=rule or row.get("rule"), ticket=ticket or told)
        row["note"] = waiting_note(row["rule"], row["ticket"])
        if not self.live_mode and row["ticket"] and row["ticket"] != told:  # one line per ticket
            self.console.print(f"  [{_STYLES[WAITING]}]{_ICONS[WAITING]}[/] {esc(step_id)} — {esc(row['note'])}",
                               highlight=False)

    def _resumed(self, step_id: str, decision: Decision) -> None:
        row = self.rows[step_id]
        row.update(state="running" if decision.allowed else "failed", note=decision.reason[:100])
        row.pop("ticket", None)
        row.pop("rule", None)
        if not self.live_mode and decision.allowed:
            self.console.print(f"  {_ICONS['running']} {esc(step_id)} resumed — {esc(decision.reason)}",
                               highlight=False)


def _rule_of(error: ToolError) -> str:
    """`` (rule R)`` for an error a policy rule caused, when its message does not name the rule already."""
    rule = error.details.get("policy")
    return f" (rule {rule})" if isinstance(rule, str) and rule and rule not in error.message else ""
