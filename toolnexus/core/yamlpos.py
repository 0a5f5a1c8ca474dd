"""YAML text to plain data plus a map of where every value sits, for errors that say file:line:column.

ruamel.yaml's C parser reads the events (about 10× faster than the round-trip loader, which keeps the
same positions but costs ~0.7 s per 1,000 steps); a bounded composer of our own turns them into nodes
with their marks, and we walk the node tree once, building plain dicts/lists and a
``path → (line, column)`` map.

Hostile input is refused in bounded time and memory (:class:`YamlLimits`): the composer is iterative
(the C composer recurses once per level and overflows the C stack on deep nesting), stops at a
nesting depth, at a number of values, and counts what each alias stands for, so an alias bomb
("billion laughs") or a recursive alias is refused before anything is expanded.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.composer import ComposerError
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import (
    AliasEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceStartEvent,
    StreamEndEvent,
)
from ruamel.yaml.nodes import CollectionNode, MappingNode, Node, ScalarNode, SequenceNode
from ruamel.yaml.reader import ReaderError
from ruamel.yaml.resolver import VersionedResolver
from ruamel.yaml.tag import Tag

from toolnexus.core.diagnostics import Diagnostic, DiagnosticError, did_you_mean

Path = tuple[str | int, ...]


@dataclass(frozen=True)
class YamlLimits:
    """Bounds on one YAML document, so that hostile input is refused in bounded time and memory.

    The defaults leave room for a 100,000-step mission (5.6 MB, 800,000 values) and keep the
    loader under a few hundred MB whatever the input.
    """

    max_bytes: int = 10 * 1024 * 1024
    """Size of the document in UTF-8 bytes."""
    max_depth: int = 128
    """Nesting of lists and mappings (the document's top level is 1)."""
    max_nodes: int = 1_000_000
    """Values (scalars, lists, mappings) written in the document."""
    max_alias_nodes: int = 100_000
    """Values that aliases (``*name``) stand for, counted as if each alias were written out."""

    def __post_init__(self) -> None:
        # Values nested deeper than 200 outgrow the recursion of what reads them later (the
        # plan's serialisation among others), so a larger bound would only move the crash.
        if not 1 <= self.max_depth <= MAX_DEPTH:
            raise ValueError(f"max_depth must be between 1 and {MAX_DEPTH}, not {self.max_depth}")
        if min(self.max_bytes, self.max_nodes) < 1 or self.max_alias_nodes < 0:
            raise ValueError("max_bytes and max_nodes must be positive, max_alias_nodes at least 0")


MAX_DEPTH = 200
"""The largest nesting bound that may be configured."""


DEFAULT_LIMITS = YamlLimits()


def _raise_hint(key: str, what: str = "large") -> str:
    return f"or raise `{key}` under `[mission]` in toolnexus.toml if the file is meant to be this {what}"


class Positions:
    """Where each value (and each mapping key) of a loaded document starts; 1-based line and column."""

    def __init__(self, file: str | None, text: str | None = None, limits: YamlLimits = DEFAULT_LIMITS) -> None:
        self.file = file
        # Given the text, positions are worked out on first use: a document that validates never
        # needs them, and recording one per node is a fifth of loading a large mission.
        self._text = text
        self._limits = limits
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
        node = compose(self._text or "", self.file, self._limits, yaml)
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


def load_yaml(
    text: str,
    file: str | None = None,
    problems: list[Diagnostic] | None = None,
    limits: YamlLimits = DEFAULT_LIMITS,
) -> tuple[Any, Positions]:
    """Parse YAML text into plain Python data and its :class:`Positions`.

    Bad YAML syntax, and a document past ``limits``, raise a DiagnosticError. Problems that still
    leave a usable document (a duplicate key, a scalar that cannot be constructed) are appended to
    ``problems`` when a list is given, so the caller can report them along with its own in one pass;
    otherwise they raise.
    """
    check_size(text, file, limits)
    positions = Positions(file, text, limits)
    yaml = _yaml()
    node = compose(text, file, limits, yaml)
    if node is None:
        return None, positions
    found: list[Diagnostic] = []
    data = _build(node, (), None, yaml.constructor, found, file)
    if problems is not None:
        problems.extend(found)
    elif found:
        raise DiagnosticError(found)
    return data, positions


def check_size(text: str, file: str | None, limits: YamlLimits = DEFAULT_LIMITS) -> None:
    """Refuse a document of more than ``limits.max_bytes`` UTF-8 bytes, pointing at where it crosses the bound."""
    if len(text) <= limits.max_bytes // 4:
        return  # at most 4 bytes a character: no need to encode
    data = text.encode("utf-8", "surrogatepass")
    if len(data) > limits.max_bytes:
        raise DiagnosticError([too_large(data, file, limits.max_bytes)])


def too_large(data: bytes, file: str | None, max_bytes: int) -> Diagnostic:
    """The diagnostic of a document of ``len(data)`` bytes (or more) over ``max_bytes``."""
    line, column = byte_position(data, max_bytes)
    return Diagnostic(
        message=f"the file is larger than {_size(max_bytes)}: it passes the limit here",
        file=file,
        line=line,
        column=column,
        hint="split it into smaller missions, " + _raise_hint("max_bytes"),
    )


def _size(count: int) -> str:
    if count >= 1024 * 1024:
        return f"{count / (1024 * 1024):g} MB"
    return f"{count / 1024:g} KB" if count >= 1024 else f"{count} bytes"


def byte_position(data: bytes, offset: int) -> tuple[int, int]:
    """The 1-based line and column (in characters) of byte ``offset`` of UTF-8 ``data``."""
    line_start = data.rfind(b"\n", 0, offset) + 1
    column = len(data[line_start:offset].decode("utf-8", "replace")) + 1
    return data.count(b"\n", 0, offset) + 1, column


def decode(data: bytes, file: str | None) -> str:
    """UTF-8 ``data`` as text; invalid bytes raise a DiagnosticError that says where they are."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, column = byte_position(data, exc.start)
        bad = " ".join(f"0x{b:02x}" for b in data[exc.start : exc.end])
        raise DiagnosticError(
            [
                Diagnostic(
                    message=f"the file is not UTF-8 text: invalid byte {bad} at byte offset {exc.start} "
                    f"({exc.reason})",
                    file=file,
                    line=line,
                    column=column,
                    hint="save the file as UTF-8 (it may have been written as Latin-1 or Windows-1252)",
                )
            ]
        ) from None


def compose(text: str, file: str | None, limits: YamlLimits = DEFAULT_LIMITS, yaml: YAML | None = None) -> Node | None:
    """The node tree of the one document in ``text`` (None when empty), within ``limits``.

    Syntax errors and documents past the limits raise a DiagnosticError.
    """
    yaml = yaml or _yaml()
    parser = None
    try:
        _, parser = yaml.get_constructor_parser(text)  # the C parser encodes the text here
        return _Composer(parser, file, limits).document()
    except MarkedYAMLError as exc:
        raise DiagnosticError([syntax_diagnostic(exc, text, file)]) from None
    except ReaderError as exc:
        raise DiagnosticError([_reader_diagnostic(exc, text, file)]) from None
    except UnicodeEncodeError as exc:  # a lone surrogate in text that did not come from a file
        raise DiagnosticError([_unencodable(exc, text, file)]) from None
    except YAMLError as exc:
        raise DiagnosticError([Diagnostic(message=f"invalid YAML: {exc}", file=file)]) from None
    finally:
        if parser is not None:
            parser.dispose()


def _reader_diagnostic(exc: ReaderError, text: str, file: str | None) -> Diagnostic:
    # The C reader counts bytes of the UTF-8 text, the pure one characters.
    data = text.encode("utf-8", "surrogatepass")
    offset = exc.position if isinstance(exc.position, int) else 0
    if not _c_parser_loaded():
        offset = len(text[:offset].encode("utf-8", "surrogatepass"))
    line, column = byte_position(data, offset)
    character = exc.character if isinstance(exc.character, int) else ord(exc.character or "\0")
    return Diagnostic(
        message=f"invalid YAML: the character U+{character:04X} is not allowed in YAML ({exc.reason})",
        file=file,
        line=line,
        column=column,
        hint=f'remove it, or write it escaped in a double-quoted string ("\\u{character:04x}")',
    )


def _unencodable(exc: UnicodeEncodeError, text: str, file: str | None) -> Diagnostic:
    line, column = text.count("\n", 0, exc.start) + 1, exc.start - text.rfind("\n", 0, exc.start)
    return Diagnostic(
        message=f"invalid text: {exc.reason} (U+{ord(text[exc.start]):04X})", file=file, line=line, column=column
    )


@lru_cache(maxsize=1)
def _c_parser_loaded() -> bool:
    from ruamel.yaml.main import CParser

    return _yaml().Parser is CParser and CParser is not None


class _Scalar(ScalarNode):
    """A scalar node made without ruamel's generic constructors (a third of composing a mission).

    Only the start mark is kept: nothing reads the end of a value, and a million marks less is a
    hundred MB less for a document at the bound.
    """

    __slots__ = ()

    def __init__(self, tag: Tag, value: str, start_mark: Any, style: Any, anchor: str | None) -> None:
        self.ctag, self.value, self.start_mark, self.end_mark = tag, value, start_mark, None
        self.style, self.anchor, self.comment = style, anchor, None


@dataclass
class _Open:
    """A list or mapping whose items are being read."""

    node: CollectionNode
    anchor: str | None
    items: list[Node] = field(default_factory=list)
    size: int = 1  # values it stands for: itself, its items, and what its aliases stand for


class _Composer:
    """Events to nodes without recursion, within :class:`YamlLimits`.

    Each anchor keeps the number of values it stands for, so an alias adds that number to a running
    count in constant time: an alias bomb is refused at the alias that crosses the bound, having
    expanded nothing. An alias to a list or mapping that is still open (``&a [*a]``) is refused too:
    it would make a cyclic value.
    """

    def __init__(self, parser: Any, file: str | None, limits: YamlLimits) -> None:
        self.parser = parser
        self.file = file
        self.limits = limits
        self.anchors: dict[str, tuple[Node, int | None]] = {}  # size None: still open
        self.open: list[_Open] = []
        self.nodes = 0
        self.aliased = 0

    def document(self) -> Node | None:
        parser = self.parser
        parser.get_event()  # stream start
        if parser.check_event(StreamEndEvent):
            parser.get_event()
            return None
        parser.get_event()  # document start
        node = self.root()
        parser.get_event()  # document end
        if not parser.check_event(StreamEndEvent):
            event = parser.get_event()
            raise ComposerError(
                "expected a single document in the stream",
                node.start_mark,
                "but found another document",
                event.start_mark,
            )
        parser.get_event()
        return node

    def root(self) -> Node:
        """The document's root node, read event by event (the hot loop of loading a mission)."""
        get_event, stack, rules = self.parser.get_event, self.open, _rules()
        max_nodes = self.limits.max_nodes
        node: Node
        while True:
            event = get_event()
            kind = type(event)
            if kind is ScalarEvent:
                self.nodes += 1
                if self.nodes > max_nodes:
                    raise self.too_many(event)
                # Inline resolution (the resolver's own, by a plain scalar's first character):
                # most scalars are plain strings, and a call per scalar is felt on a large mission.
                tag, value = event.ctag, event.value
                if tag is None or str(tag) == "!":
                    tag = _DEFAULT_STR
                    if event.implicit[0]:
                        for rule_tag, regexp in rules.get(value[:1], ()):
                            if regexp.match(value):
                                tag = Tag(suffix=rule_tag)
                                break
                node, size = _Scalar(tag, value, event.start_mark, event.style, event.anchor), 1
                if event.anchor is not None:
                    self.anchors[event.anchor] = (node, 1)
            elif kind is SequenceStartEvent or kind is MappingStartEvent:
                self.start(event, SequenceNode if kind is SequenceStartEvent else MappingNode)
                continue
            elif kind is AliasEvent:
                node, size = self.alias(event)
            else:  # the end of a list or mapping
                node, size = self.end(event)
            if not stack:
                return node
            top = stack[-1]
            top.items.append(node)
            top.size += size

    def too_many(self, event: Any) -> DiagnosticError:
        return self.refusal(
            event,
            f"the document holds more than {self.limits.max_nodes:,} values",
            "split it into smaller missions, " + _raise_hint("max_nodes"),
        )

    def start(self, event: Any, kind: type[CollectionNode]) -> None:
        self.nodes += 1
        if self.nodes > self.limits.max_nodes:
            raise self.too_many(event)
        if len(self.open) >= self.limits.max_depth:
            raise self.refusal(
                event,
                f"the document nests lists and mappings more than {self.limits.max_depth} levels deep",
                "flatten the data, " + _raise_hint("max_depth", "deep"),
            )
        tag = event.ctag
        if tag is None or str(tag) == "!":
            tag = self.parser.resolve(kind, None, event.implicit)
        node = kind(tag, [], event.start_mark, None, flow_style=event.flow_style, anchor=event.anchor)
        if event.anchor is not None:
            self.anchors[event.anchor] = (node, None)
        self.open.append(_Open(node, event.anchor))

    def end(self, event: Any) -> tuple[Node, int]:
        done = self.open.pop()
        node = done.node
        node.end_mark = event.end_mark
        items = done.items
        node.value = list(zip(items[::2], items[1::2], strict=True)) if isinstance(node, MappingNode) else items
        if done.anchor is not None and self.anchors[done.anchor][0] is node:  # not redefined inside
            self.anchors[done.anchor] = (node, done.size)
        return node, done.size

    def alias(self, event: Any) -> tuple[Node, int]:
        name = event.anchor
        if name not in self.anchors:
            raise ComposerError(None, None, f"found undefined alias {name!r}", event.start_mark)
        node, size = self.anchors[name]
        if size is None:
            raise self.refusal(
                event,
                f"the alias `*{name}` is inside the value it names (`&{name}`): a value cannot contain itself",
                f"write the value out, or move `*{name}` after the end of the value anchored `&{name}`",
            )
        self.aliased += size
        if self.aliased > self.limits.max_alias_nodes:
            raise self.refusal(
                event,
                f"the aliases of the document stand for more than {self.limits.max_alias_nodes:,} values "
                "(aliases that repeat aliases grow exponentially)",
                "write the repeated values out or use fewer aliases, "
                + _raise_hint("max_alias_nodes"),
            )
        return node, size

    def refusal(self, event: Any, message: str, hint: str) -> DiagnosticError:
        mark = event.start_mark
        return DiagnosticError(
            [Diagnostic(message=message, file=self.file, line=mark.line + 1, column=mark.column + 1, hint=hint)]
        )


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
        except (YAMLError, ValueError, TypeError, OverflowError) as exc:
            problems.append(_scalar_problem(node, exc, file))
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
            if key_node.ctag is _DEFAULT_STR and isinstance(key_node, ScalarNode) and positions is None:
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
