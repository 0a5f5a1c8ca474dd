"""``toolnexus config``: the effective configuration and where each value came from."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.table import Table

from toolnexus.cli.common import (
    Workspace,
    add_row,
    app,
    guarded,
    out,
)

config_app = typer.Typer(no_args_is_help=True, help="Show the effective configuration.")
app.add_typer(config_app, name="config")

@config_app.command("show")
@guarded
def config_show(
    as_json: Annotated[bool, typer.Option("--json")] = False,
    workspace: Workspace = None,
) -> None:
    """Every setting's effective value and where it came from (default, file, env, cli)."""
    from toolnexus.config import _flatten, load_settings
    from toolnexus.core.secrets import scrub

    loaded = load_settings(workspace)
    # An MCP server's `env` and `headers` may hold tokens: shown as ***, like every other record.
    flat = _flatten(scrub(loaded.settings.model_dump(mode="json"), keep_shape=True))
    if as_json:
        sys.stdout.write(
            json.dumps({k: {"value": v, "source": loaded.sources.get(k, "default")} for k, v in flat.items()}, indent=2)
            + "\n"
        )
        return
    table = Table()
    for column in ("setting", "value", "source"):
        table.add_column(column)
    for key, value in flat.items():
        add_row(table, key, json.dumps(value), loaded.sources.get(key, "default"))
    out.print(table)

