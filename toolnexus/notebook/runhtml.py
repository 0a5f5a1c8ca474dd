"""The live run view's HTML: a header (status, time, cost against the budget, MLflow link), counts per state and
one table of steps — one string, so a 1,000-step run is one widget updated in place, not 1,000 widgets.

Pure functions of a :class:`~toolnexus.core.progress.RunModel`; no CDN, no script: it reads the same in
JupyterLab, classic Notebook, VS Code and a static HTML export.
"""

from __future__ import annotations

from html import escape
from typing import Any

from toolnexus.core.progress import ACTIVE, PENDING, STATES, WAITING, RunModel, StepRow
from toolnexus.core.units import format_duration
from toolnexus.notebook.display.results import tracker_link

ICONS = {
    "pending": "·", "running": "…", "retrying": "↻", WAITING: "⏸", "succeeded": "✓", "failed": "✗",
    "skipped": "↷", "cancelled": "⊘",
}
COLOURS = {
    "pending": "#888", "running": "#0a7ea4", "retrying": "#a020a0", WAITING: "#b26b00", "succeeded": "#1a7f37",
    "failed": "#cf222e", "skipped": "#888", "cancelled": "#9a6700",
}
LABELS = {WAITING: "waiting for approval"}
_CELL = "padding:1px 8px;text-align:left;vertical-align:top"


def view_html(model: RunModel, link: tuple[str, str | None] | None, limit: int = 100) -> str:
    """The whole view: header, counts and the steps table (scrolling past 480 px)."""
    return (f'<div class="toolnexus-run">{header_html(model, link)}{counts_html(model)}'
            f'<div style="max-height:480px;overflow:auto">{table_html(model, limit)}</div></div>')


def header_html(model: RunModel, link: tuple[str, str | None] | None) -> str:
    """The run's status line: mission, run id, status, elapsed time, cost (against the budget), MLflow link."""
    status = model.status
    colour = COLOURS.get(status, "#444")
    parts = [f"<b>{escape(model.mission or 'mission')}</b>",
             f"<code>{escape(model.run_id or '')}</code>" if model.run_id else "",
             f'<span style="color:{colour};font-weight:bold">{escape(status)}</span>',
             escape(format_duration(model.elapsed())) if model.run_id else "",
             escape(cost_text(model))]
    if model.resumed_from:
        parts.append(f"resumes <code>{escape(model.resumed_from)}</code>")
    if link is not None:
        text, url = link
        parts.append(f'<a href="{escape(url)}" target="_blank">{escape(text)}</a>' if url else escape(text))
    line = " · ".join(part for part in parts if part)
    error = ""
    if model.result is not None and model.result.error is not None and not model.result.failed_steps():
        error = f'<div style="color:{COLOURS["failed"]}">{escape(str(model.result.error)[:400])}</div>'
    return f'<div class="toolnexus-run-header">{line}{error}</div>'


def cost_text(model: RunModel) -> str:
    """``cost 0.40 / 1.00 USD`` (against the budget), ``cost 0.40 USD``, or nothing before any cost."""
    if model.budget is not None:
        return f"cost {model.cost:.4g} / {model.budget:.4g} {model.currency}"
    return f"cost {model.cost:.4g} {model.currency}" if model.cost else ""


def counts_html(model: RunModel) -> str:
    """One badge per state that has steps: ``✓ 12 succeeded · … 3 running · · 985 pending``."""
    badges = []
    for state in STATES:
        n = model.counts.get(state, 0)
        if n:
            badges.append(f'<span class="toolnexus-count-{state}" style="color:{COLOURS[state]}">'
                          f"{ICONS[state]} {n} {escape(LABELS.get(state, state))}</span>")
    return f'<div class="toolnexus-run-counts">{" · ".join(badges)}</div>'


def visible_rows(model: RunModel, limit: int) -> tuple[list[StepRow], int]:
    """The rows to show (at most ``limit``, in plan order): every active or failed step first, then the
    others in order; and how many are left out."""
    rows = list(model.rows.values())
    if len(rows) <= limit:
        return rows, 0
    urgent = [row for row in rows if row.state in ACTIVE or row.state == "failed"][:limit]
    chosen = {row.step_id for row in urgent}
    for row in rows:
        if len(chosen) >= limit:
            break
        chosen.add(row.step_id)
    shown = [row for row in rows if row.step_id in chosen]
    return shown, len(rows) - len(shown)


def table_html(model: RunModel, limit: int = 100) -> str:
    """The steps table: state, step, tool, duration, cost, fan-out and what to know (error, rule, retry)."""
    rows, hidden = visible_rows(model, limit)
    now = model.clock()
    head = "".join(f'<th style="{_CELL}">{name}</th>' for name in ("", "step", "tool", "state", "time", "cost",
                                                                    "items", "note"))
    body = "".join(_row_html(row, now) for row in rows)
    more = (f'<div class="toolnexus-run-more" style="color:#888">… {hidden} more steps '
            f"(active and failed steps are always shown)</div>") if hidden else ""
    return (f'<table class="toolnexus-run-steps" style="border-collapse:collapse;font-size:90%">'
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{more}")


def _row_html(row: StepRow, now: float) -> str:
    colour = COLOURS.get(row.state, "#444")
    state = LABELS.get(row.state, row.state)
    if row.state == "retrying" or (row.state == "running" and row.attempt > 1):
        state += f" {max(row.attempt, 1)}/{row.attempts}"
    cells = [
        f'<span style="color:{colour}">{ICONS.get(row.state, "?")}</span>',
        escape(row.step_id),
        f"<code>{escape(row.tool)}</code>" if row.tool else "",
        f'<span style="color:{colour}">{escape(state)}</span>',
        escape(_duration(row, now)),
        f"{row.cost:.4g}" if row.cost else "",
        escape(_items(row)),
        _note(row),
    ]
    tds = "".join(f'<td style="{_CELL}">{cell}</td>' for cell in cells)
    return f'<tr class="toolnexus-step toolnexus-step-{row.state}" data-step="{escape(row.step_id)}">{tds}</tr>'


def _duration(row: StepRow, now: float) -> str:
    if row.duration is not None and row.state not in ACTIVE:
        return format_duration(row.duration)
    if row.started is not None and row.state != PENDING:
        return format_duration(max(0.0, now - row.started))
    return ""


def _items(row: StepRow) -> str:
    if row.items is not None:
        return f"{row.items} items"
    return f"{row.items_started} started" if row.foreach and row.items_started else ""


def _note(row: StepRow) -> str:
    if row.error:
        return f'<span style="color:{COLOURS["failed"]}">{escape(row.error)}</span>'
    if row.state == WAITING and row.ticket:
        rule = f"rule <b>{escape(row.rule)}</b>, " if row.rule else ""
        return (f"waiting for approval: {rule}ticket <code>{escape(row.ticket)}</code> — "
                f"<code>tn.approvals.approve({escape(repr(row.ticket))})</code>")
    return escape(row.note)


def mlflow_link(tracker: Any, model: RunModel) -> tuple[str, str | None] | None:
    """``(text, url)`` of the run's MLflow run (url None for a store without a web UI), or None if the
    tracker has not opened it yet (it opens one while a long run streams, or when the run ends)."""
    return tracker_link(tracker, model.run_id, model.mission, ui_hint=True)
