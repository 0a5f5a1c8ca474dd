"""Tool definitions for MCP, OpenAI (Chat Completions and Responses) and Anthropic, from ToolSpecs.

Shapes, as each provider documents them:

- MCP ``Tool`` (2025-11-25): ``{name, title, description, inputSchema, outputSchema?, annotations}``,
  the annotations (``readOnlyHint``, ``destructiveHint``, ``idempotentHint``, ``openWorldHint``) from
  the safety tier; an output schema only when it is an object schema, as the spec requires.
- OpenAI Chat Completions: ``{"type": "function", "function": {name, description, parameters, strict?}}``.
- OpenAI Responses: ``{"type": "function", name, description, parameters, strict?}``.
- Anthropic Messages: ``{name, description, input_schema}``.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from toolnexus.core.call import ToolCall
from toolnexus.core.spec import SafetyTier, ToolSpec
from toolnexus.registry.adapters.calls import parse_calls
from toolnexus.registry.adapters.names import RULES, AdapterError, NameMap, Provider

# Provider, its name RULES and AdapterError live in names (calls reads them too, without importing this
# module); they stay importable from here.

# Tags that say a tool reaches outside the workspace (MCP's "open world").
OPEN_WORLD_TAGS = frozenset({"network", "http", "web", "internet", "api"})


def object_schema(schema: dict[str, Any] | None) -> dict[str, Any]:
    """A copy of ``schema`` with ``type: object`` and ``properties`` at its root, as every provider requires."""
    result = copy.deepcopy(schema) if isinstance(schema, dict) else {}
    result.setdefault("type", "object")
    if result["type"] != "object":
        raise AdapterError(f"an input schema must describe an object, not {result['type']!r}")
    result.setdefault("properties", {})
    return result


def description_of(spec: ToolSpec) -> str:
    """What a model reads about the tool: its description, else its summary, else its name."""
    return (spec.description or spec.summary or spec.name).strip()


def annotations_of(spec: ToolSpec) -> dict[str, Any]:
    """MCP tool annotations implied by the safety tier (and, for the open world, by tags and network access)."""
    read_only = spec.tier is SafetyTier.READ_ONLY
    return {
        "title": title_of(spec),
        "readOnlyHint": read_only,
        # Side-effecting and privileged tools may overwrite or delete: MCP's cautious default holds.
        "destructiveHint": not read_only,
        # Reading twice changes nothing; a side effect repeated may (a write appends, a command reruns).
        "idempotentHint": read_only,
        "openWorldHint": bool(OPEN_WORLD_TAGS.intersection(spec.tags)) or spec.entry.network
        or spec.entry.kind == "mcp",
    }


def title_of(spec: ToolSpec) -> str:
    """A human-readable title: the summary without its full stop, else the name."""
    return spec.summary.strip().rstrip(".") or spec.name


def strict_problems(schema: dict[str, Any], where: str = "parameters") -> list[str]:
    """Why ``schema`` cannot be used with OpenAI's ``strict: true`` (every object closed, every property required)."""
    problems: list[str] = []
    if schema.get("type") == "object" or "properties" in schema:
        properties = schema.get("properties", {})
        if schema.get("additionalProperties") is not False:
            problems.append(f"{where}: additionalProperties must be false")
        missing = sorted(set(properties) - set(schema.get("required", [])))
        if missing:
            problems.append(f"{where}: every property must be required (not {', '.join(missing)})")
        for name, prop in properties.items():
            if isinstance(prop, dict):
                problems += strict_problems(prop, f"{where}.{name}")
    for key in ("items",):
        if isinstance(schema.get(key), dict):
            problems += strict_problems(schema[key], f"{where}[]")
    for key in ("anyOf", "$defs"):
        parts = schema.get(key)
        items = parts.items() if isinstance(parts, dict) else enumerate(parts or [])
        for name, part in items:
            if isinstance(part, dict):
                problems += strict_problems(part, f"{where}.{key}.{name}")
    return problems


def mcp_tool(spec: ToolSpec, name: str | None = None) -> dict[str, Any]:
    """``spec`` as an MCP ``Tool`` (camelCase keys, ready for ``tools/list``)."""
    tool: dict[str, Any] = {
        "name": name or spec.name,
        "title": title_of(spec),
        "description": description_of(spec),
        "inputSchema": object_schema(spec.input_schema),
        "annotations": annotations_of(spec),
        "_meta": {"toolnexus/name": spec.name, "toolnexus/version": spec.version, "toolnexus/tier": spec.tier.value},
    }
    if isinstance(spec.output_schema, dict) and spec.output_schema.get("type") == "object":
        tool["outputSchema"] = copy.deepcopy(spec.output_schema)
    return tool


def _function(spec: ToolSpec, name: str | None, strict: bool) -> dict[str, Any]:
    parameters = object_schema(spec.input_schema)
    function: dict[str, Any] = {"name": name or spec.name, "description": description_of(spec),
                                "parameters": parameters}
    if strict:
        problems = strict_problems(parameters)
        if problems:
            raise AdapterError(f"{spec.name} cannot be a strict OpenAI function: {'; '.join(problems)}")
        function["strict"] = True
    return function


def openai_chat_tool(spec: ToolSpec, name: str | None = None, *, strict: bool = False) -> dict[str, Any]:
    """``spec`` as a Chat Completions tool: ``{"type": "function", "function": {...}}``."""
    return {"type": "function", "function": _function(spec, name, strict)}


def openai_responses_tool(spec: ToolSpec, name: str | None = None, *, strict: bool = False) -> dict[str, Any]:
    """``spec`` as a Responses API function tool: ``{"type": "function", name, description, parameters}``."""
    return {"type": "function", **_function(spec, name, strict)}


def anthropic_tool(spec: ToolSpec, name: str | None = None) -> dict[str, Any]:
    """``spec`` as an Anthropic Messages tool: ``{name, description, input_schema}``."""
    return {"name": name or spec.name, "description": description_of(spec),
            "input_schema": object_schema(spec.input_schema)}


@dataclass
class Export:
    """Tool definitions for one provider and the name map that reads its tool calls back."""

    provider: Provider
    tools: list[dict[str, Any]]
    names: NameMap
    versions: dict[str, str] = field(default_factory=dict)  # tool name → exported version

    def parse(self, payload: Any, *, pin_versions: bool = True) -> list[ToolCall]:
        """The tool calls in a payload of this provider (see :mod:`toolnexus.registry.adapters.calls`)."""
        return parse_calls(self.provider, payload, self.names, self.versions if pin_versions else None)

    def name_map(self) -> dict[str, str]:
        """Provider name → tool name, for every exported tool."""
        return dict(self.names.to_tool)


def export_tools(specs: Iterable[ToolSpec], provider: Provider | str, *, strict: bool = False) -> Export:
    """Definitions of ``specs`` for ``provider``, their names mapped into its alphabet (see ``names``)."""
    provider = Provider(provider)
    specs = list(specs)
    seen: dict[str, ToolSpec] = {}
    for spec in specs:
        if spec.name in seen:
            raise AdapterError(f"{spec.name} is exported twice ({seen[spec.name].version} and {spec.version}): "
                               "a provider knows a tool by name only, so export one version of each")
        seen[spec.name] = spec
    names = NameMap.build(seen, RULES[provider])
    tools = []
    for spec in specs:
        name = names.provider_name(spec.name)
        if provider is Provider.MCP:
            tools.append(mcp_tool(spec, name))
        elif provider is Provider.OPENAI:
            tools.append(openai_chat_tool(spec, name, strict=strict))
        elif provider is Provider.OPENAI_RESPONSES:
            tools.append(openai_responses_tool(spec, name, strict=strict))
        else:
            tools.append(anthropic_tool(spec, name))
    return Export(provider, tools, names, {spec.name: spec.version for spec in specs})
