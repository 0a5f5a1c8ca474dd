"""A :class:`ToolResult` as the message each provider expects back for its tool call.

- OpenAI Chat Completions: ``{"role": "tool", "tool_call_id", "content"}``;
- OpenAI Responses: ``{"type": "function_call_output", "call_id", "output"}``;
- Anthropic: a ``{"type": "tool_result", "tool_use_id", "content", "is_error"}`` block for the next user turn.

The content is the output as JSON text, or, for an error, the error's kind and message (errors are data
the model can read and act on, never a traceback).
"""

from __future__ import annotations

import json
from typing import Any

from toolnexus.core.call import ToolResult
from toolnexus.registry.adapters.names import Provider


def result_text(result: ToolResult) -> str:
    """The output as JSON (a string output as it is), or the error as ``{"error": {kind, message}}``."""
    if result.error is not None:
        return json.dumps({"error": {"kind": result.error.kind.value, "message": result.error.message}},
                          ensure_ascii=False)
    if isinstance(result.output, str):
        return result.output
    return json.dumps(result.output, ensure_ascii=False, default=str)


def result_message(provider: Provider | str, result: ToolResult) -> dict[str, Any]:
    """``result`` as ``provider``'s reply to the call whose id it carries (``result.call_id``)."""
    provider = Provider(provider)
    text = result_text(result)
    if provider is Provider.OPENAI:
        return {"role": "tool", "tool_call_id": result.call_id, "content": text}
    if provider is Provider.OPENAI_RESPONSES:
        return {"type": "function_call_output", "call_id": result.call_id, "output": text}
    if provider is Provider.ANTHROPIC:
        return {"type": "tool_result", "tool_use_id": result.call_id, "content": text, "is_error": not result.ok}
    raise ValueError("MCP results are CallToolResult messages: the MCP server builds them")
