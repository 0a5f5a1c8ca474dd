"""YAML text to plain data plus a map of where every value sits, for errors that say file:line:column.

ruamel.yaml's C parser composes nodes with their marks (about 10× faster than the round-trip loader,
which keeps the same positions but costs ~0.7 s per 1,000 steps); we walk the node tree once, building
plain dicts/lists and a ``path → (line, column)`` map.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from ruamel.yaml.resolver import VersionedResolver
from ruamel.yaml.tag import Tag

from toolnexus.core.diagnostics import Diagnostic, DiagnosticError, did_you_mean

Path = tuple[str | int, ...]


class Positions:
    """Where each value (and each mapping key) of a loaded document starts; 1-based line and column."""

    def __init__(self, file: str | None, text: str | None = None) -> None:
        self.file = file
        # Given the text, positions are worked out on first use: a document that validates never
        # needs them, and recording one per node is a fifth of loading a large mission.
        self._text = text
        self._values: dict[Path, tuple[int, int]] | None = None if text is not None else {}
        self._keys: dict[Path, tuple[int, int]] = {}

    @property
    def values(self) -> dict[Path, tuple[int, int]]:
        self._ensure()
        assert self._values is not None
        return self._values

    @property
    def keys(self) -> dict[Path, tuple[int, int]]:
        self._ensure()
        return self._keys

    def _ensure(self) -> None:
        if self._values is not None:
            return
        self._values = {}
        yaml = _yaml()
        node = yaml.compose(self._text or "")
        if node is not None:
            _build(node, (), self, yaml.constructor, [])

    def at(self, path: Sequence[str | int], *, key: bool = False) -> tuple[int | None, int | None]:
        """The position of ``path``, or of its nearest ancestor that has one."""
        path = tuple(path)
        while True:
            if key and path in self.keys:
                return self.keys[path]
            if path in self.values:
                return self.values[path]
            if not path:
                return None, None
            path = path[:-1]

    def diagnostic(
        self, path: Sequence[str | int], message: str, hint: str | None = None, *, key: bool = False
    ) -> Diagnostic:
        line, column = self.at(path, key=key)
        return Diagnostic(message=message, file=self.file, line=line, column=column, hint=hint)


_STR = "tag:yaml.org,2002:str"
_MERGE = "tag:yaml.org,2002:merge"


class _Yaml12Resolver(VersionedResolver):
    # The stock resolver works out the document's YAML version again for every scalar and then
    # looks its rules up afresh (a third of the parse time of a large mission); missions are YAML 1.2,
    # so the rules are fixed: looked up once, by a scalar's first character.
    @property
    def processing_version(self) -> tuple[int, int]:
        return (1, 2)

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is not ScalarNode or self.yaml_path_resolvers:
            return super().resolve(kind, value, implicit)
        if implicit[0]:
            for tag, regexp in _rules().get(value[:1], ()):
                if regexp.match(value):
                    return Tag(suffix=tag)
        return _DEFAULT_STR


_DEFAULT_STR = _Yaml12Resolver.DEFAULT_SCALAR_TAG
"""The tag of every plain string the resolver sees (the same object each time: an identity test)."""


@lru_cache(maxsize=1)
def _rules() -> dict[str, tuple[tuple[str, Any], ...]]:
    """YAML 1.2's implicit rules by a scalar's first character ("" for the empty scalar)."""
    table = _Yaml12Resolver().versioned_resolver
    anywhere = tuple(table.get(None, ()))
    return {first: (*rules, *anywhere) for first, rules in table.items() if first is not None}


def _yaml() -> YAML:
    yaml = YAML(typ="safe", pure=False)
    yaml.Resolver = _Yaml12Resolver
    return yaml


def load_yaml(text: str, file: str | None = None, problems: list[Diagnostic] | None = None) -> tuple[Any, Positions]:
    """Parse YAML text into plain Python data and its :class:`Positions`.

    Bad YAML syntax raises a DiagnosticError. Problems that still leave a usable document (a
    duplicate key, a scalar that cannot be constructed) are appended to ``problems`` when a list is
    given, so the caller can report them along with its own in one pass; otherwise they raise.
    """
    positions = Positions(file, text)
    yaml = _yaml()
    try:
        node = yaml.compose(text)
    except MarkedYAMLError as exc:
        raise DiagnosticError([syntax_diagnostic(exc, text, file)]) from None
    except YAMLError as exc:
        raise DiagnosticError([Diagnostic(message=f"invalid YAML: {exc}", file=file)]) from None
    if node is None:
        return None, positions
    found: list[Diagnostic] = []
    data = _build(node, (), None, yaml.constructor, found, file)
    if problems is not None:
        problems.extend(found)
    elif found:
        raise DiagnosticError(found)
    return data, positions


_SYNTAX_HINT = "check indentation, quoting and that ':' is followed by a space"


def syntax_diagnostic(exc: MarkedYAMLError, text: str, file: str | None) -> Diagnostic:
    """A YAML syntax error as a diagnostic that names the construct left open and how to fix it."""
    problem = exc.problem or exc.context or "cannot parse"
    context = exc.context if exc.problem else None
    problem_mark, context_mark = exc.problem_mark, exc.context_mark
    mark = problem_mark or context_mark
    hint = _SYNTAX_HINT
    lines = text.splitlines()
    at_tab = mark is not None and mark.line < len(lines) and lines[mark.line][mark.column : mark.column + 1] == "\t"
    if "another document" in problem:
        message = "invalid YAML: the file must hold one YAML document, but a second one starts here"
        hint = "remove the `---` line and what follows, or move it to a file of its own"
    elif at_tab or "tab character" in problem:
        message = "invalid YAML: a tab character where YAML expects indentation or a value"
        hint = "indent with spaces; YAML does not allow tabs for indentation"
    else:
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
    return Diagnostic(
        message=message,
        file=file,
        line=mark.line + 1 if mark is not None else None,
        column=mark.column + 1 if mark is not None else None,
        hint=hint,
    )


def _mark(node: Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _build(node: Node, path: Path, positions: Positions | None, constructor: Any, problems: list[Diagnostic],
           file: str | None = None) -> Any:
    """Plain data from ``node``; with ``positions``, also where every value and key starts.

    Without ``positions`` (a document loaded for use, not for an error) ``path`` stays ``()``:
    building a path per node is only worth it when positions are wanted.
    """
    if positions is not None:
        positions._values[path] = _mark(node)  # type: ignore[index]
        file = positions.file
    if isinstance(node, ScalarNode):
        # Most scalars are plain strings: no need for the constructor's machinery (the identity
        # test spares a string conversion of the tag; an explicit `!!str` takes the second test).
        if node.ctag is _DEFAULT_STR or node.tag == _STR:
            return node.value
        try:
            return constructor.construct_object(node, deep=True)
        except YAMLError as exc:
            line, column = _mark(node)
            problems.append(Diagnostic(message=f"invalid value: {exc}", file=file, line=line, column=column))
            return None
    if isinstance(node, SequenceNode):
        if positions is None:
            return [_build(item, path, None, constructor, problems, file) for item in node.value]
        return [_build(item, (*path, i), positions, constructor, problems, file) for i, item in enumerate(node.value)]
    if isinstance(node, MappingNode):
        result: dict[Any, Any] = {}
        explicit: set[str] = set()  # keys written here; merged (`<<:`) keys may be overridden, these may not
        for key_node, value_node in node.value:
            if key_node.ctag is not _DEFAULT_STR and key_node.tag == _MERGE:
                merged = _build(value_node, path, positions, constructor, problems, file)
                for source in merged if isinstance(merged, list) else [merged]:
                    if isinstance(source, dict):
                        for k, v in source.items():
                            if k not in explicit:
                                result.setdefault(k, v)
                continue
            if key_node.ctag is _DEFAULT_STR and type(key_node) is ScalarNode and positions is None:
                key: Any = key_node.value  # the common key: a plain string
            else:
                key = _build(key_node, (*path, "<key>") if positions is not None else path, positions, constructor,
                             problems, file)
            if not isinstance(key, str | int | float | bool) and key is not None:
                line, column = _mark(key_node)
                problems.append(
                    Diagnostic(
                        message="a mapping key must be a plain scalar", file=file, line=line, column=column
                    )
                )
                continue
            key = str(key) if not isinstance(key, str) else key
            if key in explicit:
                line, column = _mark(key_node)
                problems.append(
                    Diagnostic(
                        message=f"duplicate key {key!r}",
                        file=file,
                        line=line,
                        column=column,
                        hint="each key may appear once",
                    )
                )
            explicit.add(key)
            if positions is not None:
                positions._keys[(*path, key)] = _mark(key_node)
            result[key] = _build(value_node, (*path, key) if positions is not None else path, positions, constructor,
                                 problems, file)
        return result
    return None


_EXPECTED = {
    "string_type": "a string",
    "bool_type": "a boolean (true/false)",
    "bool_parsing": "a boolean (true/false)",
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "list_type": "a list",
    "dict_type": "a mapping (key: value)",
    "model_type": "a mapping (key: value)",
    "model_attributes_type": "a mapping (key: value)",
}


def yaml_type(value: Any) -> str:
    """What a YAML author would call the type of ``value``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _shown_value(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _data_path(loc: Sequence[Any], positions: Positions, prefix: Path, kind: str) -> Path:
    """The error's location as a path into the document, without pydantic's union-member tags."""
    path: Path = tuple(prefix)
    for i, part in enumerate(loc):
        if isinstance(part, str) and part.startswith(("function-", "tagged")):
            continue
        candidate = (*path, part)
        last = i == len(loc) - 1
        if (
            candidate in positions.values
            or candidate in positions.keys
            or not positions.values
            or (last and kind == "missing")
        ):
            path = candidate
    return path


def validation_diagnostics(
    exc: ValidationError,
    positions: Positions,
    prefix: Path = (),
    known_fields: Callable[[Path], Sequence[str]] | None = None,
    hint_for: Callable[[Path, str], str | None] | None = None,
) -> list[Diagnostic]:
    """Map pydantic errors onto positioned diagnostics, with "did you mean" hints for unknown keys.

    Errors from the alternatives of one union (``if:`` may be a string or a boolean) become one
    diagnostic saying what was expected. ``hint_for(path, error_type)`` may add a fix for a field.
    """
    out: list[Diagnostic] = []
    grouped: dict[Path, list[dict[str, Any]]] = {}
    for error in exc.errors(include_url=False):
        path = _data_path(error["loc"], positions, prefix, error["type"])
        grouped.setdefault(path, []).append(error)
    for path, errors in grouped.items():
        shown = ".".join(str(p) for p in path) or "document"
        where = ".".join(str(p) for p in path[:-1]) or "document"
        for error in errors:
            kind = error["type"]
            hint = hint_for(path, kind) if hint_for is not None else None
            if kind == "extra_forbidden":
                message = f"unknown key {str(path[-1])!r} in {where}"
                if known_fields is not None:
                    allowed = list(known_fields(path[:-1]))
                    hint = (
                        did_you_mean(str(path[-1]), allowed)
                        or hint
                        or (f"allowed here: {', '.join(allowed)}" if allowed else None)
                    )
                out.append(positions.diagnostic(path, message, hint, key=True))
            elif kind == "missing":
                message = f"missing required key {str(path[-1])!r} in {where}"
                out.append(positions.diagnostic(path[:-1], message, hint))
        kinds = [e for e in errors if e["type"] not in ("extra_forbidden", "missing")]
        if not kinds:
            continue
        hint = hint_for(path, kinds[0]["type"]) if hint_for is not None else None
        if all(e["type"] in _EXPECTED for e in kinds):
            expected = " or ".join(dict.fromkeys(_EXPECTED[e["type"]] for e in kinds))
            value = kinds[0].get("input")
            message = f"{shown}: expected {expected}, got {yaml_type(value)}"
            if not isinstance(value, dict | list) and value is not None:
                message += f" {_shown_value(value)}"
            out.append(positions.diagnostic(path, message, hint))
            continue
        for error in kinds:
            msg = error["msg"]
            if msg.startswith("Value error, "):
                msg = msg[len("Value error, ") :]
            if error["type"] == "string_pattern_mismatch":
                msg = f"{_shown_value(error.get('input'))} does not match the pattern {error['ctx']['pattern']}"
            out.append(positions.diagnostic(path, f"{shown}: {msg}", hint))
    out.sort(key=lambda d: (d.line or 0, d.column or 0))
    return out
