"""The arguments of the ``%mission``/``%%mission`` and ``%tn`` magics, parsed into data; mistakes as diagnostics
that point at the magic line (cell line 1), never a usage exception."""

from __future__ import annotations

import ast
import json
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from toolnexus.core.diagnostics import Diagnostic, DiagnosticError
from toolnexus.notebook.cell_errors import CELL

_USAGE = "%%mission [--run] [-i name=value …] [--as NAME] [--save PATH [--force]]"
_MISSING = object()


@dataclass
class MissionArgs:
    """What a ``%%mission`` (or ``%mission PATH``) line asks for."""

    path: str | None = None
    run: bool = False
    inputs: dict[str, Any] = field(default_factory=dict)
    bind: str | None = None
    save: str | None = None
    force: bool = False


def _problem(line: str, token: str, message: str, hint: str | None = None) -> Diagnostic:
    """A problem with ``token`` of the magic line ``line`` (cell line 1, at the token's column when it is found
    after the magic's name)."""
    at = line.find(token, line.find(" ") + 1 if line.startswith("%") else 0) if token else -1
    return Diagnostic(message=message, file=CELL, line=1, column=at + 1 if at >= 0 else None, hint=hint)


def _split(line: str) -> list[str]:
    try:
        return shlex.split(line)
    except ValueError as exc:  # an unclosed quote
        raise DiagnosticError([_problem(line, "", f"cannot read the magic's arguments: {exc}",
                                        "close the quote, or quote values holding spaces")]) from None


def _input(line: str, token: str, namespace: Mapping[str, Any], problems: list[Diagnostic]) -> tuple[str, Any]:
    """``name=value`` as given (text, typed by the mission's declared input type as on the command line), or
    ``name`` alone: the notebook variable of that name, as it is (a list stays a list)."""
    name, sep, value = token.partition("=")
    name = name.strip()
    if not name.isidentifier():
        problems.append(_problem(line, token, f"-i {token!r}: expected name=value or a variable name",
                                 "e.g. -i rows=10, -i rows=$rows, or -i rows to pass the variable rows"))
        return "", None
    if sep:
        return name, value
    found = namespace.get(name, _MISSING)
    if found is _MISSING:
        problems.append(_problem(line, token, f"-i {name}: no notebook variable {name!r}",
                                 f"define {name} in a cell above, or write -i {name}=value"))
        return "", None
    return name, found


def _take(tokens: list[str], index: int, option: str, line: str, problems: list[Diagnostic]) -> str | None:
    if index + 1 >= len(tokens) or tokens[index + 1].startswith("-"):
        problems.append(_problem(line, option, f"{option} needs a value", f"usage: {_USAGE}"))
        return None
    return tokens[index + 1]


def parse_mission_line(line: str, namespace: Mapping[str, Any], *, want_path: bool) -> MissionArgs:
    """The options of a ``%%mission`` line (``want_path=False``) or of ``%mission PATH`` (``want_path=True``).

    Every problem is collected, then raised together as a :class:`DiagnosticError`."""
    tokens = _split(line)
    line = f"%mission {line}" if want_path else f"%%mission {line}"  # columns count from the cell's first column
    args = MissionArgs()
    problems: list[Diagnostic] = []
    index = 0
    while index < len(tokens):
        token = tokens[index]
        if token == "--run":
            args.run = True
        elif token == "--force":
            args.force = True
        elif token in ("-i", "--input", "--as", "--save"):
            value = _take(tokens, index, token, line, problems)
            index += 1
            if value is not None:
                _option(args, token, value, line, namespace, problems)
        elif not token.startswith("-") and want_path and args.path is None:
            args.path = token
        else:
            problems.append(_problem(line, token, f"unexpected argument {token!r}", f"usage: {_USAGE}"))
        index += 1
    if want_path and args.path is None:
        problems.append(_problem(line, "", "%mission needs the path of a mission file",
                                 "e.g. %mission missions/hello.yaml -i name=ada; write the YAML in a %%mission cell"))
    if problems:
        raise DiagnosticError(problems)
    return args


def _option(args: MissionArgs, option: str, value: str, line: str, namespace: Mapping[str, Any],
            problems: list[Diagnostic]) -> None:
    if option in ("-i", "--input"):
        name, given = _input(line, value, namespace, problems)
        if name:
            args.inputs[name] = given
    elif option == "--as":
        if not value.isidentifier():
            problems.append(_problem(line, value, f"--as {value!r} is not a Python name", "e.g. --as report"))
        args.bind = value
    else:
        args.save = value


def argument_value(text: str) -> Any:
    """A ``key=value`` argument's value: JSON when it parses, else a Python literal, else the text itself
    (``%tn call files.read path=README.md``; ``n=3`` is the number 3, ``tags=['a']`` a list)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return text


def parse_pairs(tokens: list[str], line: str) -> dict[str, Any]:
    """``key=value`` arguments of ``%tn call`` as a dict; malformed ones raise, each pointed at in ``line`` (the
    magic's whole line)."""
    values: dict[str, Any] = {}
    problems = []
    for token in tokens:
        key, sep, value = token.partition("=")
        if not sep or not key.strip():
            problems.append(_problem(line, token, f"{token!r}: expected key=value", "e.g. %tn call files.read "
                                                                                    "path=README.md"))
            continue
        values[key.strip()] = argument_value(value)
    if problems:
        raise DiagnosticError(problems)
    return values


def split_line(line: str) -> list[str]:
    """A magic line's words, as a shell would split them (quotes group words)."""
    return _split(line)
