"""``%tn``: the CLI's everyday commands in a notebook, returning objects that display richly.

``%tn tools search QUERY [-k N]``, ``%tn tools show TOOL``, ``%tn call TOOL k=v …``, ``%tn runs [N]``,
``%tn approvals`` (the review widget) and ``%tn serve [TOOL …]`` (offer this kernel's tools to agents).
Each returns what it found (so ``hits = %tn tools search csv`` keeps it); mistakes are shown
as problems and return None.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from toolnexus.api import default_nexus
from toolnexus.core.diagnostics import Diagnostic, DiagnosticError, did_you_mean
from toolnexus.notebook.cell_errors import CELL, problems_block
from toolnexus.notebook.magics_args import parse_pairs, split_line
from toolnexus.registry.search_model import SearchHit

Show = Callable[[Any], None]
USAGE = ("%tn tools search QUERY [-k N] | %tn tools show TOOL | %tn call TOOL k=v … | %tn runs [N] | %tn approvals"
         " | %tn serve [TOOL …]")
COMMANDS = ("tools", "call", "runs", "approvals", "serve")


@dataclass
class Table:
    """Rows shown as an HTML table in a notebook and as aligned text elsewhere; ``rows`` holds the data."""

    title: str
    columns: list[str]
    rows: list[list[str]]
    items: list[Any]
    # A richer HTML rendering of the items, where the display package offers one.
    rich_html: Callable[[], str] | None = None

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> Any:
        return self.items[index]

    def _repr_html_(self) -> str:
        if self.rich_html is not None:
            return self.rich_html()
        head = "".join(f"<th style='text-align:left'>{html.escape(c)}</th>" for c in self.columns)
        body = "".join("<tr>" + "".join(f"<td style='text-align:left'>{html.escape(v)}</td>" for v in row) + "</tr>"
                       for row in self.rows)
        return (f"<div class='toolnexus-table'><b>{html.escape(self.title)}</b>"
                f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>")

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(str(self))

    def __str__(self) -> str:
        widths = [max([len(c), *(len(r[i]) for r in self.rows)]) for i, c in enumerate(self.columns)]
        lines = [self.title, "  ".join(c.ljust(w) for c, w in zip(self.columns, widths, strict=True))]
        lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in self.rows]
        return "\n".join(lines)


def search_table(query: str, hits: Sequence[SearchHit]) -> Table:
    """Search hits with their score and the fields each query term matched, best first."""
    rows = [[str(rank), hit.spec.ref, f"{hit.score:.2f}", hit.spec.tier.value, hit.spec.summary,
             "; ".join(f"{field}: {', '.join(terms)}" for field, terms in hit.matched.items())]
            for rank, hit in enumerate(hits, 1)]
    title = f"tools for {query!r}" if hits else f"no tool matches {query!r}"
    try:
        from toolnexus.notebook.display import search_hits_html
    except ImportError:
        rich = None
    else:
        def rich() -> str:
            return search_hits_html(hits, query)
    return Table(title, ["#", "tool", "score", "tier", "summary", "matched"], rows, list(hits), rich)


def tn_command(line: str, show: Show) -> Any:
    """Run one ``%tn`` command; its result, or None once its problems are shown."""
    lines = [f"%tn {line}".rstrip()]
    try:
        words = split_line(line)
        return _dispatch(words, line)
    except DiagnosticError as exc:
        show(problems_block(f"%tn {words_head(line)}".rstrip(), exc.diagnostics, lines))
        return None


def words_head(line: str) -> str:
    """The command a ``%tn`` line names (its first word), for titles."""
    return line.split(maxsplit=1)[0] if line.strip() else ""


def _usage(message: str) -> DiagnosticError:
    return DiagnosticError([Diagnostic(message=message, file=CELL, line=1, hint=f"usage: {USAGE}")])


def _dispatch(words: list[str], line: str) -> Any:
    if not words:
        raise _usage("%tn needs a command")
    command, rest = words[0], words[1:]
    if command == "tools":
        return _tools(rest)
    if command == "call":
        if not rest:
            raise _usage("%tn call needs a tool name")
        return _call(rest[0], parse_pairs(rest[1:], f"%tn {line}"))
    if command == "runs":
        return _runs(int(rest[0]) if rest and rest[0].isdigit() else 20)
    if command == "approvals":
        return _approvals()
    if command == "serve":
        return _serve(rest)
    raise _usage(f"unknown %tn command {command!r}" + (f" ({hint})" if (hint := did_you_mean(command, COMMANDS))
                                                       else ""))


def _tools(words: list[str]) -> Any:
    registry = default_nexus().registry
    if len(words) >= 2 and words[0] == "search":
        limit = 10
        if "-k" in words[1:-1]:
            at = words.index("-k")
            if not words[at + 1].isdigit():
                raise _usage("-k needs a number")
            limit = int(words[at + 1])
            words = words[:at] + words[at + 2:]
        query = " ".join(words[1:])
        return search_table(query, registry.search(query, limit))
    if len(words) == 2 and words[0] == "show":
        spec = registry.find(words[1])
        if spec is None:
            raise _unknown_tool(words[1], registry.names())
        return spec
    raise _usage("expected `%tn tools search QUERY` or `%tn tools show TOOL`")


def _unknown_tool(name: str, names: list[str]) -> DiagnosticError:
    return DiagnosticError([Diagnostic(message=f"no tool named {name!r}", file=CELL, line=1,
                                       column=len("%tn call ") + 1,
                                       hint=did_you_mean(name, names) or "%tn tools search WORDS finds tools")])


def _call(tool: str, arguments: dict[str, Any]) -> Any:
    nexus = default_nexus()
    if nexus.registry.find(tool) is None:
        raise _unknown_tool(tool, nexus.registry.names())
    return nexus.call(tool, arguments)


def _runs(limit: int) -> Any:
    from toolnexus.notebook.runs import runs

    return runs(limit=limit)


def _approvals() -> Any:
    from toolnexus.notebook.review import review

    return review()


def _serve(tools: list[str]) -> Any:
    from toolnexus.errors import Unavailable
    from toolnexus.notebook.serve import serve

    try:
        return serve(tools=tools or None)
    except Unavailable as exc:  # not in a kernel under a Jupyter server: a problem to show, not a traceback
        raise DiagnosticError([Diagnostic(message=str(exc), file=CELL, line=1)]) from None
