"""``toolnexus mcp``: serve the workspace's tools to MCP clients."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from toolnexus.cli.common import EXIT_USAGE, Workspace, app, err, guarded

mcp_app = typer.Typer(no_args_is_help=True, help="Serve tools and missions over the Model Context Protocol.")
app.add_typer(mcp_app, name="mcp")


@mcp_app.command("serve")
@guarded
def mcp_serve(
    stdio: Annotated[bool, typer.Option("--stdio", help="speak MCP on stdin/stdout (for desktop clients)")] = False,
    toolset: Annotated[str | None, typer.Option("--toolset", help="serve only this configured toolset")] = None,
    missions: Annotated[Path | None, typer.Option("--missions", help="folder of missions served as "
                                                  "mission.<name> (default: <workspace>/missions)")] = None,
    workspace: Workspace = None,
) -> None:
    """Serve the registry's tools (and missions, as ``mission.<name>``) over MCP.

    Over HTTP the tools are served by the Jupyter server extension at ``<base_url>toolnexus/mcp``;
    this command serves them over stdio.
    """
    from toolnexus.config import load_settings
    from toolnexus.core.diagnostics import Diagnostic, DiagnosticError

    if not stdio:
        err.print("give --stdio (over HTTP, run `jupyter server`: the extension serves <base_url>toolnexus/mcp)")
        raise typer.Exit(EXIT_USAGE)
    from toolnexus.mcp_server.selection import UnknownToolset, select_toolset

    if toolset:  # a typo fails here, before stdout becomes the wire
        from toolnexus.api import default_registry

        settings = load_settings(workspace).settings
        try:
            select_toolset(settings.toolsets, toolset, specs=default_registry(settings).list())
        except UnknownToolset as exc:
            raise DiagnosticError([Diagnostic(message=str(exc.args[0]), hint=exc.hint)]) from None
    import anyio

    from toolnexus.mcp_server.stdio import serve_stdio

    anyio.run(lambda: serve_stdio(workspace, toolset=toolset, missions_dir=missions))
