"""The text of a ``.cedar`` file: where each policy starts, the file's directives, and where a parse error is.

Cedar's parser (through ``cedarpy``) names what is wrong but not where, so positions are found here: the text
is split into its top-level statements (a policy ends at a ``;`` outside parentheses, braces, brackets,
strings and comments), each statement is parsed alone to find the one that fails, and within it the
offending token is the first occurrence at which a prefix of the statement fails with the same message.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

OPENERS, CLOSERS = "([{", ")]}"

DIRECTIVE = re.compile(r"^[ \t]*//[ \t]*(mode|gateway)[ \t]*:[ \t]*(\S.*?)[ \t]*$", re.MULTILINE)
"""A file-level setting written as a comment line (``// mode: enforce``), so the file stays plain Cedar."""

TOKEN = re.compile(r"unexpected token `([^`]+)`")
WORD = re.compile(r":\s*(\S+)\s*$")


@dataclass(frozen=True, slots=True)
class Statement:
    """One top-level policy of the text: from its first annotation or effect keyword to its ``;``."""

    start: int
    end: int

    def text(self, source: str) -> str:
        """The statement's text within ``source``."""
        return source[self.start:self.end]


def position(text: str, offset: int) -> tuple[int, int]:
    """The 1-based line and column of ``offset`` in ``text``."""
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def statements(text: str) -> list[Statement]:
    """The top-level statements of ``text``, in order (an unterminated last one runs to the end)."""
    found: list[Statement] = []
    start: int | None = None
    depth, i, size = 0, 0, len(text)
    while i < size:
        char = text[i]
        if char == "/" and text.startswith("//", i):
            end = text.find("\n", i)
            i = size if end < 0 else end
            continue
        if start is None and not char.isspace():
            start = i
        if char == '"':
            i = _string_end(text, i)
            continue
        depth += (char in OPENERS) - (char in CLOSERS)
        if char == ";" and depth <= 0 and start is not None:
            found.append(Statement(start, i + 1))
            start, depth = None, 0
        i += 1
    if start is not None:
        found.append(Statement(start, size))
    return found


def _string_end(text: str, i: int) -> int:
    """The offset just after the string literal opening at ``i`` (escapes skipped)."""
    i += 1
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == '"':
            return i + 1
        i += 1
    return i


def directives(text: str) -> dict[str, tuple[str, int]]:
    """The file's ``// mode: …`` and ``// gateway: …`` comment lines: name → (value, line); the first one wins."""
    found: dict[str, tuple[str, int]] = {}
    for match in DIRECTIVE.finditer(text):
        found.setdefault(match.group(1), (match.group(2), text.count("\n", 0, match.start()) + 1))
    return found


def locate_error(text: str, parse: Callable[[str], object]) -> tuple[str, int | None] | None:
    """The parse error of the first statement of ``text`` that fails alone, and its offset in ``text`` (None
    when only the statement is known to fail); None when every statement parses alone."""
    for statement in statements(text):
        chunk = statement.text(text)
        message = _error(parse, chunk)
        if message is None:
            continue
        at = _offending(chunk, message, parse)
        return message, statement.start + (at if at is not None else 0)
    return None


def _error(parse: Callable[[str], object], text: str) -> str | None:
    try:
        parse(text)
    except ValueError as exc:
        return str(exc)
    return None


def _offending(chunk: str, message: str, parse: Callable[[str], object]) -> int | None:
    """Where in ``chunk`` the error ``message`` arises: the first occurrence of its token such that the prefix
    ending there, closed by a ``;``, fails with the same message (a prefix that stops before the offending
    token only ends early: the parser names a token once it has read the one after it)."""
    token = TOKEN.search(message)
    if token is not None:
        needle = token.group(1)
        at = chunk.find(needle)
        while at >= 0:
            end = at + len(needle)
            if _error(parse, chunk[:end] if needle == ";" else chunk[:end] + ";") == message:
                return at
            at = chunk.find(needle, at + 1)
        return None
    if "end of input" in message or "unexpected end" in message:
        return len(chunk.rstrip())
    word = WORD.search(message)
    if word is not None:
        at = chunk.find(word.group(1))
        return at if at >= 0 else None
    return None
