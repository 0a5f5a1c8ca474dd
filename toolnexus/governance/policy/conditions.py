"""Argument conditions: the small grammar of a rule's ``when:`` and ``unless:``, compiled once into tests.

A condition block maps an argument path to a test::

    when:
      path: {under: out/}                 # a file path inside out/ (normalised: out/../x is not)
      url: {host_in: [api.example.com, "*.example.org"]}
      amount: {lt: 500}
      mode: fast                           # shorthand for {eq: fast}
      region: [eu, us]                     # shorthand for {in: [eu, us]}

An argument path is dotted: ``options.level`` is the ``level`` key of the ``options`` argument, and a
segment of digits indexes a list (``items.0.name``). Several operators in one mapping, and several
paths in one block, must all hold. A condition on an argument the call does not carry is false
(except ``exists: false``).
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from toolnexus.core.diagnostics import Diagnostic, did_you_mean
from toolnexus.core.yamlpos import Path, Positions, yaml_type
from toolnexus.errors import InvalidInput

MISSING = object()
"""The value of an argument path the call does not carry."""

Test = Callable[[Any], bool]


class OperandError(InvalidInput, ValueError):
    """An operator was given an operand it cannot use (the message says what it expects)."""


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _expect_number(operand: Any) -> float:
    if not _number(operand):
        raise OperandError(f"expects a number, got {yaml_type(operand)}")
    return float(operand)


def _expect_strings(operand: Any) -> tuple[str, ...]:
    items = operand if isinstance(operand, list) else [operand]
    if not items or not all(isinstance(item, str) for item in items):
        raise OperandError("expects a string or a list of strings")
    return tuple(items)


def _expect_list(operand: Any) -> list[Any]:
    if not isinstance(operand, list):
        raise OperandError(f"expects a list, got {yaml_type(operand)}")
    return operand


def _compare(op: Callable[[float, float], bool]) -> Callable[[Any], Test]:
    def build(operand: Any) -> Test:
        bound = _expect_number(operand)
        return lambda value: _number(value) and op(value, bound)
    return build


def _in(operand: Any) -> Test:
    items = _expect_list(operand)
    return lambda value: value in items


def _not_in(operand: Any) -> Test:
    items = _expect_list(operand)
    return lambda value: value not in items


def _startswith(operand: Any) -> Test:
    prefixes = _expect_strings(operand)
    return lambda value: isinstance(value, str) and value.startswith(prefixes)


def _endswith(operand: Any) -> Test:
    suffixes = _expect_strings(operand)
    return lambda value: isinstance(value, str) and value.endswith(suffixes)


@lru_cache(maxsize=4096)
def _normal_path(value: str) -> str | None:
    """``value`` as a normalised relative path, or None when it leaves its root (``..``) or is absolute."""
    normal = posixpath.normpath(value.replace("\\", "/"))
    if normal.startswith(("/", "../")) or normal == "..":
        return None
    return normal


def _under(operand: Any) -> Test:
    folders = tuple(posixpath.normpath(f).rstrip("/") for f in _expect_strings(operand))
    if "." in folders:  # the whole workspace: any path that stays inside it
        return lambda value: isinstance(value, str) and _normal_path(value) is not None
    exact, prefixes = frozenset(folders), tuple(f + "/" for f in folders)

    def test(value: Any) -> bool:
        normal = _normal_path(value) if isinstance(value, str) else None
        return normal is not None and (normal in exact or normal.startswith(prefixes))
    return test


def _matches(operand: Any) -> Test:
    if not isinstance(operand, str):
        raise OperandError(f"expects a regular expression (a string), got {yaml_type(operand)}")
    try:
        pattern = re.compile(operand)
    except re.error as exc:
        raise OperandError(f"is not a valid regular expression: {exc}") from None
    return lambda value: isinstance(value, str) and pattern.search(value) is not None


def _glob(operand: Any) -> Test:
    patterns = _expect_strings(operand)
    return lambda value: isinstance(value, str) and any(fnmatch.fnmatchcase(value, p) for p in patterns)


def url_host(value: Any) -> str | None:
    """The lower-case host name of URL ``value``, or None when it is not a URL with a host."""
    if not isinstance(value, str):
        return None
    try:
        host = urlsplit(value.strip()).hostname
    except ValueError:
        return None
    return host.rstrip(".") if host else None


def _host_in(operand: Any) -> Test:
    hosts = tuple(h.lower() for h in _expect_strings(operand))
    exact = frozenset(h for h in hosts if not h.startswith("*."))
    suffixes = tuple(h[1:] for h in hosts if h.startswith("*."))  # "*.example.org" → ".example.org"

    def test(value: Any) -> bool:
        host = url_host(value)
        return host is not None and (host in exact or host.endswith(suffixes))
    return test


def _eq(operand: Any) -> Test:
    return lambda value: value == operand


def _ne(operand: Any) -> Test:
    return lambda value: value != operand


OPERATORS: dict[str, Callable[[Any], Test]] = {
    "eq": _eq, "ne": _ne, "in": _in, "not_in": _not_in,
    "lt": _compare(lambda a, b: a < b), "le": _compare(lambda a, b: a <= b),
    "gt": _compare(lambda a, b: a > b), "ge": _compare(lambda a, b: a >= b),
    "startswith": _startswith, "endswith": _endswith, "under": _under,
    "matches": _matches, "glob": _glob, "host_in": _host_in,
}
"""Each operator's builder: its operand in, the compiled test of an argument's value out."""


@dataclass(frozen=True, slots=True)
class Condition:
    """One compiled test on one argument path: ``amount {lt: 500}``."""

    path: tuple[str | int, ...]
    op: str
    operand: Any
    test: Test
    where: Path  # in the policy file, for diagnostics
    key: str | None = field(init=False, default=None)  # a one-segment path: looked up directly

    def __post_init__(self) -> None:
        if len(self.path) == 1 and isinstance(self.path[0], str):
            object.__setattr__(self, "key", self.path[0])

    @property
    def argument(self) -> str:
        """The argument path as written (``options.level``)."""
        return ".".join(str(p) for p in self.path)

    def holds(self, arguments: Mapping[str, Any]) -> bool:
        """Whether the call's ``arguments`` satisfy this condition."""
        key = self.key
        value = (arguments.get(key, MISSING) if key is not None else lookup(arguments, self.path))
        if value is MISSING:
            return self.op == "exists" and not self.operand
        return self.test(value)

    def __str__(self) -> str:
        return f"{self.argument} {self.op} {self.operand!r}"


def lookup(arguments: Any, path: tuple[str | int, ...]) -> Any:
    """The value at ``path`` of ``arguments``, or :data:`MISSING`."""
    value = arguments
    for part in path:
        if isinstance(part, int) and isinstance(value, list) and -len(value) <= part < len(value):
            value = value[part]
        elif isinstance(value, Mapping) and str(part) in value:
            value = value[str(part)]
        else:
            return MISSING
    return value


def parse_path(text: str) -> tuple[str | int, ...] | None:
    """A dotted argument path as its segments (digits as list indexes); None when malformed."""
    parts = text.split(".")
    if not text or any(not part for part in parts):
        return None
    return tuple(int(p) if p.isdigit() else p for p in parts)


def _shorthand(spec: Any) -> dict[str, Any]:
    """The operator mapping a condition stands for: ``x: 3`` is ``{eq: 3}``, ``x: [a, b]`` is ``{in: [a, b]}``."""
    if isinstance(spec, dict):
        return spec
    return {"in": spec} if isinstance(spec, list) else {"eq": spec}


def compile_block(block: Mapping[str, Any], where: Path, positions: Positions,
                  problems: list[Diagnostic]) -> tuple[Condition, ...]:
    """The conditions of a ``when:``/``unless:`` block at ``where``; problems are appended, with positions."""
    conditions: list[Condition] = []
    for text, spec in block.items():
        path = parse_path(str(text))
        if path is None:
            problems.append(positions.diagnostic((*where, text), f"{text!r} is not an argument path",
                                                 "write a dotted path such as options.level", key=True))
            continue
        ops = _shorthand(spec)
        if not ops:
            problems.append(positions.diagnostic((*where, text), f"no test for argument {text!r}",
                                                 f"e.g. {text}: {{eq: value}}"))
        for op, operand in ops.items():
            condition = _compile_one(path, str(op), operand, (*where, text), positions, problems)
            if condition is not None:
                conditions.append(condition)
    return tuple(conditions)


def _compile_one(path: tuple[str | int, ...], op: str, operand: Any, where: Path, positions: Positions,
                 problems: list[Diagnostic]) -> Condition | None:
    at = (*where, op) if (*where, op) in positions.values else where
    if op == "exists":
        if not isinstance(operand, bool):
            problems.append(positions.diagnostic(at, f"exists: expects true or false, got {yaml_type(operand)}"))
            return None
        return Condition(path, op, operand, lambda _: operand, where)
    build = OPERATORS.get(op)
    if build is None:
        known = [*OPERATORS, "exists"]
        hint = did_you_mean(op, known) or f"the operators are: {', '.join(known)}"
        problems.append(positions.diagnostic(at, f"unknown operator {op!r}", hint, key=True))
        return None
    try:
        return Condition(path, op, operand, build(operand), where)
    except OperandError as exc:
        problems.append(positions.diagnostic(at, f"{op}: {exc}"))
        return None
