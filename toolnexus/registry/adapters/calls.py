"""Providers' tool-call payloads read back into :class:`ToolCall`\\ s.

Accepted payloads, from the single call to the whole response:

- OpenAI Chat Completions: a ``tool_calls[]`` item ``{id, type: "function", function: {name, arguments}}``
  (``arguments`` a JSON string), an assistant message with ``tool_calls``, or a completion with ``choices``;
- OpenAI Responses: a ``{type: "function_call", call_id, name, arguments}`` item, or a response with ``output``;
- Anthropic: a ``{type: "tool_use", id, name, input}`` block, or a message with ``content``;
- MCP: ``tools/call`` params ``{name, arguments}``, or the JSON-RPC request carrying them.

The provider's call id becomes the ToolCall's id, so a result can be sent back under it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from toolnexus.core.call import ToolCall
from toolnexus.registry.adapters.names import AdapterError, NameMap, Provider


def _arguments(raw: Any, where: str) -> dict[str, Any]:
    if raw is None or raw == "":
        return {}
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise AdapterError(f"{where}: the arguments are not valid JSON ({exc.msg} at character {exc.pos})") \
                from None
    if not isinstance(raw, dict):
        raise AdapterError(f"{where}: the arguments must be a JSON object, not {type(raw).__name__}")
    return raw


def _call(provider: Provider, name: Any, arguments: dict[str, Any], call_id: Any, names: NameMap,
          versions: Mapping[str, str] | None, where: str) -> ToolCall:
    if not isinstance(name, str) or not name:
        raise AdapterError(f"{where}: the call names no tool")
    tool = names.tool_name(name)
    fields: dict[str, Any] = {"tool": tool, "arguments": arguments, "origin": provider.value,
                              "version": (versions or {}).get(tool)}
    if isinstance(call_id, str) and call_id:
        fields["id"] = call_id
    return ToolCall(**fields)


def _openai_chat(payload: Mapping[str, Any], names: NameMap, versions: Mapping[str, str] | None) -> list[ToolCall]:
    if "choices" in payload:
        calls: list[ToolCall] = []
        for choice in payload["choices"] or []:
            calls += _openai_chat(choice.get("message") or {}, names, versions)
        return calls
    if "tool_calls" in payload:
        calls = []
        for item in payload["tool_calls"] or []:
            calls += _openai_chat(item, names, versions)
        return calls
    if "function" in payload:
        function = payload["function"] or {}
        where = f"tool call {payload.get('id', '')}".strip()
        return [_call(Provider.OPENAI, function.get("name"), _arguments(function.get("arguments"), where),
                      payload.get("id"), names, versions, where)]
    if payload.get("role") == "assistant":
        return []  # a message without tool calls
    raise AdapterError("not an OpenAI chat tool call: expected `function`, `tool_calls` or `choices`")


def _openai_responses(payload: Mapping[str, Any], names: NameMap,
                      versions: Mapping[str, str] | None) -> list[ToolCall]:
    if "output" in payload and isinstance(payload["output"], list):
        calls: list[ToolCall] = []
        for item in payload["output"]:
            if isinstance(item, Mapping) and item.get("type") == "function_call":
                calls += _openai_responses(item, names, versions)
        return calls
    if payload.get("type") == "function_call":
        where = f"function_call {payload.get('call_id', '')}".strip()
        return [_call(Provider.OPENAI_RESPONSES, payload.get("name"), _arguments(payload.get("arguments"), where),
                      payload.get("call_id"), names, versions, where)]
    raise AdapterError("not an OpenAI Responses function call: expected a `function_call` item or `output`")


def _anthropic(payload: Mapping[str, Any], names: NameMap, versions: Mapping[str, str] | None) -> list[ToolCall]:
    if isinstance(payload.get("content"), list):
        calls: list[ToolCall] = []
        for block in payload["content"]:
            if isinstance(block, Mapping) and block.get("type") == "tool_use":
                calls += _anthropic(block, names, versions)
        return calls
    if payload.get("type") == "tool_use":
        where = f"tool_use {payload.get('id', '')}".strip()
        return [_call(Provider.ANTHROPIC, payload.get("name"), _arguments(payload.get("input"), where),
                      payload.get("id"), names, versions, where)]
    raise AdapterError("not an Anthropic tool call: expected a `tool_use` block or a message with `content`")


def _mcp(payload: Mapping[str, Any], names: NameMap, versions: Mapping[str, str] | None) -> list[ToolCall]:
    if "method" in payload:
        if payload["method"] != "tools/call":
            raise AdapterError(f"not an MCP tool call: method is {payload['method']!r}, not 'tools/call'")
        request_id = payload.get("id")
        params = payload.get("params") or {}
        call = _call(Provider.MCP, params.get("name"), _arguments(params.get("arguments"), "tools/call"),
                     None, names, versions, "tools/call")
        return [call.model_copy(update={"id": f"mcp-{request_id}"}) if request_id is not None else call]
    if "name" in payload:
        return [_call(Provider.MCP, payload.get("name"), _arguments(payload.get("arguments"), "tools/call"),
                      None, names, versions, "tools/call")]
    raise AdapterError("not an MCP tool call: expected tools/call params {name, arguments} or the request")


_PARSERS = {Provider.OPENAI: _openai_chat, Provider.OPENAI_RESPONSES: _openai_responses,
            Provider.ANTHROPIC: _anthropic, Provider.MCP: _mcp}


def parse_calls(provider: Provider | str, payload: Any, names: NameMap,
                versions: Mapping[str, str] | None = None) -> list[ToolCall]:
    """The tool calls in ``payload``, their names read back through ``names``.

    ``versions`` (tool name → version) pins each call to the version that was exported, so the call
    meets the schema the model saw. Raises :class:`AdapterError` for a payload that is not a tool call,
    and :class:`~toolnexus.registry.adapters.names.UnknownProviderName` for a name never exported.
    """
    provider = Provider(provider)
    if hasattr(payload, "model_dump"):  # an SDK object (openai, anthropic, mcp): its JSON form
        payload = payload.model_dump(mode="json", by_alias=True, exclude_none=True)
    if not isinstance(payload, Mapping):
        raise AdapterError(f"a {provider.value} tool call is a JSON object, not {type(payload).__name__}")
    return _PARSERS[provider](payload, names, versions)


def parse_call(provider: Provider | str, payload: Any, names: NameMap,
               versions: Mapping[str, str] | None = None) -> ToolCall:
    """The one tool call in ``payload``; :class:`AdapterError` if it holds none or several."""
    calls = parse_calls(provider, payload, names, versions)
    if len(calls) != 1:
        raise AdapterError(f"expected one {Provider(provider).value} tool call, found {len(calls)}")
    return calls[0]
