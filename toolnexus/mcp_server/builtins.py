"""The resources and prompts every toolnexus MCP server offers, read from the client's catalog.

- ``toolnexus://tools/{name}`` — a tool's card (JSON, the ``card`` level of
  :mod:`toolnexus.registry.disclosure`); ``toolnexus://tools/{name}/{level}`` at ``listing``, ``card``
  or ``schema``. Templates, not listed one by one: a catalog may hold thousands of tools.
- ``toolnexus://missions/{name}`` — a served mission's YAML (listed: one resource per mission).
- the prompt ``toolnexus.mission_step`` — "write a mission step that uses tool X (to do Y)", with the
  tool's card in it.

Tool names in these URIs and arguments are the MCP names of the client's catalog (its toolset), and
``completion/complete`` suggests them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import mcp_types as types

from toolnexus.mcp_server.catalog import Catalog, EntryKind
from toolnexus.registry.disclosure import Level, describe, render_text

TOOLS = "toolnexus://tools/"
MISSIONS = "toolnexus://missions/"
TOOL_TEMPLATE = TOOLS + "{name}"
TOOL_LEVEL_TEMPLATE = TOOLS + "{name}/{level}"
MISSION_STEP = "toolnexus.mission_step"
LEVELS = [level.value for level in Level]


def templates() -> list[types.ResourceTemplate]:
    """The built-in resource templates: a tool's card, at a disclosure level."""
    return [
        types.ResourceTemplate(uri_template=TOOL_TEMPLATE, name="tool-card", mime_type="application/json",
                               description="A tool's card: what it does, its arguments, tier, cost and examples"),
        types.ResourceTemplate(uri_template=TOOL_LEVEL_TEMPLATE, name="tool-description",
                               mime_type="application/json",
                               description="A tool at a disclosure level: listing, card or schema"),
    ]


def mission_resources(catalog: Catalog) -> list[types.Resource]:
    """The missions of ``catalog`` as resources (their YAML source)."""
    return [types.Resource(uri=MISSIONS + entry.name.removeprefix("mission."), name=entry.name,
                           mime_type="application/yaml",
                           description=entry.spec.summary or entry.spec.description or f"the mission {entry.name}")
            for entry in catalog.entries if entry.kind is EntryKind.MISSION]


def read(catalog: Catalog, uri: str) -> list[types.TextResourceContents] | None:
    """A built-in resource's contents, or None when ``uri`` names none (in this catalog)."""
    if uri.startswith(TOOLS):
        name, _, level = uri.removeprefix(TOOLS).partition("/")
        entry = catalog.by_name.get(name)
        if entry is None or (level and level not in LEVELS):
            return None
        text = json.dumps(describe(entry.spec, level or Level.CARD), default=str, ensure_ascii=False)
        return [types.TextResourceContents(uri=uri, mime_type="application/json", text=text)]
    if uri.startswith(MISSIONS):
        entry = catalog.by_name.get("mission." + uri.removeprefix(MISSIONS))
        if entry is None or entry.kind is not EntryKind.MISSION or not entry.spec.source:
            return None
        text = Path(entry.spec.source).read_text(encoding="utf-8")
        return [types.TextResourceContents(uri=uri, mime_type="application/yaml", text=text)]
    return None


def mission_step_prompt() -> types.Prompt:
    """The built-in ``mission-step`` prompt: how to call a tool as a mission step."""
    return types.Prompt(
        name=MISSION_STEP, title="Write a mission step",
        description="Write one step of a toolnexus mission (YAML) that uses a given tool",
        arguments=[types.PromptArgument(name="tool", description="the tool to use (its MCP name)", required=True),
                   types.PromptArgument(name="goal", description="what the step should achieve", required=False)])


def mission_step(catalog: Catalog, arguments: dict[str, Any]) -> types.GetPromptResult | str:
    """The prompt's messages, or a message saying what is wrong with the arguments."""
    name = str(arguments.get("tool") or "")
    entry = catalog.by_name.get(name)
    if entry is None:
        return f"unknown tool {name!r} for {MISSION_STEP}" if name else f"{MISSION_STEP} needs the argument 'tool'"
    goal = str(arguments.get("goal") or "").strip()
    ref = entry.spec.name
    text = (f"Write one step of a toolnexus mission (YAML) that uses the tool `{ref}`"
            f"{' to ' + goal if goal else ''}.\n\nThe tool:\n\n{render_text(entry.spec, Level.CARD)}\n\n"
            "Answer with the step only, in this form (values may refer to the mission's inputs as "
            "`${{ inputs.NAME }}` and to earlier steps' outputs as `${{ steps.ID.outputs.FIELD }}`):\n\n"
            f"```yaml\n- id: short_snake_case_id\n  uses: {ref}\n  with:\n    ARGUMENT: VALUE\n```")
    return types.GetPromptResult(description=f"a mission step using {ref}", messages=[
        types.PromptMessage(role="user", content=types.TextContent(type="text", text=text))])


def complete_tool_name(catalog: Catalog, prefix: str) -> list[str]:
    """The names of ``catalog``'s tools that start with ``prefix`` (for completion)."""
    return [name for name in catalog.names if name.startswith(prefix)]
