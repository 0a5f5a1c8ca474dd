"""Adapters: MCP, OpenAI and Anthropic tool definitions, and those providers' calls read back."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Any

import mcp.types as mcp_types
import pytest

import toolnexus as tn
from toolnexus.builtins import builtin_specs
from toolnexus.core.spec import SafetyTier, ToolSpec
from toolnexus.registry.adapters import (
    ANTHROPIC,
    MCP,
    OPENAI,
    AdapterError,
    NameMap,
    Provider,
    UnknownProviderName,
    export_tools,
    openai_chat_tool,
    parse_call,
    result_message,
)

OPENAI_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
MCP_NAME = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
BUILTINS = builtin_specs()
AWKWARD = ["a.b", "a__b", "a_b", "ns.sub.tool-name", "x/y", "x:y", "x+y", "a.b.c.d.e.f.g.h",
           "very." * 30 + "long", "very." * 30 + "lonG", "z" * 200, "z" * 199 + "y", "tool#1",
           "tool_x23_1"]


def payload(provider: Provider, name: str, arguments: dict[str, Any], call_id: str) -> dict[str, Any]:
    """A tool call as each provider sends it (shapes from their API references)."""
    if provider is Provider.OPENAI:
        return {"id": "chatcmpl-1", "object": "chat.completion", "choices": [{"index": 0, "finish_reason": "tool_calls",
                "message": {"role": "assistant", "content": None, "tool_calls": [
                    {"id": call_id, "type": "function",
                     "function": {"name": name, "arguments": json.dumps(arguments)}}]}}]}
    if provider is Provider.OPENAI_RESPONSES:
        return {"id": "resp_1", "object": "response", "output": [
            {"type": "reasoning", "id": "rs_1", "summary": []},
            {"type": "function_call", "id": "fc_1", "call_id": call_id, "name": name,
             "arguments": json.dumps(arguments), "status": "completed"}]}
    if provider is Provider.ANTHROPIC:
        return {"id": "msg_1", "type": "message", "role": "assistant", "stop_reason": "tool_use", "content": [
            {"type": "text", "text": "Let me look."},
            {"type": "tool_use", "id": call_id, "name": name, "input": arguments}]}
    return {"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": name, "arguments": arguments}}


def example_arguments(spec: ToolSpec) -> dict[str, Any]:
    return spec.examples[0].arguments if spec.examples else {}


# -- definitions ---------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", BUILTINS, ids=lambda s: s.name)
def test_mcp_definitions_validate_with_the_mcp_sdk(spec: ToolSpec) -> None:
    (tool,) = export_tools([spec], "mcp").tools
    parsed = mcp_types.Tool.model_validate(tool)
    assert parsed.name == spec.name and MCP_NAME.fullmatch(parsed.name)
    assert parsed.input_schema["type"] == "object"
    assert parsed.title and parsed.description
    hints = parsed.annotations
    assert hints is not None and hints.read_only_hint is (spec.tier is SafetyTier.READ_ONLY)
    assert hints.destructive_hint is (spec.tier is not SafetyTier.READ_ONLY)
    assert hints.open_world_hint is (spec.name == "http.fetch")
    # An output schema only where it is an object, as MCP 2025-11-25 requires.
    object_output = (spec.output_schema or {}).get("type") == "object"
    assert parsed.output_schema == (spec.output_schema if object_output else None)
    assert tool["_meta"] == {"toolnexus/name": spec.name, "toolnexus/version": spec.version,
                             "toolnexus/tier": spec.tier.value}


def test_json_query_has_no_mcp_output_schema_because_its_output_is_any_json() -> None:
    (tool,) = export_tools([s for s in BUILTINS if s.name == "json.query"], "mcp").tools
    assert "outputSchema" not in tool


@pytest.mark.parametrize("spec", BUILTINS, ids=lambda s: s.name)
def test_openai_and_anthropic_definitions_have_the_documented_shapes(spec: ToolSpec) -> None:
    (chat,) = export_tools([spec], "openai").tools
    assert set(chat) == {"type", "function"} and chat["type"] == "function"
    assert set(chat["function"]) == {"name", "description", "parameters"}
    assert OPENAI_NAME.fullmatch(chat["function"]["name"])
    assert chat["function"]["parameters"]["type"] == "object"
    assert chat["function"]["parameters"] == spec.input_schema

    (responses,) = export_tools([spec], "openai-responses").tools
    assert set(responses) == {"type", "name", "description", "parameters"} and responses["type"] == "function"
    assert responses["name"] == chat["function"]["name"]

    (claude,) = export_tools([spec], "anthropic").tools
    assert set(claude) == {"name", "description", "input_schema"}
    assert OPENAI_NAME.fullmatch(claude["name"]) and claude["input_schema"] == spec.input_schema


def test_strict_openai_functions_need_closed_schemas_with_every_property_required() -> None:
    closed = ToolSpec(name="c.tool", input_schema={"type": "object", "additionalProperties": False,
                                                    "properties": {"a": {"type": "string"}}, "required": ["a"]})
    assert openai_chat_tool(closed, strict=True)["function"]["strict"] is True
    read = next(s for s in BUILTINS if s.name == "files.read")
    with pytest.raises(AdapterError, match="every property must be required"):
        export_tools([read], "openai", strict=True)


def test_a_tool_without_a_schema_gets_an_empty_object_schema() -> None:
    bare = ToolSpec(name="bare", input_schema={})
    assert export_tools([bare], "anthropic").tools[0]["input_schema"] == {"type": "object", "properties": {}}


def test_two_versions_of_one_tool_cannot_share_an_export() -> None:
    with pytest.raises(AdapterError, match="exported twice"):
        export_tools([ToolSpec(name="t", version="1.0.0"), ToolSpec(name="t", version="2.0.0")], "mcp")


# -- names ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("rules", [OPENAI, ANTHROPIC, MCP], ids=lambda r: r.provider)
def test_awkward_names_map_into_the_alphabet_uniquely_and_back(rules: Any) -> None:
    names = NameMap.build(AWKWARD, rules)
    provider_names = [names.provider_name(n) for n in AWKWARD]
    assert all(rules.pattern.fullmatch(p) for p in provider_names)
    assert len(set(provider_names)) == len(AWKWARD)
    assert [names.tool_name(p) for p in provider_names] == AWKWARD


def test_valid_names_are_kept_and_dots_read_naturally() -> None:
    names = NameMap.build(["a.b", "a__b", "files.read", "plain_name"], OPENAI)
    assert names.provider_name("a__b") == "a__b"  # valid as it is: kept
    assert names.provider_name("a.b").startswith("a__b_")  # its readable form is taken: hashed
    assert names.provider_name("files.read") == "files__read"
    assert names.provider_name("plain_name") == "plain_name"
    assert NameMap.build(["files.read"], MCP).provider_name("files.read") == "files.read"


def test_the_map_depends_on_the_set_of_names_not_their_order() -> None:
    shuffled = list(AWKWARD)
    random.Random(3).shuffle(shuffled)
    assert NameMap.build(AWKWARD, OPENAI).to_tool == NameMap.build(shuffled, OPENAI).to_tool


# -- round trips ---------------------------------------------------------------------------------


@pytest.mark.parametrize("provider", list(Provider))
def test_every_builtin_round_trips_through_every_provider(provider: Provider) -> None:
    exported = export_tools(BUILTINS, provider)
    for spec, definition in zip(BUILTINS, exported.tools, strict=True):
        name = definition["name"] if "name" in definition else definition["function"]["name"]
        (call,) = exported.parse(payload(provider, name, example_arguments(spec), "call_abc"))
        assert (call.tool, call.version, call.arguments) == (spec.name, spec.version, example_arguments(spec))
        assert call.origin == provider.value
        assert call.id == ("mcp-7" if provider is Provider.MCP else "call_abc")


@pytest.mark.parametrize("provider", list(Provider))
def test_awkward_names_round_trip_through_every_provider(provider: Provider) -> None:
    specs = [ToolSpec(name=n, input_schema={"type": "object", "properties": {"q": {"type": "string"}}})
             for n in AWKWARD]
    exported = export_tools(specs, provider)
    for spec, definition in zip(specs, exported.tools, strict=True):
        name = definition["name"] if "name" in definition else definition["function"]["name"]
        call = parse_call(provider, payload(provider, name, {"q": spec.name}, "id1"), exported.names,
                          exported.versions)
        assert call.tool == spec.name and call.arguments == {"q": spec.name}


def test_calls_parse_from_sdk_objects_and_several_calls_come_in_order() -> None:
    exported = export_tools(BUILTINS, "mcp")
    params = mcp_types.CallToolRequestParams(name="text.render", arguments={"template": "x"})
    assert exported.parse(params)[0].arguments == {"template": "x"}
    chat = export_tools(BUILTINS, "openai")
    message = {"role": "assistant", "tool_calls": [
        {"id": "a", "type": "function", "function": {"name": "files__read", "arguments": '{"path": "a"}'}},
        {"id": "b", "type": "function", "function": {"name": "json__query", "arguments": ""}}]}
    assert [(c.id, c.tool, c.arguments) for c in chat.parse(message)] == [
        ("a", "files.read", {"path": "a"}), ("b", "json.query", {})]
    assert chat.parse({"role": "assistant", "content": "no tools today"}) == []


@pytest.mark.parametrize(("provider", "bad", "message"), [
    (Provider.OPENAI, {"id": "x", "type": "function", "function": {"name": "files__read", "arguments": "{nope"}},
     "not valid JSON"),
    (Provider.OPENAI, {"id": "x", "type": "function", "function": {"name": "files__read", "arguments": "[1]"}},
     "must be a JSON object"),
    (Provider.OPENAI_RESPONSES, {"type": "message", "content": []}, "not an OpenAI Responses function call"),
    (Provider.ANTHROPIC, {"type": "tool_use", "id": "t", "input": {}}, "names no tool"),
    (Provider.MCP, {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, "not 'tools/call'"),
    (Provider.MCP, ["tools/call"], "is a JSON object"),
])
def test_payloads_that_are_not_tool_calls_are_clear_errors(provider: Provider, bad: Any, message: str) -> None:
    exported = export_tools(BUILTINS, provider)
    with pytest.raises(AdapterError, match=message):
        exported.parse(bad)


def test_a_name_never_exported_is_refused_with_a_suggestion() -> None:
    exported = export_tools(BUILTINS, "anthropic")
    with pytest.raises(UnknownProviderName, match="'files__reed', which is not a tool of this export") as caught:
        exported.parse({"type": "tool_use", "id": "t", "name": "files__reed", "input": {}})
    assert "files__read" in (caught.value.hint or "")


@pytest.mark.anyio
async def test_a_parsed_call_runs_through_the_nexus_and_answers_under_its_id(workspace: Path) -> None:
    with tn.Nexus(workspace, store=False) as nexus:
        exported = export_tools(nexus.registry.list(), "openai-responses")
        (call,) = exported.parse(payload(Provider.OPENAI_RESPONSES, "text__render",
                                         {"template": "Hi {{ who }}", "data": {"who": "Ada"}}, "call_9"))
        result = await nexus.invoker.invoke(call)
        claude = export_tools(nexus.registry.list(), "anthropic")
        (bad,) = claude.parse(payload(Provider.ANTHROPIC, "text__render", {"template": "{{ nope }}"}, "toolu_1"))
        failed = await nexus.invoker.invoke(bad)
    assert result.ok and result.output == {"text": "Hi Ada"} and result.call_id == "call_9"
    assert result_message("openai-responses", result) == {"type": "function_call_output", "call_id": "call_9",
                                                          "output": '{"text": "Hi Ada"}'}
    assert result_message("openai", result) == {"role": "tool", "tool_call_id": "call_9",
                                                "content": '{"text": "Hi Ada"}'}
    block = result_message("anthropic", failed)
    assert block["type"] == "tool_result" and block["tool_use_id"] == "toolu_1" and block["is_error"] is True
    assert json.loads(block["content"])["error"]["kind"] == "invalid_arguments"
