"""Problems found in a notebook cell, shown against the cell's own lines: a readable block, never a traceback.

A ``%%mission`` cell's YAML is parsed under the pseudo file name :data:`CELL`; its diagnostics are then moved
down one line, because the cell's first line is the ``%%mission`` line itself (the numbers match those
Jupyter shows beside the cell).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field

from toolnexus.core.diagnostics import Diagnostic

# The file name a cell's YAML is parsed under: the diagnostics that carry it are the cell's own.
CELL = "<cell>"


@dataclass
class CellProblems:
    """Every problem of one magic's input, each with where (cell line and column) and a fix where known.

    Displays as an HTML block in a notebook and as plain text elsewhere; ``str()`` is the text form.
    """

    title: str
    diagnostics: list[Diagnostic]
    # The cell's lines (the magic line first), to quote the line each problem is on.
    lines: list[str] = field(default_factory=list)

    def _where(self, problem: Diagnostic) -> str:
        if problem.file not in (None, CELL):
            return problem.location()
        if problem.line is None:
            return "cell"
        column = f", column {problem.column}" if problem.column is not None else ""
        return f"cell line {problem.line}{column}"

    def _quoted(self, problem: Diagnostic) -> tuple[str, str] | None:
        """The cell line a problem is on and a caret under its column (None when it is not in the cell)."""
        if problem.file not in (None, CELL) or problem.line is None or not 0 < problem.line <= len(self.lines):
            return None
        caret = " " * max((problem.column or 1) - 1, 0) + "^" if problem.column is not None else ""
        return self.lines[problem.line - 1], caret

    def text(self) -> str:
        """The problems as plain text, one paragraph each."""
        out = [self.title]
        for problem in self.diagnostics:
            out.append(f"  {self._where(problem)}: {problem.message}")
            quoted = self._quoted(problem)
            if quoted is not None:
                out.append(f"    | {quoted[0]}")
                if quoted[1]:
                    out.append(f"    | {quoted[1]}")
            if problem.hint:
                out.append(f"    fix: {problem.hint}")
        return "\n".join(out)

    def __str__(self) -> str:
        return self.text()

    def _repr_pretty_(self, printer: object, cycle: bool) -> None:
        printer.text(self.text())  # type: ignore[attr-defined]

    def _repr_html_(self) -> str:
        items = []
        for problem in self.diagnostics:
            quoted = self._quoted(problem)
            code = (f"<pre style='margin:2px 0 2px 1em'>{html.escape(quoted[0])}\n{html.escape(quoted[1])}</pre>"
                    if quoted is not None else "")
            hint = f"<div style='margin-left:1em'><b>fix:</b> {html.escape(problem.hint)}</div>" if problem.hint else ""
            items.append(f"<li><code>{html.escape(self._where(problem))}</code>: {html.escape(problem.message)}"
                         f"{code}{hint}</li>")
        return (f"<div class='toolnexus-problems' style='border-left:4px solid #c62828;padding:4px 8px'>"
                f"<b>{html.escape(self.title)}</b><ul style='margin:4px 0'>{''.join(items)}</ul></div>")


def in_cell(diagnostics: Sequence[Diagnostic], first_line: int = 2) -> list[Diagnostic]:
    """The diagnostics of a cell's YAML (parsed as :data:`CELL`, its line 1 being the cell's ``first_line``)
    with their lines counted from the top of the cell."""
    moved = []
    for problem in diagnostics:
        if problem.file == CELL and problem.line is not None:
            problem = problem.model_copy(update={"line": problem.line + first_line - 1})
        moved.append(problem)
    return moved


def problems_block(title: str, diagnostics: Sequence[Diagnostic], cell_lines: Sequence[str] = ()) -> CellProblems:
    """The display object for ``diagnostics`` (one line saying what failed above them)."""
    count = len(diagnostics)
    heading = f"{title}: {count} problem{'s' if count != 1 else ''}"
    return CellProblems(heading, list(diagnostics), list(cell_lines))
