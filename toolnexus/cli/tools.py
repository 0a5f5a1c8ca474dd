"""``toolnexus tools``: list and inspect registered tools."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.table import Table

from toolnexus.api import Nexus
from toolnexus.cli.common import (
    Workspace,
    add_row,
    app,
    guarded,
    out,
)
from toolnexus.core.diagnostics import Diagnostic, DiagnosticError

tools_app = typer.Typer(no_args_is_help=True, help="List and inspect registered tools.")
app.add_typer(tools_app, name="tools")

@tools_app.command("list")
@guarded
def tools_list(
    as_json: Annotated[bool, typer.Option("--json")] = False,
    workspace: Workspace = None,
) -> None:
    """Registered tools: name, version, tier, runtime and summary."""
    with Nexus(workspace, store=False) as nexus:
        specs = nexus.registry.list()
    if as_json:
        sys.stdout.write(
            json.dumps(
                [
                    {
                        "name": s.name,
                        "version": s.version,
                        "tier": s.tier.value,
                        "runtime": s.runtime,
                        "summary": s.summary,
                    }
                    for s in specs
                ],
                indent=2,
            )
            + "\n"
        )
        return
    table = Table()
    for column in ("tool", "version", "tier", "runtime", "summary"):
        table.add_column(column)
    for s in specs:
        add_row(table, s.name, s.version, s.tier.value, s.runtime, s.summary)
    out.print(table)


@tools_app.command("show")
@guarded
def tools_show(
    name: Annotated[str, typer.Argument(help="tool name, optionally name@version")],
    workspace: Workspace = None,
) -> None:
    """A tool's full spec as JSON."""
    with Nexus(workspace, store=False) as nexus:
        try:
            spec = nexus.registry.get(name)
        except LookupError as exc:
            raise DiagnosticError([Diagnostic(message=str(exc.args[0]), hint=getattr(exc, "hint", None))]) from None
    sys.stdout.write(spec.model_dump_json(indent=2) + "\n")

