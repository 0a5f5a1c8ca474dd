"""Progressive disclosure: a tool described at three levels, the same on every surface.

``listing`` is one line (name, version, summary, tier); ``card`` adds what a caller needs to decide and
call (description, arguments with types and defaults, cost, limits, lifecycle); ``schema`` is
everything: the full input and output schemas and the examples.
"""

from __future__ import annotations

import json
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


def parse_level(level: Level | str) -> Level:
    """``level`` as a :class:`Level`; a ValueError that names the three levels otherwise."""
    try:
        return Level(level)
    except ValueError:
        raise ValueError(f"unknown level {level!r}: use one of {', '.join(v.value for v in Level)}") from None


def describe(spec: ToolSpec, level: Level | str = Level.LISTING) -> dict[str, Any]:
    """``spec`` at ``level`` (``listing``, ``card`` or ``schema``)."""
    return {Level.LISTING: listing, Level.CARD: card, Level.SCHEMA: schema}[parse_level(level)](spec)


def _value(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def _argument_line(arg: dict[str, Any]) -> str:
    flags = "required" if arg["required"] else f"default {_value(arg['default'])}" if "default" in arg else "optional"
    line = f"  {arg['name']}: {arg['type']} ({flags})"
    if "enum" in arg:
        line += f" one of {', '.join(_value(v) for v in arg['enum'])}"
    if arg.get("description"):
        line += f" — {arg['description']}"
    return line


def _cost_text(cost: dict[str, Any]) -> str:
    kind = cost.get("kind", "free")
    if kind == "free":
        return "free"
    currency = cost.get("currency", "USD")
    if kind == "per_call":
        return f"{cost.get('amount', 0):g} {currency} per call"
    if kind == "per_second":
        return f"{cost.get('amount', 0):g} {currency} per second"
    return f"reported by the tool in `{cost.get('field', 'cost')}` (estimate {cost.get('estimate', 0):g} {currency})"


def render_text(spec: ToolSpec, level: Level | str = Level.CARD) -> str:
    """``spec`` at ``level`` as plain text, for terminals and widgets (the same facts as :func:`describe`)."""
    level = parse_level(level)
    head = f"{spec.name}@{spec.version}  [{spec.tier.value}]  {spec.summary}".rstrip()
    if level is Level.LISTING:
        return head
    info = card(spec)
    lines = [head, ""]
    if spec.description and spec.description.strip() != spec.summary.strip():
        lines += [spec.description.strip(), ""]
    lines.append("arguments:" if info["arguments"] else "arguments: none")
    lines += [_argument_line(arg) for arg in info["arguments"]]
    limits = ", ".join(f"{k} {v}" for k, v in info["limits"].items())
    lines += [
        "",
        f"runtime: {spec.runtime}   lifecycle: {spec.lifecycle.value}   cost: {_cost_text(info['cost'])}",
        f"limits: {limits or 'none'}",
    ]
    if spec.tags:
        lines.append(f"tags: {', '.join(spec.tags)}")
    if level is Level.SCHEMA:
        lines += ["", "input schema:", json.dumps(spec.input_schema, indent=2, ensure_ascii=False)]
        if spec.output_schema is not None:
            lines += ["", "output schema:", json.dumps(spec.output_schema, indent=2, ensure_ascii=False)]
        for number, example in enumerate(spec.examples, 1):
            title = f"example {number}" + (f": {example.description}" if example.description else "")
            lines += ["", title, f"  arguments: {_value(example.arguments)}"]
            if example.result is not None:
                lines.append(f"  result: {_value(example.result)}")
    return "\n".join(lines)
