"""Progressive disclosure: a tool described at three levels, the same on every surface.

``listing`` is one line (name, version, summary, tier); ``card`` adds what a caller needs to decide and
call (description, arguments with types and defaults, cost, limits, lifecycle); ``schema`` is
everything: the full input and output schemas and the examples.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from toolnexus.core.spec import ToolSpec


class Level(StrEnum):
    """How much of a tool to show."""

    LISTING = "listing"
    CARD = "card"
    SCHEMA = "schema"


def _type_of(prop: dict[str, Any]) -> str:
    if "type" in prop:
        kind = prop["type"]
        if kind == "array" and isinstance(prop.get("items"), dict):
            return f"array[{_type_of(prop['items'])}]"
        return kind if isinstance(kind, str) else " | ".join(kind)
    for key in ("anyOf", "oneOf"):
        if key in prop:
            return " | ".join(_type_of(p) for p in prop[key] if isinstance(p, dict))
    if "enum" in prop:
        return "enum"
    return "any"


def arguments(spec: ToolSpec) -> list[dict[str, Any]]:
    """The tool's arguments: name, type, required, default and description, in schema order."""
    schema = spec.input_schema if isinstance(spec.input_schema, dict) else {}
    required = set(schema.get("required", []))
    out = []
    for name, prop in schema.get("properties", {}).items():
        prop = prop if isinstance(prop, dict) else {}
        arg: dict[str, Any] = {"name": name, "type": _type_of(prop), "required": name in required}
        if "default" in prop:
            arg["default"] = prop["default"]
        if prop.get("description"):
            arg["description"] = prop["description"]
        if "enum" in prop:
            arg["enum"] = prop["enum"]
        out.append(arg)
    return out


def listing(spec: ToolSpec) -> dict[str, Any]:
    """Level 1: enough to pick a tool from a list."""
    return {"name": spec.name, "version": spec.version, "summary": spec.summary, "tier": spec.tier.value}


def card(spec: ToolSpec) -> dict[str, Any]:
    """Level 2: enough to decide on a tool and call it."""
    return {
        **listing(spec),
        "description": spec.description,
        "arguments": arguments(spec),
        "tags": list(spec.tags),
        "runtime": spec.runtime,
        "lifecycle": spec.lifecycle.value,
        "cost": spec.cost.model_dump(exclude_defaults=True) or {"kind": "free"},
        "limits": spec.limits.model_dump(exclude_none=True, mode="json"),
    }


def schema(spec: ToolSpec) -> dict[str, Any]:
    """Level 3: everything, with the full schemas and examples."""
    return {
        **card(spec),
        "input_schema": spec.input_schema,
        "output_schema": spec.output_schema,
        "examples": [e.model_dump(exclude_none=True) for e in spec.examples],
    }


def describe(spec: ToolSpec, level: Level | str = Level.LISTING) -> dict[str, Any]:
    """``spec`` at ``level`` (``listing``, ``card`` or ``schema``)."""
    return {Level.LISTING: listing, Level.CARD: card, Level.SCHEMA: schema}[Level(level)](spec)
