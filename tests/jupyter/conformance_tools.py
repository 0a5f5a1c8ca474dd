"""The fixture tools the MCP conformance suite calls by name, as toolnexus ``@tool`` functions.

Loaded only into the conformance test's server (``ToolnexusExtension.tool_modules``); declared with
``register=False`` so importing this module never adds them to any other registry. Each does what the
suite's scenario asks of its fixture in the way a toolnexus tool author would write it: a tool returns
JSON data and reports through the Python ``logging`` module. Fixtures that need what a toolnexus tool
cannot express at all — image, audio or embedded-resource content blocks, sampling or elicitation
requests to the client, input-required results, a dependence on the client's capabilities — are
deliberately absent; their scenarios are expected failures in ``test_conformance.py``, each with its
reason.
"""

from __future__ import annotations

import asyncio
import logging

from toolnexus import tool

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
    """Tests progress notifications: works in three steps (scenario tools-call-with-progress).

    A toolnexus tool has no way to report its own progress; the server reports a call's start and end.
    """
    for _ in range(2):
        await asyncio.sleep(STEP_DELAY)
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
