"""``toolnexus audit``: verify the tamper-evident audit log of the state store, and read it (issue 16)."""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape as esc
from rich.table import Table

from toolnexus.cli.common import EXIT_FAILED, Workspace, add_row, app, err, guarded, out, since_time

# toolnexus's own modules are imported by the commands that use them: ``toolnexus --help`` imports this module
# to list its commands, and must not pay for the Nexus, governance or the store.
if TYPE_CHECKING:
    from toolnexus.config import Settings
    from toolnexus.governance.audit import AuditLog
    from toolnexus.store.audit import AuditRow

audit_app = typer.Typer(no_args_is_help=True, help="Verify and read the tamper-evident audit log.")
app.add_typer(audit_app, name="audit")

AsJson = Annotated[bool, typer.Option("--json", help="print JSON records instead of a table")]


@contextmanager
def _audit_log(workspace: Path | None) -> Iterator[tuple[AuditLog, Settings]]:
    """The workspace's audit log (its state store must exist), closed afterwards."""
    from toolnexus.config import load_settings
    from toolnexus.core.diagnostics import Diagnostic, DiagnosticError
    from toolnexus.governance.audit import AuditLog
    from toolnexus.store import StateStore

    settings = load_settings(workspace).settings
    db = settings.state_path() / "state.db"
    if not db.exists():
        raise DiagnosticError([Diagnostic(file=str(db), message=f"no state store at {db}: nothing was recorded here",
                                          hint="run a tool or a mission in this workspace first, or pass -w")])
    store = StateStore(db)
    try:
        yield AuditLog(store, checkpoint_every=settings.governance.checkpoint_every), settings
    finally:
        store.close()


def _public_key(key: Path | None, settings: Settings) -> Any:
    """The key to check checkpoint signatures with: ``--key``, else the configured signing key's public half."""
    from toolnexus.governance.audit import load_public_key

    if key is not None:
        return load_public_key(key)
    if settings.governance.audit_key:
        path = Path(settings.governance.audit_key)
        return load_public_key(path if path.is_absolute() else settings.workspace_path() / path)
    return None


@audit_app.command("verify")
@guarded
def audit_verify(
    key: Annotated[Path | None, typer.Option("--key", help="the Ed25519 public key (PEM) the checkpoints are "
                                             "signed with (default: governance.audit_key's)")] = None,
    workspace: Workspace = None,
) -> None:
    """Walk the whole chain: exit 0 when intact, 1 naming the first bad record."""
    with _audit_log(workspace) as (log, settings):
        result = log.verify(_public_key(key, settings))
    if result.ok:
        out.print(esc(result.summary()))
        return
    err.print(f"[red]{esc(result.summary())}[/]")
    raise typer.Exit(EXIT_FAILED)


def _as_json(rows: list[AuditRow]) -> None:
    records = [{"seq": r.seq, "at": r.at, "kind": r.kind, "body": json.loads(r.body), "prev": r.prev, "hash": r.hash}
               for r in rows]
    sys.stdout.write(json.dumps(records, indent=2) + "\n")


def _outcome(body: dict[str, Any]) -> str:
    """What a record says happened: the verdict (and what an observed rule would have done) or the change."""
    decision = body.get("decision")
    if isinstance(decision, dict):
        would = f" (would {decision['would']})" if decision.get("would") else ""
        return f"{decision.get('verdict', '')}{would}: {decision.get('reason', '')}".rstrip(": ")
    return str(body.get("reason") or "")


def _print_table(rows: list[AuditRow]) -> None:
    table = Table()
    for column in ("seq", "at", "kind"):
        table.add_column(column, no_wrap=True)
    table.add_column("tool", overflow="fold")
    table.add_column("principal", overflow="fold")
    table.add_column("outcome", min_width=12)
    for r in rows:
        body = json.loads(r.body)
        add_row(table, str(r.seq), r.at[:19], r.kind, str(body.get("tool") or body.get("target") or ""),
                str(body.get("principal") or ""), _outcome(body))
    out.print(table)


def _show(rows: list[AuditRow], as_json: bool) -> None:
    if as_json:
        _as_json(rows)
    elif rows:
        _print_table(rows)
    else:
        err.print("no audit records match")


@audit_app.command("report")
@guarded
def audit_report(
    tool: Annotated[str | None, typer.Option(help="only this tool (a glob: 'files.*'), or changes to it")] = None,
    since: Annotated[str | None, typer.Option(help="only records since: a duration back (7d, 12h) or a date")] = None,
    principal: Annotated[str | None, typer.Option(help="only calls of this user (or changes they made)")] = None,
    kind: Annotated[str | None, typer.Option(help="only this kind or family: decision, decision.deny, "
                                             "governance, governance.kill …")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="at most this many (the oldest first)")] = None,
    as_json: AsJson = False,
    workspace: Workspace = None,
) -> None:
    """The audit records matching the filters, oldest first, with a count per kind."""
    with _audit_log(workspace) as (log, _):
        rows = log.report(tool=tool, since=since_time(since), kind=kind, principal=principal, limit=limit)
    _show(rows, as_json)
    if rows and not as_json:
        counts = Counter(r.kind for r in rows)
        err.print(", ".join(f"{n} {k}" for k, n in sorted(counts.items())))


@audit_app.command("tail")
@guarded
def audit_tail(
    n: Annotated[int, typer.Option("-n", "--lines", min=1, help="how many of the last records")] = 20,
    as_json: AsJson = False,
    workspace: Workspace = None,
) -> None:
    """The last records of the audit log, oldest first."""
    with _audit_log(workspace) as (log, _):
        rows = log.tail(n)
    _show(rows, as_json)
