"""JSON Schema helpers of the compiler: the argument validator cache, static types, output paths.

The compiler's validator cache lives here, in :func:`argument_validator` (one compiled Draft 2020-12
validator per argument schema and ``$defs``), apart from the engine's own cache.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from jsonschema import Draft202012Validator

from toolnexus.core.diagnostics import did_you_mean
from toolnexus.core.spec import ToolSpec
from toolnexus.mission.plan import TYPE_NAMES

SCALAR_TYPES = ("string", "integer", "number", "boolean", "null")


@lru_cache(maxsize=8192)
def argument_validator(schema_json: str, defs_json: str) -> Draft202012Validator:
    """The compiled validator of one argument's schema (with the tool's ``$defs``), cached by their JSON."""
    schema = json.loads(schema_json)
    defs = json.loads(defs_json)
    if defs:
        schema = {**schema, "$defs": defs}
    return Draft202012Validator(schema)


def argument_errors(ref: str, name: str, schema_json: str, defs_json: str, value: Any) -> list[str]:
    """Why ``value`` does not fit the argument's schema (empty when it does)."""
    validator = argument_validator(schema_json, defs_json)
    out = []
    for err in validator.iter_errors(value):
        where = "".join(f"[{p!r}]" for p in err.absolute_path)
        message = _shortened(err.message)
        out.append(f"{where}: {message}" if where else message)
    return out


def _shortened(message: str, limit: int = 240) -> str:
    # JSON Schema's messages quote the whole value: a list of a million items made a 12 MB line
    # (and 700 MB to print it). The start and the end say what is wrong.
    return message if len(message) <= limit else f"{message[: limit - 80]} … {message[-70:]}"


def schema_types(
    schema: dict[str, Any] | None, path: Iterable[Any], defs: dict[str, Any] | None = None
) -> set[str] | None:
    """The JSON types at ``path`` inside ``schema``, or None where the schema does not say."""
    if not schema:
        return None
    defs = defs or schema.get("$defs", {})
    node: dict[str, Any] | None = schema
    for part in path:
        node = deref(node, defs)
        if node is None:
            return None
        if isinstance(part, int):
            node = node.get("items") if isinstance(node.get("items"), dict) else None
        else:
            props = node.get("properties")
            node = props.get(part) if isinstance(props, dict) else None
    node = deref(node, defs)
    return None if node is None else _node_types(node, defs)


def _node_types(node: dict[str, Any], defs: dict[str, Any]) -> set[str] | None:
    kind = node.get("type")
    if isinstance(kind, str):
        return {kind}
    if isinstance(kind, list):
        return set(kind)
    options = node.get("anyOf") or node.get("oneOf")
    if not options:
        return None
    kinds: set[str] = set()
    for option in options:
        sub = schema_types(option, (), defs)
        if sub is None:
            return None
        kinds |= sub
    return kinds


def deref(node: dict[str, Any] | None, defs: dict[str, Any]) -> dict[str, Any] | None:
    """Follow ``$ref`` into ``defs`` until a plain schema node (None if it is not one)."""
    while isinstance(node, dict) and "$ref" in node:
        name = str(node["$ref"]).rpartition("/")[2]
        node = defs.get(name)
    return node if isinstance(node, dict) else None


def compatible(have: set[str], want: set[str]) -> bool:
    """Whether a value of one of ``have``'s types may fill a slot of one of ``want``'s types."""
    widened = set(want) | ({"integer"} if "number" in want else set())
    return bool(have & widened)


def describe(schema: dict[str, Any]) -> str | None:
    """What an argument's schema asks for, as a hint."""
    description = schema.get("description")
    kinds = schema_types(schema, ())
    wants = " or ".join(TYPE_NAMES.get(k, k) for k in sorted(kinds)) if kinds else None
    if wants and description:
        return f"it takes {wants}: {description}"
    return f"it takes {wants}" if wants else description


def output_path_problem(spec: ToolSpec, step_id: str, parts: tuple[Any, ...]) -> tuple[str, str | None] | None:
    """Why ``steps.<id>.outputs.<parts>`` cannot exist, by the tool's output schema (None if it may)."""
    if not spec.output_schema:
        return None
    schema = spec.output_schema
    defs = schema.get("$defs", {})
    # A Python tool's typed return value is dumped by pydantic: it has exactly the declared fields.
    closed = spec.entry.kind == "python"
    node: dict[str, Any] | None = deref(schema, defs)
    walked = f"steps.{step_id}.outputs"
    for part in parts:
        if node is None or "anyOf" in node or "oneOf" in node or "allOf" in node:
            return None
        kind = node.get("type")
        if kind in SCALAR_TYPES:
            step = f"[{part}]" if isinstance(part, int) else f".{part}"
            return (
                f"`{walked}` is {TYPE_NAMES.get(kind, kind)}, so it has no `{step.lstrip('.')}`",
                f"drop `{step}`: `{walked}` is already the value",
            )
        if isinstance(part, int):
            node = deref(node.get("items"), defs) if isinstance(node.get("items"), dict) else None
            walked += f"[{part}]"
            continue
        properties = node.get("properties")
        if not isinstance(properties, dict):
            return None
        if part not in properties:
            return _missing_field(spec, node, properties, walked, part, closed)
        node = deref(properties[part], defs)
        walked += f".{part}"
    return None


def _missing_field(
    spec: ToolSpec, node: dict[str, Any], properties: dict[str, Any], walked: str, part: Any, closed: bool
) -> tuple[str, str | None] | None:
    """The problem of reading an undeclared field: an error only where the object is closed."""
    extra = node.get("additionalProperties")
    if extra is False or (closed and extra is None and not node.get("patternProperties")):
        return (
            f"`{walked}` has no field `{part}` ({spec.ref} returns: {', '.join(properties)})",
            did_you_mean(str(part), properties, f"{walked}."),
        )
    return None
