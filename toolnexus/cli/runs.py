"""``toolnexus runs``: past runs from the state store, compared and synced to MLflow."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape as esc
from rich.table import Table
from rich.text import Text

# toolnexus's own modules are imported by the commands that use them: ``toolnexus --help`` imports this module
# to list its commands, and must not pay for the Nexus, governance or the store.
if TYPE_CHECKING:
    from toolnexus.api import Nexus
    from toolnexus.core.run import RunResult
    from toolnexus.store import StoredRun
    from toolnexus.store.approvals import ApprovalRecord
from toolnexus.cli.common import (
    EXIT_FAILED,
    Workspace,
    add_row,
    app,
    err,
    guarded,
    out,
)

OPEN_TICKETS = 10_000  # open approval tickets read to find a run's: far more than wait at once

runs_app = typer.Typer(no_args_is_help=True, help="Read past runs from the state store.")
app.add_typer(runs_app, name="runs")

@runs_app.command("list")
@guarded
def runs_list(
    mission: Annotated[str | None, typer.Option(help="only runs of this mission")] = None,
    limit: Annotated[int, typer.Option(min=1, help="how many")] = 20,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    workspace: Workspace = None,
) -> None:
    """The most recent runs."""
    from toolnexus.api import Nexus
    from toolnexus.core.units import format_duration

    with Nexus(workspace) as nexus:
        assert nexus.store is not None
        runs = nexus.store.list_runs(limit, mission)
    if as_json:
        sys.stdout.write(
            json.dumps(
                [
                    {
                        "run_id": r.run_id,
                        "mission": r.mission,
                        "status": r.status.value,
                        "started_at": r.started_at,
                        "duration": r.duration,
                        "cost": r.cost,
                        "caller": r.caller.model_dump(mode="json") if r.caller else None,
                    }
                    for r in runs
                ],
                indent=2,
            )
            + "\n"
        )
        return
    table = Table()
    # Run ids are what a user copies into `runs show`, `runs compare` and `--resume`: never cut them.
    table.add_column("run", no_wrap=True, min_width=max((len(r.run_id) for r in runs), default=3))
    for column in ("mission", "status", "started", "duration", "cost"):
        table.add_column(column)
    for r in runs:
        add_row(
            table,
            r.run_id,
            r.mission,
            r.status.value,
            (r.started_at or "")[:19],
            format_duration(r.duration),
            f"{r.cost:.4f}" if r.cost else "",
        )
    out.print(table)


@runs_app.command("show")
@guarded
def runs_show(
    run_id: Annotated[str, typer.Argument(help="run id (a unique prefix is enough)")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
    workspace: Workspace = None,
) -> None:
    """One run: status, inputs, each step's record (and the steps waiting for an approval), outputs."""
    from toolnexus.api import Nexus
    from toolnexus.cli.progress import waiting_note
    from toolnexus.core.diagnostics import Diagnostic, DiagnosticError

    with Nexus(workspace) as nexus:
        assert nexus.store is not None
        stored = nexus.store.get_run(run_id)
        waiting = _waiting_on(nexus, stored.run_id) if stored is not None else []
    if stored is None:
        raise DiagnosticError([Diagnostic(message=f"no run {run_id!r}", hint="see `toolnexus runs list`")])
    result = stored.to_result()
    if as_json:
        shown = {**result.model_dump(mode="json"), **_identity_json(stored),
                 "waiting": [_waiting_json(ticket) for ticket in waiting]}
        sys.stdout.write(json.dumps(shown, indent=2) + "\n")
        return
    _print_heading(stored, result)
    out.print(_steps_table(result, waiting))
    for ticket in waiting:  # whole lines, never wrapped inside a cell: the command is copied from here
        out.print(f"{esc(ticket.step_id or '?')}: {esc(waiting_note(ticket.rule, ticket.ticket))}",
                  soft_wrap=True, highlight=False)
    if result.outputs:
        out.print_json(json.dumps(result.outputs, default=str))


def _print_heading(stored: StoredRun, result: RunResult) -> None:
    """The run's id, mission and status; how to resume it if its process died; who started it; its inputs."""
    from toolnexus.core.run import RunStatus

    out.print(
        f"[bold]{result.run_id}[/] {result.mission}: {result.status.value}"
        + (f" (resumed from {result.resumed_from})" if result.resumed_from else "")
    )
    if result.status == RunStatus.INTERRUPTED:
        out.print(f"its process (pid {stored.pid} on {esc(stored.host or '?')}) ended without recording how the run "
                  f"ended; resume it with `toolnexus run --resume {result.run_id}`")
    if stored.caller is not None:
        out.print(_started_by(stored))
    out.print(f"inputs: {json.dumps(result.inputs, default=str)}")


def _steps_table(result: RunResult, waiting: list[ApprovalRecord]) -> Table:
    """One row per recorded step, then one per step waiting for an approval (not recorded until it ends)."""
    from toolnexus.cli.progress import WAITING
    from toolnexus.core.units import format_duration

    table = Table()
    for column in ("step", "tool", "status", "attempts", "time", "cost", "note"):
        table.add_column(column)
    for record in result.steps.values():
        note = str(record.error) if record.error else (record.skip_reason or ("cached" if record.cached else ""))
        add_row(
            table,
            record.step_id,
            f"{record.tool}@{record.version}",
            record.status.value,
            str(record.attempts),
            format_duration(record.duration),
            f"{record.cost:.4f}" if record.cost else "",
            note[:80],
        )
    for ticket in waiting:  # the ticket and the command that grants it follow the table, on lines of their own
        add_row(table, ticket.step_id or "?", f"{ticket.tool}@{ticket.version or '?'}", WAITING, "", "", "",
                f"rule {ticket.rule}" if ticket.rule else "")
    return table


def _waiting_on(nexus: Nexus, run_id: str) -> list[ApprovalRecord]:
    """The open approval tickets of ``run_id``'s steps, oldest first (tickets past their deadline are expired
    first, as ``approvals list`` does, so a step whose wait ran out is not shown waiting)."""
    if nexus.approvals is None:
        return []
    tickets = [t for t in nexus.approvals.list("requested", limit=OPEN_TICKETS) if t.run_id == run_id]
    return sorted(tickets, key=lambda t: t.requested_at)


def _waiting_json(ticket: ApprovalRecord) -> dict[str, Any]:
    """A step waiting for an approval, as ``runs show --json`` lists it."""
    return {"step_id": ticket.step_id, "tool": ticket.tool, "version": ticket.version, "ticket": ticket.ticket,
            "rule": ticket.rule, "reason": ticket.reason, "requested_at": ticket.requested_at,
            "deadline": ticket.deadline}


def _identity_json(stored: StoredRun) -> dict[str, Any]:
    """Who started a run and its correlation id, as ``runs show --json`` adds them to the run's result."""
    return {"caller": stored.caller.model_dump(mode="json") if stored.caller else None,
            "correlation_id": stored.correlation_id}


def _started_by(stored: StoredRun) -> str:
    """``started by alice (cli)``, and the correlation id when it is not the run's own id."""
    line = f"started by {esc(str(stored.caller))}"
    if stored.correlation_id is not None and stored.correlation_id != stored.run_id:
        line += f", correlation id {esc(stored.correlation_id)}"
    return line


@runs_app.command("compare")
@guarded
def runs_compare(
    run_ids: Annotated[list[str], typer.Argument(help="two or more run ids (toolnexus or MLflow)")],
    all_rows: Annotated[bool, typer.Option("--all", help="show every row, not only inputs that differ")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    workspace: Workspace = None,
) -> None:
    """Runs side by side from MLflow: inputs that differ, status, and each step's duration and cost."""
    from toolnexus.api import Nexus
    from toolnexus.core.diagnostics import Diagnostic, DiagnosticError
    from toolnexus.tracking.compare import differing_rows

    if len(run_ids) < 2:
        raise DiagnosticError([Diagnostic(message="give at least two run ids to compare")])
    with Nexus(workspace) as nexus:
        # A unique prefix of a run of ours stands for that run, as in `runs show`; anything else is MLflow's.
        full = [_full_run_id(nexus, run_id) for run_id in run_ids]
        try:
            frame = nexus.compare(*full)
        except LookupError as exc:
            raise DiagnosticError([Diagnostic(message=str(exc.args[0]), hint="see `toolnexus runs list`")]) from None
    differ = set(differing_rows(frame))
    shown = [r for r in frame.index if all_rows or not str(r).startswith(("input.", "tool.")) or r in differ]
    if as_json:
        sys.stdout.write(frame.loc[shown].to_json(indent=2, default_handler=str) + "\n")
        return
    table = Table()
    table.add_column("")
    for column in frame.columns:
        table.add_column(str(column))
    for label in shown:
        cells = []
        for value in frame.loc[label]:
            text = (
                "" if value is None or value != value else (f"{value:.4g}" if isinstance(value, float) else str(value))
            )
            cells.append(text)
        add_row(table, Text(str(label), style="bold") if label in differ else str(label), *cells)
    out.print(table)


@runs_app.command("sync")
@guarded
def runs_sync(workspace: Workspace = None) -> None:
    """Send runs that could not reach MLflow (kept in the spool) now."""
    from toolnexus.api import Nexus
    from toolnexus.core.diagnostics import Diagnostic, DiagnosticError

    with Nexus(workspace, store=False) as nexus:
        if nexus.tracker is None:
            raise DiagnosticError([Diagnostic(message="tracking is disabled (tracking.enabled = false)")])
        from toolnexus.tracking.background import sync_spool

        tracker = nexus.tracker
        pending = len(tracker.pending())
        # After any background writer still at it (it holds the spool's lock), and clearing its failure note.
        synced, failed = sync_spool(tracker.spool_dir, tracker.uri, tracker.workspace)
    err.print(f"synced {synced} of {pending} pending run(s)")
    for failure in failed:
        err.print(f"  [red]not synced[/]: {esc(failure)}")
    if failed:
        raise typer.Exit(EXIT_FAILED)



def _full_run_id(nexus: Nexus, run_id: str) -> str:
    stored = nexus.store.get_run(run_id) if nexus.store is not None else None
    return stored.run_id if stored is not None else run_id
