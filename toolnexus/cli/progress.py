"""The run progress display: a live rich table on a terminal, one line per finished step otherwise."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.markup import escape as esc
from rich.table import Table
from rich.text import Text

from toolnexus.core.events import Event, RunFinished, RunStarted, StepFinished, StepRetrying, StepStarted
from toolnexus.core.run import StepStatus
from toolnexus.core.units import format_duration

_ICONS = {
    "pending": "·",
    "running": "…",
    "succeeded": "✓",
    "failed": "✗",
    "skipped": "↷",
    "cancelled": "⊘",
    "retrying": "↻",
}
_STYLES = {
    "succeeded": "green",
    "failed": "red",
    "skipped": "dim",
    "cancelled": "yellow",
    "running": "cyan",
    "retrying": "magenta",
}


class ProgressView:
    """An event sink that shows each step's state as the run goes."""

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
                f"[{_STYLES.get(state, '')}]{_ICONS.get(state, '?')}[/]",
                Text(step_id),
                Text(row.get("tool", "")),
                Text(row.get("time", "")),
                Text(row.get("note", "")),
            )
        return table

    def __call__(self, event: Event) -> None:
        """Update the live table with one run event."""
        if isinstance(event, RunStarted):
            self.rows = {sid: {"state": "pending"} for sid in event.step_ids}
            self.started = time.perf_counter()
            if self.live_mode:
                self.live = Live(self, console=self.console, refresh_per_second=8, transient=False)
                self.live.start()
        elif isinstance(event, StepStarted):
            row = self.rows.setdefault(event.step_id, {})
            row.update(
                state="running",
                tool=event.tool,
                note=f"attempt {event.attempt}" if event.attempt > 1 else row.get("note", ""),
            )
        elif isinstance(event, StepRetrying):
            row = self.rows.setdefault(event.step_id, {})
            row.update(
                state="retrying", note=f"retry {event.attempt} in {event.delay:.1f}s: {event.error.message[:60]}"
            )
            if not self.live_mode:
                self.console.print(
                    f"  ↻ {esc(event.step_id)}: {esc(str(event.error))} — retrying in {event.delay:.1f}s"
                )
        elif isinstance(event, StepFinished):
            record = event.record
            note = ""
            if record.status == StepStatus.FAILED and record.error:
                note = str(record.error)[:100]
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
        elif isinstance(event, RunFinished) and self.live is not None:
            self.live.stop()
            self.live = None
