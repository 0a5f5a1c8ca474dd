"""``toolnexus schemas``: write or check the JSON Schemas generated from the models."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from toolnexus.cli.common import (
    app,
    err,
    guarded,
)


@app.command()
@guarded
def schemas(
    check: Annotated[bool, typer.Option("--check", help="fail if schemas/ is stale instead of writing")] = False,
    folder: Annotated[Path, typer.Option(help="where the schemas live")] = Path("schemas"),
) -> None:
    """Write (or check) the JSON Schemas generated from the pydantic models."""
    from toolnexus.core.diagnostics import Diagnostic, DiagnosticError
    from toolnexus.schemas import stale_schemas, write_schemas

    if check:
        stale = stale_schemas(folder)
        if stale:
            raise DiagnosticError(
                [Diagnostic(message=f"{name} is stale", hint="run `toolnexus schemas`") for name in stale]
            )
        err.print("[green]schemas are current[/]")
        return
    for path in write_schemas(folder):
        err.print(f"wrote {path}")

