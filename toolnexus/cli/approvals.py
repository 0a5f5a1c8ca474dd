"""``toolnexus approvals``: the calls waiting for a person, and granting or denying them from the command line.

The approver is the OS user running the command; the channel is ``cli``. A ticket may be given by its id,
a unique prefix of it, or its random tail (what ``approvals list`` shows last).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

# toolnexus's own modules are imported by the commands that use them: ``toolnexus --help`` imports this module
# to list its commands, and must not pay for the Nexus, governance or the store.
if TYPE_CHECKING:
    from toolnexus.governance.approvals import Approvals
    from toolnexus.store.approvals import ApprovalRecord
from toolnexus.cli.common import EXIT_FAILED, Workspace, add_row, app, err, guarded, out, parse_pairs

approvals_app = typer.Typer(no_args_is_help=True, help="Grant or deny the calls waiting for an approval.")
app.add_typer(approvals_app, name="approvals")


class Status(StrEnum):
    """A ticket's status, as ``--status`` takes it."""

    REQUESTED = "requested"
    GRANTED = "granted"
    DENIED = "denied"
    EXPIRED = "expired"
    WITHDRAWN = "withdrawn"


class Scope(StrEnum):
    """What a grant lets through, as ``--scope`` takes it."""

    CALL = "call"
    RUN = "run"
    PATTERN = "pattern"


TicketArg = Annotated[str, typer.Argument(help="ticket id (a unique prefix or its random tail is enough)")]


@contextmanager
def _approvals(workspace: Workspace) -> Iterator[Approvals]:
    """The workspace's approvals, decided as the OS user over the ``cli`` channel. Unknown tickets are usage
    errors (exit 2); a refused decision (four eyes, decided already) fails with exit 1."""
    from toolnexus.api import Nexus
    from toolnexus.core.caller import os_user
    from toolnexus.core.diagnostics import Diagnostic, DiagnosticError
    from toolnexus.governance.approvals import ApprovalRefused, Approvals, UnknownTicket

    with Nexus(workspace) as nexus:
        if nexus.store is None:  # pragma: no cover - the CLI always opens the store
            raise DiagnosticError([Diagnostic(message="approvals need the state store")])
        try:
            yield Approvals(nexus.store, nexus.bus.emit, principal=os_user(), channel="cli")
        except UnknownTicket as exc:
            raise DiagnosticError([Diagnostic(message=str(exc), hint=exc.hint)]) from None
        except ApprovalRefused as exc:
            err.print(f"[red]error[/]: {exc}" + (f"\n  [cyan]hint[/]: {exc.hint}" if exc.hint else ""),
                      markup=True, highlight=False)
            raise typer.Exit(EXIT_FAILED) from None


def _when(at: float | None) -> str:
    return "" if at is None else datetime.fromtimestamp(at).isoformat(sep=" ", timespec="seconds")


def _due(record: ApprovalRecord) -> str:
    from toolnexus.core.units import format_duration

    if not record.open:
        return ""
    left = record.deadline - time.time()
    return f"in {format_duration(left)}" if left > 0 else "overdue"


@approvals_app.command("list")
@guarded
def approvals_list(
    status: Annotated[Status | None, typer.Option(help="only tickets with this status")] = None,
    limit: Annotated[int, typer.Option(min=1, help="how many")] = 50,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    workspace: Workspace = None,
) -> None:
    """The most recent approval tickets, newest first."""
    with _approvals(workspace) as approvals:
        records = approvals.list(status.value if status else None, limit)  # type: ignore[arg-type]
    if as_json:
        sys.stdout.write(json.dumps([r.to_dict() for r in records], indent=2, default=str) + "\n")
        return
    table = Table()
    # Tickets are what a user copies into `approvals approve`: never cut them.
    table.add_column("ticket", no_wrap=True, min_width=max((len(r.ticket) for r in records), default=6))
    for column in ("status", "tool", "by", "rule", "step", "due", "decided by"):
        table.add_column(column)
    for record in records:
        add_row(table, *_row(record))
    out.print(table)


def _row(r: ApprovalRecord) -> tuple[str, ...]:
    """A ticket as a row of ``approvals list``."""
    return (r.ticket, r.status, r.tool, r.principal or "", r.rule or "", r.step_id or "", _due(r),
            r.decided_by or "")


@approvals_app.command("show")
@guarded
def approvals_show(ticket: TicketArg, as_json: Annotated[bool, typer.Option("--json")] = False,
                   workspace: Workspace = None) -> None:
    """One ticket: the call, its caller, the rule, the deadline and the decision."""
    with _approvals(workspace) as approvals:
        record = approvals.show(ticket)
    if as_json:
        sys.stdout.write(json.dumps(record.to_dict(), indent=2, default=str) + "\n")
        return
    for name, value in _details(record):
        if value:
            out.print(f"[bold]{name}[/]: ", end="", markup=True)
            out.print(value, markup=False)


def _details(record: ApprovalRecord) -> list[tuple[str, str]]:
    """What ``approvals show`` prints of a ticket: (name, value) pairs, empty values left out by the caller."""
    return [
        ("ticket", record.ticket), ("status", record.status),
        ("tool", f"{record.tool}@{record.version}" if record.version else record.tool),
        ("arguments", json.dumps(record.arguments, default=str)),
        ("requested by", f"{record.principal} via {record.surface}" + (f" for {record.tenant}" * bool(record.tenant))),
        ("run", record.run_id or ""), ("step", record.step_id or ""), ("correlation", record.correlation_id or ""),
        ("rule", record.rule or ""), ("why", record.reason), ("requested", _when(record.requested_at)),
        ("deadline", f"{_when(record.deadline)} {_due(record)}".strip()),
        ("four eyes", "yes" if record.four_eyes else ""), ("approvers", ", ".join(record.approvers or [])),
        ("channels", ", ".join(record.channels or [])),
        ("decided by", f"{record.decided_by} via {record.channel}" if record.decided_by else ""),
        ("decided", _when(record.decided_at)), ("decision", record.decision_reason or ""),
        ("scope", _scope(record)), ("digest", record.digest),
    ]


def _scope(record: ApprovalRecord) -> str:
    if record.scope is None:
        return ""
    parts = [record.scope]
    if record.pattern:
        parts.append(" ".join(f"{k}={v}" for k, v in record.pattern.items()))
    if record.grant_until is not None:
        parts.append(f"until {_when(record.grant_until)}")
    return ", ".join(parts)


@approvals_app.command("approve")
@guarded
def approvals_approve(
    ticket: TicketArg,
    scope: Annotated[Scope, typer.Option(help="call: this call only; run: this tool for the rest of the run; "
                                              "pattern: this tool with arguments matching --match, for --for")]
    = Scope.CALL,
    duration: Annotated[str | None, typer.Option("--for", help="how long a run or pattern grant holds, e.g. 1h "
                                                 "(pattern: 1h when not given)")] = None,
    match: Annotated[list[str] | None, typer.Option("--match", help="ARG=GLOB an argument must match "
                                                    "(pattern scope; repeatable; ARG may be a dotted path)")] = None,
    reason: Annotated[str, typer.Option(help="why (recorded, and told to the caller)")] = "",
    workspace: Workspace = None,
) -> None:
    """Grant a waiting call: it runs at once, wherever it waits."""
    from toolnexus.core.diagnostics import Diagnostic, DiagnosticError
    from toolnexus.governance.approvals import PATTERN_GRANT_FOR

    seconds = _duration(duration, PATTERN_GRANT_FOR if scope is Scope.PATTERN else None)
    pattern = parse_pairs(match or [], "--match") or None
    if bool(pattern) != (scope is Scope.PATTERN):
        raise DiagnosticError([Diagnostic(message="--scope pattern and --match go together",
                                          hint="e.g. --scope pattern --match path='out/*' --for 1h")])
    with _approvals(workspace) as approvals:
        record = approvals.approve(ticket, scope=scope.value, duration=seconds,  # type: ignore[arg-type]
                                   reason=reason, match=pattern)
    err.print(f"granted {record.ticket} ({record.tool}, {_scope(record)}) as {record.decided_by}", markup=False)


@approvals_app.command("deny")
@guarded
def approvals_deny(
    ticket: TicketArg,
    reason: Annotated[str, typer.Option(help="why (the waiting caller is told)")],
    workspace: Workspace = None,
) -> None:
    """Deny a waiting call: it fails with your reason."""
    with _approvals(workspace) as approvals:
        record = approvals.deny(ticket, reason)
    err.print(f"denied {record.ticket} ({record.tool}) as {record.decided_by}", markup=False)


def _duration(text: str | None, default: float | None) -> float | None:
    from toolnexus.core.diagnostics import Diagnostic, DiagnosticError
    from toolnexus.core.units import parse_duration

    if text is None:
        return default
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise DiagnosticError([Diagnostic(message=f"--for: {exc}", hint="e.g. --for 30m or --for 2h")]) from None
