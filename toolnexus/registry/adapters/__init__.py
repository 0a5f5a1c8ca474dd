"""Adapters: tools exported as MCP, OpenAI and Anthropic definitions, and those providers' calls read back.

::

    export = export_tools(registry.list(), "openai")
    client.chat.completions.create(..., tools=export.tools)
    calls = export.parse(completion)          # list[ToolCall], names mapped back, versions pinned
    results = [await nexus.invoker.invoke(call) for call in calls]
"""

from toolnexus.registry.adapters.calls import parse_call, parse_calls
from toolnexus.registry.adapters.export import (
    AdapterError,
    Export,
    Provider,
    annotations_of,
    anthropic_tool,
    export_tools,
    mcp_tool,
    openai_chat_tool,
    openai_responses_tool,
    strict_problems,
)
from toolnexus.registry.adapters.names import ANTHROPIC, MCP, OPENAI, NameMap, NameRules, UnknownProviderName

__all__ = [
    "ANTHROPIC",
    "MCP",
    "OPENAI",
    "AdapterError",
    "Export",
    "NameMap",
    "NameRules",
    "Provider",
    "UnknownProviderName",
    "annotations_of",
    "anthropic_tool",
    "export_tools",
    "mcp_tool",
    "openai_chat_tool",
    "openai_responses_tool",
    "parse_call",
    "parse_calls",
    "strict_problems",
]
