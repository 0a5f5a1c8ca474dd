"""``toolnexus tools``: list, search, show and export registered tools, by toolset and filters."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from toolnexus.cli.common import Workspace, add_row, app, guarded, out
from toolnexus.cli.filters import ToolFilters, with_tool_filters

# The Nexus and the registry's modules are imported by each command as it runs: ``toolnexus --help`` imports this
# module to list the commands, and must not pay for them.
if TYPE_CHECKING:
    from toolnexus.api import Nexus
    from toolnexus.core.diagnostics import DiagnosticError
    from toolnexus.core.spec import ToolSpec

tools_app = typer.Typer(no_args_is_help=True, help="List, search, show and export registered tools.")
app.add_typer(tools_app, name="tools")

JsonOption = Annotated[bool, typer.Option("--json", help="print JSON")]


def _fail(message: str, hint: str | None = None) -> DiagnosticError:
    from toolnexus.core.diagnostics import Diagnostic, DiagnosticError

    return DiagnosticError([Diagnostic(message=message, hint=hint)])


@contextmanager
def _nexus(workspace: Any) -> Iterator[Nexus]:
    from toolnexus.api import Nexus

    with Nexus(workspace, store=False) as nexus:
        yield nexus


def _write_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False, default=str) + "\n")


def _listing_table(specs: list[ToolSpec]) -> Table:
    table = Table()
    for column in ("tool", "version", "tier", "runtime", "summary"):
        table.add_column(column, no_wrap=column == "tool", overflow="fold")
    for s in specs:
        add_row(table, s.name, s.version, s.tier.value, s.runtime, s.summary)
    return table


@tools_app.command("list")
@guarded
@with_tool_filters
def tools_list(
    filters: ToolFilters = ToolFilters(),
    as_json: JsonOption = False,
    workspace: Workspace = None,
) -> None:
    """Registered tools (the listing level: name, version, tier, runtime, summary)."""
    from toolnexus.registry.disclosure import describe

    with _nexus(workspace) as nexus:
        selection = filters.selection(nexus)
        specs = selection.select(nexus.registry.list())
    if as_json:
        _write_json([{**describe(s, "listing"), "runtime": s.runtime} for s in specs])
        return
    out.print(_listing_table(specs))


@tools_app.command("search")
@guarded
@with_tool_filters
def tools_search(
    query: Annotated[str, typer.Argument(help="what the tool should do, e.g. 'convert a csv to parquet'")],
    k: Annotated[int, typer.Option("-k", "--limit", min=1, help="how many tools")] = 10,
    filters: ToolFilters = ToolFilters(),
    as_json: JsonOption = False,
    workspace: Workspace = None,
) -> None:
    """Tools ranked for QUERY, with their scores and the fields each query term matched."""
    from toolnexus.registry.disclosure import describe

    with _nexus(workspace) as nexus:
        selection = filters.selection(nexus)
        hits = selection.search(nexus.registry, query, k)
    if as_json:
        _write_json([{**describe(h.spec, "listing"), "score": round(h.score, 4), "matched": h.matched}
                     for h in hits])
        return
    if not hits:
        out.print(f"no tool matches {query!r}", markup=False)
        return
    table = Table()
    for column in ("#", "tool", "score", "tier", "summary", "matched"):
        table.add_column(column, no_wrap=column == "tool", overflow="fold")
    for rank, hit in enumerate(hits, 1):
        matched = "; ".join(f"{field}: {', '.join(terms)}" for field, terms in hit.matched.items())
        add_row(table, str(rank), hit.spec.ref, f"{hit.score:.2f}", hit.spec.tier.value, hit.spec.summary, matched)
    out.print(table)


@tools_app.command("show")
@guarded
def tools_show(
    name: Annotated[str, typer.Argument(help="tool name, optionally name@version")],
    level: Annotated[str, typer.Option("--level", "-l", help="listing, card or schema")] = "card",
    as_json: JsonOption = False,
    workspace: Workspace = None,
) -> None:
    """One tool at a disclosure level: listing (one line), card (arguments, cost, limits), schema (everything)."""
    from toolnexus.registry.disclosure import describe, parse_level, render_text

    try:
        chosen = parse_level(level)
    except ValueError as exc:
        raise _fail(f"--level: {exc}") from None
    with _nexus(workspace) as nexus:
        try:
            spec = nexus.registry.get(name)
        except (LookupError, ValueError) as exc:
            raise _fail(str(exc.args[0]), getattr(exc, "hint", None)) from None
    if as_json:
        _write_json(describe(spec, chosen))
    else:
        out.print(render_text(spec, chosen), markup=False, highlight=False)


@tools_app.command("toolsets")
@guarded
def tools_toolsets(as_json: JsonOption = False, workspace: Workspace = None) -> None:
    """Toolsets by name: built-in (all, read-only, one per namespace) and configured in toolnexus.toml."""
    from toolnexus.registry.toolsets_config import available_toolsets

    with _nexus(workspace) as nexus:
        specs = nexus.registry.list()
        toolsets = available_toolsets(nexus.settings.toolsets, specs)
        counts = {name: len(ts.select(specs)) for name, ts in toolsets.items()}
    if as_json:
        _write_json([{**ts.model_dump(mode="json", exclude_defaults=True), "name": name, "tools": counts[name],
                      "configured": name in nexus.settings.toolsets} for name, ts in toolsets.items()])
        return
    table = Table()
    for column in ("toolset", "tools", "source", "description"):
        table.add_column(column)
    for name, ts in toolsets.items():
        source = "toolnexus.toml" if name in nexus.settings.toolsets else "built-in"
        add_row(table, name, str(counts[name]), source, ts.description)
    out.print(table)


@tools_app.command("export")
@guarded
@with_tool_filters
def tools_export(
    provider: Annotated[str, typer.Option("--format", "-f", help="mcp, openai, openai-responses or anthropic")],
    filters: ToolFilters = ToolFilters(),
    strict: Annotated[bool, typer.Option("--strict", help="OpenAI strict mode (schemas must allow it)")] = False,
    workspace: Workspace = None,
) -> None:
    """Tool definitions for a provider, as JSON: {"tools": [...], "names": {provider name: tool name}}."""
    from toolnexus.registry.adapters import AdapterError, Provider, export_tools

    try:
        chosen = Provider(provider)
    except ValueError:
        raise _fail(f"--format {provider!r}: use one of {', '.join(p.value for p in Provider)}") from None
    with _nexus(workspace) as nexus:
        selection = filters.selection(nexus)
        specs = selection.select(nexus.registry.list())
    try:
        exported = export_tools(specs, chosen, strict=strict)
    except AdapterError as exc:
        raise _fail(str(exc)) from None
    _write_json({"provider": chosen.value, "tools": exported.tools, "names": exported.name_map()})
