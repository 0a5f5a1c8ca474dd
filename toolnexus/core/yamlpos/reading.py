"""Reading YAML text: size and encoding checks, loading (events to data) and composing (events to nodes)."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any, TypeVar

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import Node
from ruamel.yaml.reader import ReaderError

from toolnexus.core.diagnostics import Diagnostic, DiagnosticError
from toolnexus.core.yamlpos.composer import _Composer
from toolnexus.core.yamlpos.positions import DEFAULT_LIMITS, Positions, YamlLimits, _raise_hint
from toolnexus.core.yamlpos.resolver import _yaml
from toolnexus.core.yamlpos.stream import _Loader
from toolnexus.core.yamlpos.syntax import syntax_diagnostic

_T = TypeVar("_T")


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
    found: list[Diagnostic] = []
    # Straight from the parser's events: no node tree (a quarter of a GB for a 100,000-step mission).
    data = _parsed(text, file, yaml, lambda parser: _Loader(parser, file, limits, yaml.constructor, found).document())
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
    return _parsed(text, file, yaml or _yaml(), lambda parser: _Composer(parser, file, limits).document())


def _parsed(text: str, file: str | None, yaml: YAML, read: Callable[[Any], _T]) -> _T:
    """What ``read`` makes of the parser of ``text``; syntax errors raise a DiagnosticError."""
    parser = None
    try:
        _, parser = yaml.get_constructor_parser(text)  # the C parser encodes the text here
        return read(parser)
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
            # ruamel's C loader refers to itself, and the YAML object (in a cycle of its own) to it:
            # without this the encoded text (6 MB for 100,000 steps) waits for the cyclic collector,
            # which a large load pauses, and would be frozen with the mission (see mission.gcpause).
            parser.__dict__.clear()
            yaml._scanner = None
            constructor = getattr(yaml, "_constructor", None)
            if constructor is not None:  # its cache of every scalar node constructed (and their marks)
                constructor.constructed_objects.clear()


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

