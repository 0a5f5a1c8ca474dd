"""JSON Schema helpers of the compiler: constant arguments against their schema, static types, output paths.

Constant arguments are checked with the validators of :mod:`toolnexus.core.validation` (one cache of
compiled validators for the compiler and the invocation pipeline), and their problems are reported
with the same JSON-pointer paths (``/a/0: …``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from toolnexus.core.diagnostics import did_you_mean
from toolnexus.core.spec import ToolSpec
from toolnexus.core.validation import argument_validator, schema_problems
from toolnexus.mission.plan import TYPE_NAMES

SCALAR_TYPES = ("string", "integer", "number", "boolean", "null")


def argument_errors(spec: ToolSpec, name: str, value: Any) -> list[str]:
    """Why ``value`` does not fit the schema of ``spec``'s argument ``name`` (empty when it does)."""
    check = argument_validator(spec, name)
    if check is None:
        return []
    return [p["message"] if p["path"] == "/" else f"{p['path']}: {p['message']}" for p in schema_problems(check, value)]


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
