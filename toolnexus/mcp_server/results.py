"""Tool and mission outcomes as MCP ``CallToolResult``\\ s: structured content plus a text block, or the
content blocks (images, audio, embedded resources) of a tool that returns :mod:`toolnexus.core.content`.

Failures are results with ``isError: true`` and the :class:`ToolError` as data, so an agent can read
what went wrong and correct its call; only protocol mistakes (an unknown tool) are JSON-RPC errors.
"""

from __future__ import annotations

import json
from typing import Any

import mcp_types as types
from pydantic import ValidationError

from toolnexus.core.call import ToolResult
from toolnexus.core.content import Content, is_content, parse_content
from toolnexus.core.errors import ErrorKind, ToolError
from toolnexus.core.run import RunResult
from toolnexus.mcp_server.library import block_content


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)


def structured(output: Any) -> dict[str, Any]:
    """Structured content is always an object: a dict as it is, anything else under ``result``."""
    return output if isinstance(output, dict) else {"result": output}


def error_result(error: ToolError, meta: dict[str, Any] | None = None) -> types.CallToolResult:
    """``error`` as an ``isError`` result: the message as text, the whole error as structured content."""
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=str(error))],
        structured_content={"error": error.model_dump(mode="json")},
        is_error=True,
        _meta=meta or None,
    )


def output_result(output: Any) -> types.CallToolResult:
    """A successful output (of a meta-tool) as a result."""
    return types.CallToolResult(content=[types.TextContent(type="text", text=_text(output))],
                                structured_content=structured(output), is_error=False)


def content_blocks(content: Content) -> list[types.ContentBlock]:
    """toolnexus content blocks as MCP content blocks."""
    return [block_content(block) for block in content.blocks]


def content_result(output: dict[str, Any], meta: dict[str, Any] | None = None) -> types.CallToolResult:
    """A rich output (:mod:`toolnexus.core.content`, in its JSON form) as content blocks.

    The blocks are the result; ``Content.data``, when given, is its ``structuredContent`` (with a text block
    of it appended when no text block says anything, so clients that read text only still get it).
    """
    try:
        content = parse_content(output)
    except (ValueError, ValidationError) as exc:
        return error_result(ToolError(kind=ErrorKind.OUTPUT_INVALID,
                                      message=f"the tool returned malformed content: {exc}".splitlines()[0]), meta)
    blocks = content_blocks(content)
    if content.data is not None and not any(isinstance(b, types.TextContent) for b in blocks):
        blocks.append(types.TextContent(type="text", text=_text(content.data)))
    return types.CallToolResult(content=blocks, structured_content=content.data, is_error=False, _meta=meta or None)


def call_result(result: ToolResult, warnings: list[str] | None = None) -> types.CallToolResult:
    """A tool call's :class:`ToolResult` for MCP (``warnings``: what the gate told the caller, in ``_meta``)."""
    meta: dict[str, Any] = {"toolnexus/call_id": result.call_id, "toolnexus/version": result.version,
                            "toolnexus/runtime": result.runtime}
    if warnings:
        meta["toolnexus/warnings"] = list(warnings)
    if result.error is not None:
        return error_result(result.error, meta)
    if is_content(result.output):
        return content_result(result.output, meta)
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=_text(result.output))],
        structured_content=structured(result.output),
        is_error=False,
        _meta=meta,
    )


def run_result(result: RunResult) -> types.CallToolResult:
    """A mission run for MCP: its outputs when it succeeded, the failing step's error otherwise."""
    meta = {"toolnexus/run_id": result.run_id, "toolnexus/status": result.status.value}
    if result.ok:
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=_text(result.outputs))],
            structured_content=dict(result.outputs),
            is_error=False,
            _meta=meta,
        )
    failed = result.failed_steps()
    error = result.error or (failed[0].error if failed and failed[0].error else None) or ToolError(
        kind=ErrorKind.CANCELLED if result.status.value == "cancelled" else ErrorKind.TOOL_ERROR,
        message=f"the run {result.status.value}")
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=result.summary())],
        structured_content={"error": error.model_dump(mode="json"), "run_id": result.run_id,
                            "status": result.status.value},
        is_error=True,
        _meta=meta,
    )
