"""Adapters: tools exported as MCP, OpenAI and Anthropic definitions, and those providers' calls read back.

::

    export = export_tools(registry.list(), "openai")
    client.chat.completions.create(..., tools=export.tools)
    calls = export.parse(completion)          # list[ToolCall], names mapped back, versions pinned
    results = [await nexus.invoker.invoke(call) for call in calls]
    messages = [result_message("openai", r) for r in results]   # tool messages under each call's id
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
from toolnexus.registry.adapters.results import result_message, result_text

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
    "result_message",
    "result_text",
    "strict_problems",
]
