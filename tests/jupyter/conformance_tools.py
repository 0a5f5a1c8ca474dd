"""The fixture tools the MCP conformance suite calls by name, as toolnexus ``@tool`` functions.

Loaded only into the conformance test's server (``ToolnexusExtension.tool_modules``); declared with
``register=False`` so importing this module never adds them to any other registry. Each does what the
suite's scenario asks of its fixture in the way a toolnexus tool author would write it: JSON data or
content blocks (``toolnexus.core.content``) as results, the Python ``logging`` module for logs,
``report_progress`` for progress, ``sample``/``elicit``/``list_roots`` to ask the client (mid-call on a
2025-11-25 session, through input-required rounds on 2026-07-28), ``@resource``/``@prompt`` of
``toolnexus.mcp_server.library``. Fixtures for what toolnexus does not do are absent; their scenarios are
expected failures in ``test_conformance.py``, each with its reason.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from typing import Any

from toolnexus import tool
from toolnexus.core.content import Audio, Content, EmbeddedResource, Image
from toolnexus.core.context import can_ask, elicit, list_roots, report_progress, sample
from toolnexus.mcp_server.library import prompt, resource
from toolnexus.registry.decorator import SPEC_ATTR, spec_of

SIMPLE_TEXT = "This is a simple text response for testing."
ERROR_MESSAGE = "This tool intentionally returns an error for testing"
STEP_DELAY = 0.05  # the scenarios' fixtures spread their work over ~50 ms steps

log = logging.getLogger(__name__)


@tool(register=False)
def test_simple_text() -> str:
    """Tests simple text content response (scenario tools-call-simple-text)."""
    return SIMPLE_TEXT


@tool(register=False)
def test_error_handling() -> str:
    """Tests error response handling: always fails (scenario tools-call-error)."""
    raise RuntimeError(ERROR_MESSAGE)


@tool(register=False)
async def test_tool_with_progress() -> str:
    """Tests progress notifications: reports 0, 50 and 100 of 100 (scenario tools-call-with-progress)."""
    for done in (0, 50):
        report_progress(done, 100)
        await asyncio.sleep(STEP_DELAY)
    report_progress(100, 100, "done")
    return "progress test completed"


@tool(register=False)
async def test_tool_with_logging() -> str:
    """Tests log messages during execution: logs three times (scenario tools-call-with-logging)."""
    for message in ("Tool execution started", "Tool processing data"):
        log.info(message)
        await asyncio.sleep(STEP_DELAY)
    log.info("Tool execution completed")
    return "Tool with logging executed successfully"


@tool(register=False)
def test_logging_tool() -> str:
    """Diagnostic logging validator: logs once (scenario server-stateless: no log without a logLevel)."""
    log.info("Diagnostic trace logging activated")
    return "logged"


# A 4x4 red PNG (stored uncompressed: a PNG under 97 bytes is base64 short enough for the engine's secret
# scrubber to take it for a token) and a 1-sample 8 kHz mono WAV.
RED_PNG = (
    "iVBORw0KGgoAAAANSUhEUgAAAAQAAAAECAIAAAAmkwkpAAAAP0lEQVR4AQE0AMv/AP8AAP8AAP8AAP8AAAD/AAD/AAD/AAD/AAAA"
    "/wAA/wAA/wAA/wAAAP8AAP8AAP8AAP8AAK6TD/FxtSpPAAAAAElFTkSuQmCC")
SILENT_WAV = (b"RIFF&\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00@\x1f\x00\x00@\x1f\x00\x00"
              b"\x01\x00\x08\x00data\x02\x00\x00\x00\x80\x80")


@tool(register=False)
def test_image_content() -> Image:
    """Returns an image content block (scenario tools-call-image)."""
    return Image(data=RED_PNG, mime_type="image/png")


@tool(register=False)
def test_audio_content() -> Audio:
    """Returns an audio content block (scenario tools-call-audio)."""
    return Audio(data=SILENT_WAV, mime_type="audio/wav")


@tool(register=False)
def test_embedded_resource() -> EmbeddedResource:
    """Returns an embedded text resource (scenario tools-call-embedded-resource)."""
    return EmbeddedResource(uri="test://embedded-resource", mime_type="text/plain",
                            text="This is an embedded resource content.")


@tool(register=False)
def test_multiple_content_types() -> Content:
    """Returns text, an image and an embedded resource (scenario tools-call-mixed-content)."""
    return Content("Multiple content types test:", Image(data=RED_PNG, mime_type="image/png"),
                   EmbeddedResource(uri="test://mixed-content-resource", mime_type="application/json",
                                    text='{"test":"data","value":123}'))


@tool(register=False)
async def test_sampling(prompt: str) -> str:
    """Asks the client's model (scenario tools-call-sampling)."""
    return f"LLM response: {await sample(prompt, max_tokens=100)}"


@tool(register=False)
async def test_elicitation(message: str) -> str:
    """Asks the client's user for a username and an email (scenario tools-call-elicitation)."""
    answer = await elicit(message, {"type": "object", "properties": {
        "username": {"type": "string", "description": "User's response"},
        "email": {"type": "string", "description": "User's email address"}}, "required": ["username", "email"]})
    return f"User response: action={answer['action']}, content={answer.get('content')}"


@tool(register=False)
async def test_elicitation_sep1034_defaults() -> str:
    """Asks with a default for every primitive type (scenario elicitation-sep1034-defaults)."""
    schema: dict[str, Any] = {"type": "object", "properties": {
        "name": {"type": "string", "default": "John Doe"},
        "age": {"type": "integer", "default": 30},
        "score": {"type": "number", "default": 95.5},
        "status": {"type": "string", "enum": ["active", "inactive", "pending"], "default": "active"},
        "verified": {"type": "boolean", "default": True}}}
    answer = await elicit("Please review your details", schema)
    return f"Elicitation completed: action={answer['action']}, content={answer.get('content')}"


@tool(register=False)
async def test_elicitation_sep1330_enums() -> str:
    """Asks with the five enum forms (scenario elicitation-sep1330-enums)."""
    schema: dict[str, Any] = {"type": "object", "properties": {
        "untitledSingle": {"type": "string", "enum": ["option1", "option2", "option3"]},
        "titledSingle": {"type": "string", "oneOf": [{"const": "value1", "title": "First Option"},
                                                     {"const": "value2", "title": "Second Option"},
                                                     {"const": "value3", "title": "Third Option"}]},
        "legacyEnum": {"type": "string", "enum": ["opt1", "opt2", "opt3"],
                       "enumNames": ["Option One", "Option Two", "Option Three"]},
        "untitledMulti": {"type": "array", "items": {"type": "string", "enum": ["option1", "option2", "option3"]}},
        "titledMulti": {"type": "array", "items": {"anyOf": [{"const": "value1", "title": "First Choice"},
                                                             {"const": "value2", "title": "Second Choice"},
                                                             {"const": "value3", "title": "Third Choice"}]}}}}
    answer = await elicit("Please choose", schema)
    return f"Elicitation completed: action={answer['action']}, content={answer.get('content')}"


# -- resources and prompts (toolnexus.mcp_server.library) ---------------------------------------------------


@resource("test://static-text", mime_type="text/plain", description="A static text resource")
def static_text() -> str:
    return "This is the content of the static text resource."


@resource("test://static-binary", mime_type="image/png", description="A static binary resource (a PNG)")
def static_binary() -> bytes:
    return base64.b64decode(RED_PNG)


@resource("test://template/{id}/data", mime_type="application/json", description="Data for an id",
          complete={"id": lambda prefix: [i for i in ("123", "456") if i.startswith(prefix)]})
def template_data(id: str) -> dict[str, Any]:
    return {"id": id, "templateTest": True, "data": f"Data for ID: {id}"}


@resource("test://watched-resource", mime_type="text/plain", description="A resource to subscribe to")
def watched() -> str:
    return "watched"


@prompt(description="A simple prompt without arguments")
def test_simple_prompt() -> str:
    return "This is a simple prompt for testing."


@prompt(description="A prompt with arguments",
        complete={"arg1": lambda prefix: [v for v in ("paris", "park", "party") if v.startswith(prefix)]})
def test_prompt_with_arguments(arg1: str, arg2: str) -> str:
    return f"Prompt with arguments: arg1='{arg1}', arg2='{arg2}'"


@prompt(description="A prompt with an embedded resource")
def test_prompt_with_embedded_resource(resourceUri: str) -> list[Any]:
    return [EmbeddedResource(uri=resourceUri, mime_type="text/plain", text="Embedded resource content for testing."),
            "Please process the embedded resource above."]


@prompt(description="A prompt with an image")
def test_prompt_with_image() -> list[Any]:
    return [Image(data=RED_PNG, mime_type="image/png"), "Please analyze the image above."]


# -- input-required rounds (2026-07-28, SEP-2322): the same questions, answered on a retried call -------

NAME_SCHEMA: dict[str, Any] = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}


@tool(register=False)
async def test_input_required_result_elicitation() -> str:
    """Asks the user's name (scenarios input-required-result-basic-elicitation and others)."""
    answer = await elicit("What is your name?", NAME_SCHEMA, key="user_name")
    return f"Hello, {(answer.get('content') or {}).get('name')}!"


@tool(register=False)
async def test_input_required_result_sampling() -> str:
    """Asks the client's model (scenario input-required-result-basic-sampling)."""
    return await sample("What is the capital of France?", max_tokens=100, key="capital_question")


@tool(register=False)
async def test_input_required_result_list_roots() -> str:
    """Asks the client's roots (scenario input-required-result-basic-list-roots)."""
    roots = await list_roots(key="client_roots")
    return "Roots: " + ", ".join(root["uri"] for root in roots)


@tool(register=False)
async def test_input_required_result_request_state() -> str:
    """Asks for a confirmation; its answer comes back with the sealed request state
    (scenario input-required-result-request-state: the SDK verified the state before this runs again)."""
    answer = await elicit("Please confirm", {"type": "object", "properties": {"ok": {"type": "boolean"}},
                                             "required": ["ok"]}, key="confirm")
    return f"state-ok: confirmed={(answer.get('content') or {}).get('ok')}"


@tool(register=False)
async def test_input_required_result_multiple_inputs() -> str:
    """Asks three questions at once (scenario input-required-result-multiple-input-requests)."""
    name, greeting, roots = await asyncio.gather(
        elicit("What is your name?", NAME_SCHEMA, key="user_name"),
        sample("Generate a greeting", max_tokens=50, key="greeting"),
        list_roots(key="client_roots"))
    return f"{greeting}, {(name.get('content') or {}).get('name')} ({len(roots)} roots)"


@tool(register=False)
async def test_input_required_result_multi_round() -> str:
    """Asks two questions, one after the other (scenario input-required-result-multi-round)."""
    name = await elicit("Step 1: What is your name?", NAME_SCHEMA, key="step1")
    color = await elicit("Step 2: What is your favorite color?", {
        "type": "object", "properties": {"color": {"type": "string"}}, "required": ["color"]}, key="step2")
    return f"{(name.get('content') or {}).get('name')} likes {(color.get('content') or {}).get('color')}"


@tool(register=False)
async def test_input_required_result_tampered_state() -> str:
    """Asks once; a tampered request state is refused by the SDK (scenario input-required-result-tampered-state)."""
    answer = await elicit("What is your name?", NAME_SCHEMA, key="user_name")
    return f"Hello, {(answer.get('content') or {}).get('name')}!"


@tool(register=False)
async def test_input_required_result_capabilities() -> str:
    """Asks only what the client can answer (scenario input-required-result-capability-check)."""
    asks = []
    if can_ask("sampling"):
        asks.append(sample("Say hello", max_tokens=20, key="greeting"))
    if can_ask("elicitation"):
        asks.append(elicit("What is your name?", NAME_SCHEMA, key="user_name"))
    if can_ask("roots"):
        asks.append(list_roots(key="client_roots"))
    answers = await asyncio.gather(*asks)
    return f"answered {len(answers)} question(s)"


@prompt(description="A prompt that asks the user for its context first")
async def test_input_required_result_prompt() -> str:
    answer = await elicit("What context should the prompt use?", {
        "type": "object", "properties": {"context": {"type": "string"}}, "required": ["context"]}, key="user_context")
    return f"Use this context: {(answer.get('content') or {}).get('context')}"


@tool(register=False)
async def test_missing_capability() -> str:
    """Needs sampling: a client that did not declare it gets -32021 (scenario server-stateless)."""
    return await sample("Say hello", max_tokens=20, key="greeting")


@tool(register=False)
async def test_streaming_elicitation() -> str:
    """Asks the user mid-call: on 2026-07-28 as an input-required result, never a request on the response
    stream (scenario server-stateless)."""
    answer = await elicit("What is your name?", NAME_SCHEMA, key="user_name")
    return f"Hello, {(answer.get('content') or {}).get('name')}!"


# -- json-schema-2020-12 (SEP-1613, SEP-2106): a tool whose input schema uses 2020-12 keywords --------------

JSON_SCHEMA_2020_12: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "$defs": {"address": {"$anchor": "addressDef", "type": "object",
                          "properties": {"street": {"type": "string"}, "city": {"type": "string"}}}},
    "properties": {"name": {"type": "string"}, "address": {"$ref": "#/$defs/address"},
                   "contactMethod": {"type": "string", "enum": ["phone", "email"]},
                   "phone": {"type": "string"}, "email": {"type": "string"}},
    "allOf": [{"anyOf": [{"required": ["phone"]}, {"required": ["email"]}]}],
    "if": {"properties": {"contactMethod": {"const": "phone"}}, "required": ["contactMethod"]},
    "then": {"required": ["phone"]},
    "else": {"required": ["email"]},
    "additionalProperties": False,
}


@tool(register=False, name="json_schema_2020_12_tool")
def json_schema_2020_12_tool(**contact: Any) -> str:
    """Accept a contact described by a JSON Schema 2020-12 input schema (the suite only lists it)."""
    return f"contact {contact.get('name', '')}"


# The schema is the author's, not derived from the signature: the listing must carry it keyword for keyword.
setattr(json_schema_2020_12_tool, SPEC_ATTR,
        spec_of(json_schema_2020_12_tool).model_copy(update={"input_schema": JSON_SCHEMA_2020_12}))  # type: ignore[union-attr]
