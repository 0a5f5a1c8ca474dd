"""Pydantic validation errors mapped onto positioned diagnostics in the YAML author's terms."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from pydantic import ValidationError

from toolnexus.core.diagnostics import Diagnostic, did_you_mean
from toolnexus.core.yamlpos.positions import Path, Positions
from toolnexus.core.yamlpos.syntax import _shown_value

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
        out.extend(_key_diagnostics(path, errors, positions, known_fields, hint_for))
        out.extend(_value_diagnostics(path, errors, positions, hint_for))
    out.sort(key=lambda d: (d.line or 0, d.column or 0))
    return out


def _key_diagnostics(
    path: Path,
    errors: list[dict[str, Any]],
    positions: Positions,
    known_fields: Callable[[Path], Sequence[str]] | None,
    hint_for: Callable[[Path, str], str | None] | None,
) -> list[Diagnostic]:
    """Unknown and missing keys at ``path``, with the keys allowed there as the hint."""
    out: list[Diagnostic] = []
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
    return out


def _value_diagnostics(
    path: Path,
    errors: list[dict[str, Any]],
    positions: Positions,
    hint_for: Callable[[Path, str], str | None] | None,
) -> list[Diagnostic]:
    """Wrong values at ``path``: one "expected X or Y" for type errors (a union's alternatives), else each."""
    kinds = [e for e in errors if e["type"] not in ("extra_forbidden", "missing")]
    if not kinds:
        return []
    shown = ".".join(str(p) for p in path) or "document"
    hint = hint_for(path, kinds[0]["type"]) if hint_for is not None else None
    if all(e["type"] in _EXPECTED for e in kinds):
        expected = " or ".join(dict.fromkeys(_EXPECTED[e["type"]] for e in kinds))
        value = kinds[0].get("input")
        message = f"{shown}: expected {expected}, got {yaml_type(value)}"
        if not isinstance(value, dict | list) and value is not None:
            message += f" {_shown_value(value)}"
        return [positions.diagnostic(path, message, hint)]
    out: list[Diagnostic] = []
    for error in kinds:
        msg = error["msg"]
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        if error["type"] == "string_pattern_mismatch":
            msg = f"{_shown_value(error.get('input'))} does not match the pattern {error['ctx']['pattern']}"
        out.append(positions.diagnostic(path, f"{shown}: {msg}", hint))
    return out
