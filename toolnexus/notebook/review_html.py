"""The HTML of the governance review widget's parts: a waiting ticket, the kill switches, the decisions, the
observe counts and the audit status. Plain HTML with inline styles (no CDN, no script): it reads the same in
JupyterLab, classic Notebook, VS Code and a static export."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from html import escape

from toolnexus.core.units import format_duration
from toolnexus.governance.audit.verify import Verification
from toolnexus.governance.policy.observed import Would
from toolnexus.notebook.review_data import DecisionRow
from toolnexus.store.approvals import ApprovalRecord
from toolnexus.store.kills import KillRecord

TABLE = "border-collapse:collapse;width:100%;font-size:0.9em;table-layout:auto"
CELL = "border-bottom:1px solid #ddd;padding:2px 6px;text-align:left;vertical-align:top;overflow-wrap:anywhere"
ARGUMENTS_SHOWN = 600
"""Characters of a ticket's arguments shown (the whole, scrubbed, is in the store)."""


def table(headers: Sequence[str], rows: Iterable[Sequence[object]], empty: str = "none") -> str:
    """An HTML table of ``rows`` under ``headers`` (each cell escaped); ``empty`` when there is no row."""
    body = "".join("<tr>" + "".join(f'<td style="{CELL}">{escape(_text(cell))}</td>' for cell in row) + "</tr>"
                   for row in rows)
    if not body:
        return f"<p><i>{escape(empty)}</i></p>"
    head = "".join(f'<th style="{CELL}">{escape(h)}</th>' for h in headers)
    return f'<table style="{TABLE}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _text(value: object) -> str:
    return "" if value is None else str(value)


def _when(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def who_asked(record: ApprovalRecord) -> str:
    """Who is waiting: the principal, over which surface, for which run's step."""
    who = record.principal or "someone"
    text = f"{who} over {record.surface}" if record.surface else who
    if record.run_id:
        text += f", run {record.run_id}" + (f" step {record.step_id}" if record.step_id else "")
    return text


def countdown(record: ApprovalRecord, now: float) -> str:
    """How long the ticket may still wait: ``expires in 4m 10s`` (``overdue`` once past)."""
    left = record.deadline - now
    return f"expires in {format_duration(max(left, 0.0))}" if left > 0 else "overdue"


def ticket_html(record: ApprovalRecord, now: float) -> str:
    """A waiting ticket: the tool, its (scrubbed) arguments, who asked, the rule and the deadline."""
    arguments = json.dumps(record.arguments, ensure_ascii=False, default=str, indent=1)
    if len(arguments) > ARGUMENTS_SHOWN:
        arguments = arguments[:ARGUMENTS_SHOWN] + " …"
    rule = escape(record.rule or "-")
    four_eyes = " · four eyes" if record.four_eyes else ""
    reason = f"<div>{escape(record.reason)}</div>" if record.reason else ""
    return (f'<div style="overflow-wrap:anywhere"><b>{escape(record.tool)}</b> '
            f'<code>{escape(record.ticket)}</code> · rule <b>{rule}</b>{four_eyes} · '
            f'<span class="tn-countdown">{escape(countdown(record, now))}</span>'
            f"<div>asked by {escape(who_asked(record))}</div>{reason}"
            f'<pre style="white-space:pre-wrap;margin:2px 0;max-height:10em;overflow:auto">{escape(arguments)}'
            f"</pre></div>")


def switches_html(records: Sequence[KillRecord]) -> str:
    """The kill switches in force."""
    return table(("scope", "target", "reason", "by", "since"),
                 ((r.scope, r.target, r.reason, r.by, _when(r.at)) for r in records),
                 empty="no kill switch in force")


def decisions_html(rows: Sequence[DecisionRow]) -> str:
    """Recent decisions, newest first."""
    return table(("#", "at", "tool", "verdict", "rule", "mode", "would", "who", "reason"),
                 ((r.seq, r.at, r.tool, r.verdict, r.rule, r.mode, r.would,
                   f"{r.principal or ''} ({r.surface})" if r.surface else r.principal, r.reason) for r in rows),
                 empty="no decision matches")


def observed_html(rows: Sequence[Would]) -> str:
    """Per observe or warn rule, the would-deny and would-approve counts."""
    return table(("rule", "mode", "would deny", "would need approval"),
                 ((w.rule, w.mode, w.deny, w.approve) for w in rows),
                 empty="no observe or warn rule has decided anything yet")


def verification_html(result: Verification | None) -> str:
    """The audit chain's status: ok (records, head) or the first bad record."""
    if result is None:
        return "<p><i>this workspace keeps no audit log ([governance] audit = false)</i></p>"
    colour = "#1a7f37" if result.ok else "#cf222e"
    word = "intact" if result.ok else "TAMPERED"
    return (f'<p><b style="color:{colour}">audit log {word}</b> — {escape(result.summary())}</p>')


def message_html(ok: bool, message: str) -> str:
    """An action's outcome: green when done, red when refused."""
    if not message:
        return ""
    colour = "#1a7f37" if ok else "#cf222e"
    return f'<span style="color:{colour};overflow-wrap:anywhere">{escape(message)}</span>'
