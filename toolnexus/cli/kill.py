"""``toolnexus kill`` and ``toolnexus unkill``: stop a tool, a namespace, a tenant or everything, in every
process sharing the workspace's state store, and lift the switch again."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape as esc
from rich.table import Table

# toolnexus's own modules are imported by the commands that use them: ``toolnexus --help`` imports this module
# to list its commands, and must not pay for the Nexus, governance or the store.
if TYPE_CHECKING:
    from toolnexus.api import Nexus
    from toolnexus.governance.kills import KillSwitches
    from toolnexus.store.kills import KillRecord
from toolnexus.cli.common import EXIT_FAILED, Workspace, add_row, app, err, guarded, out


class Scope(StrEnum):
    """What a kill switch stops."""

    TOOL = "tool"
    NAMESPACE = "namespace"
    TENANT = "tenant"
    ALL = "all"


ScopeOption = Annotated[Scope, typer.Option("--scope", "-s", help="what TARGET names: a tool, a namespace, "
                                            "a tenant (names or globs), or all (everything; no TARGET)")]


def _switches(nexus: Nexus) -> KillSwitches:
    """The workspace's kill switches (lifting one asks for approval under ``[governance] guard_loosening``)."""
    assert nexus.kills is not None
    return nexus.kills


def _when(at: float | None) -> str:
    return "" if at is None else datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _what(record: KillRecord) -> str:
    return "everything" if record.scope == "all" else f"{record.scope} {record.target}"


def _print_list(records: list[KillRecord], as_json: bool) -> None:
    if as_json:
        sys.stdout.write(json.dumps([
            {"id": r.id, "scope": r.scope, "target": r.target, "reason": r.reason, "by": r.by, "at": _when(r.at)}
            for r in records], indent=2) + "\n")
        return
    if not records:
        err.print("no kill switch is set")
        return
    table = Table("id", "scope", "target", "reason", "by", "since")
    for r in records:
        add_row(table, str(r.id), r.scope, r.target, r.reason, r.by or "", _when(r.at))
    out.print(table)


def _target(target: str | None, scope: Scope, verb: str) -> str:
    from toolnexus.core.diagnostics import Diagnostic, DiagnosticError

    if scope is Scope.ALL:
        return "*"
    if not target:
        raise DiagnosticError([Diagnostic(message=f"`{verb}` needs a TARGET: the {scope.value} to {verb}",
                                          hint=f"e.g. toolnexus {verb} files.write --reason 'data leak'"
                                          if verb == "kill" else f"e.g. toolnexus {verb} files.write")])
    return target


@app.command()
@guarded
def kill(
    target: Annotated[str | None, typer.Argument(help="the tool, namespace or tenant to stop (name or glob)")] = None,
    reason: Annotated[str | None, typer.Option("--reason", "-r", help="why: shown to every caller it refuses")] = None,
    scope: ScopeOption = Scope.TOOL,
    list_: Annotated[bool, typer.Option("--list", help="list the switches in force instead")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    workspace: Workspace = None,
) -> None:
    """Stop a tool (or a namespace, a tenant, everything) at once in every process sharing the state store:
    new calls are refused, running ones cancelled."""
    from toolnexus.api import Nexus
    from toolnexus.core.caller import os_user
    from toolnexus.core.diagnostics import Diagnostic, DiagnosticError

    with Nexus(workspace) as nexus:
        switches = _switches(nexus)
        if list_:
            _print_list(switches.active(), as_json)
            return
        what = _target(target, scope, "kill")
        if not reason or not reason.strip():
            raise DiagnosticError([Diagnostic(message="a kill switch needs a reason (every refused caller is told it)",
                                              hint="add --reason '...'")])
        already = any(r.scope == scope.value and r.target == what for r in switches.active())
        record = switches.kill(scope.value, what, reason, os_user())  # type: ignore[arg-type]
    if as_json:
        _print_list([record], as_json=True)
    elif already:
        err.print(f"already killed: {esc(_what(record))} (switch {record.id}, by {esc(record.by or '?')}: "
                  f"{esc(record.reason)})")
    else:
        err.print(f"[red]killed[/] {esc(_what(record))} (switch {record.id}): {esc(record.reason)}")


def _lift(switches: KillSwitches, target: str, scope: Scope | None, ticket: str | None) -> list[KillRecord]:
    """Lift the switches on ``target`` as the OS user; a needed or refused approval is told, with exit 1."""
    from toolnexus.core.caller import os_user
    from toolnexus.core.diagnostics import Diagnostic, DiagnosticError
    from toolnexus.governance.approvals import ApprovalRefused, UnknownTicket
    from toolnexus.governance.loosening import ApprovalNeeded

    try:
        return switches.unkill(target, os_user(), scope.value if scope else None, ticket=ticket)  # type: ignore[arg-type]
    except UnknownTicket as exc:
        raise DiagnosticError([Diagnostic(message=str(exc), hint=exc.hint)]) from None
    except ApprovalNeeded as exc:
        out.print(exc.ticket.ticket, markup=False, highlight=False)  # stdout: the ticket alone, for scripts
        err.print(f"[yellow]approval needed[/]: {esc(str(exc))}\n  [cyan]hint[/]: {esc(exc.hint or '')}")
        raise typer.Exit(EXIT_FAILED) from None
    except ApprovalRefused as exc:
        err.print(f"[red]error[/]: {esc(str(exc))}" + (f"\n  [cyan]hint[/]: {esc(exc.hint)}" if exc.hint else ""))
        raise typer.Exit(EXIT_FAILED) from None


@app.command()
@guarded
def unkill(
    target: Annotated[str | None, typer.Argument(help="the tool, namespace or tenant whose switch to lift")] = None,
    scope: Annotated[Scope | None, typer.Option("--scope", "-s", help="lift only the switch of this scope "
                                                "(default: every switch on TARGET)")] = None,
    ticket: Annotated[str | None, typer.Option("--ticket", "-t", help="the approval, granted by someone else, "
                                               "that lets you lift it ([governance] guard_loosening)")] = None,
    workspace: Workspace = None,
) -> None:
    """Lift the kill switch on a tool (namespace, tenant, or all): its calls run again. Under
    ``[governance] guard_loosening`` without --ticket, files an approval request and prints its ticket (exit 1)."""
    from toolnexus.api import Nexus
    from toolnexus.core.diagnostics import Diagnostic, DiagnosticError

    what = _target(target, scope or Scope.TOOL, "unkill")
    with Nexus(workspace) as nexus:
        lifted = _lift(_switches(nexus), what, scope, ticket)
    if not lifted:
        raise DiagnosticError([Diagnostic(message=f"no kill switch is set on {what}",
                                          hint="see `toolnexus kill --list`")])
    for record in lifted:
        err.print(f"[green]lifted[/] the kill switch on {esc(_what(record))} (switch {record.id})")
