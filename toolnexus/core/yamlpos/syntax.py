"""Diagnostics of YAML syntax errors and of scalars that have no value, said where the fix goes."""

from __future__ import annotations

from typing import Any

from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import Node, ScalarNode

from toolnexus.core.diagnostics import Diagnostic

_SYNTAX_HINT = "check indentation, quoting and that ':' is followed by a space"


def syntax_diagnostic(exc: MarkedYAMLError, text: str, file: str | None) -> Diagnostic:
    """A YAML syntax error as a diagnostic that names the construct left open and how to fix it."""
    problem = exc.problem or exc.context or "cannot parse"
    context = exc.context if exc.problem else None
    mark = exc.problem_mark or exc.context_mark
    lines = text.splitlines()
    at_tab = mark is not None and mark.line < len(lines) and lines[mark.line][mark.column : mark.column + 1] == "\t"
    if "another document" in problem:
        message = "invalid YAML: the file must hold one YAML document, but a second one starts here"
        hint = "remove the `---` line and what follows, or move it to a file of its own"
    elif at_tab or "tab character" in problem:
        message = "invalid YAML: a tab character where YAML expects indentation or a value"
        hint = "indent with spaces; YAML does not allow tabs for indentation"
    else:
        message, hint, mark = _open_construct(problem, context, exc.context_mark, mark)
    return Diagnostic(
        message=message,
        file=file,
        line=mark.line + 1 if mark is not None else None,
        column=mark.column + 1 if mark is not None else None,
        hint=hint,
    )


def _open_construct(problem: str, context: str | None, context_mark: Any, mark: Any) -> tuple[str, str, Any]:
    """Message, hint and mark for a syntax error that names the construct left open (quote, list, mapping)."""
    hint = _SYNTAX_HINT
    message = f"invalid YAML: {problem}"
    if context and context_mark is not None:
        message += f" {context} that starts at line {context_mark.line + 1}, column {context_mark.column + 1}"
    elif context:
        message += f" {context}"
    if context and "quoted scalar" in context and context_mark is not None:
        mark = context_mark  # point at the opening quote, where the fix goes
        if "end of stream" in problem:
            message = "invalid YAML: unclosed quote: the quoted text that starts here runs to the end of the file"
        hint = "close the quote (or escape the quote character inside the text)"
    elif context and "flow sequence" in context:
        hint = "close the list with `]` and separate items with `,`"
    elif context and "flow mapping" in context:
        hint = "close the mapping with `}` and separate entries with `,`"
    elif "undefined alias" in problem:
        hint = "define the anchor (`&name`) before using the alias (`*name`)"
    return message, hint, mark


def _scalar_problem(node: ScalarNode, exc: Exception, file: str | None) -> Diagnostic:
    """Why a scalar (``!!float abc``, a 5,000-digit integer) has no value, said at the scalar."""
    line, column = _mark(node)
    digits = sum(c.isdigit() for c in node.value)
    if isinstance(exc, ValueError) and "digits" in str(exc) and digits > 1000:
        message = f"the number has {digits:,} digits, too many to read as a number"
        hint = "quote it to keep it as text, e.g. '1234…'"
    elif isinstance(exc, YAMLError):
        message = f"invalid value: {exc}"
        hint = None
    else:
        message = f"invalid value {_shown_value(node.value)} for the tag {node.tag}: {exc}"
        hint = "fix the value, or quote it to keep it as text"
    return Diagnostic(message=message, file=file, line=line, column=column, hint=hint)


def _mark(node: Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1



def _shown_value(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
