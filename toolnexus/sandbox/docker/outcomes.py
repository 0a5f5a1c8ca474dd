"""What a container's answer means: a worker's reply, a worker container's death, a direct command's exit."""

from __future__ import annotations

import json
from typing import Any

from toolnexus.core.errors import ErrorKind, ToolError
from toolnexus.core.runtime import RuntimeOutcome


def worker_outcome(response: dict[str, Any]) -> RuntimeOutcome:
    """The outcome a worker's reply says: the tool's output, or its error."""
    if response.get("ok"):
        return RuntimeOutcome(output=response.get("output"), stderr=response.get("stderr"))
    return RuntimeOutcome(error=ToolError.model_validate(response["error"]), stderr=response.get("stderr"))


def died_outcome(state: dict[str, Any] | None, stderr: str) -> RuntimeOutcome:
    """A worker container that ended mid-call: killed for its memory, or died (exit code, stderr tail)."""
    if state and state.get("OOMKilled"):
        error = ToolError(
            kind=ErrorKind.LIMIT_EXCEEDED, message="the container was killed for using more memory than its limit"
        )
    else:
        code = (state or {}).get("ExitCode")
        error = ToolError(
            kind=ErrorKind.RUNTIME_ERROR,
            retryable=True,
            message=f"the container's worker died (exit {code})" + (f": {stderr}" if stderr else ""),
        )
    return RuntimeOutcome(error=error, stderr=stderr or None)


def direct_outcome(
    out: bytes, state: dict[str, Any] | None, stderr: str, *, over: bool, cap: int, memory: int
) -> RuntimeOutcome:
    """A direct container's result: its stdout as JSON, unless it printed over ``cap`` bytes, went over its
    ``memory`` limit or exited non-zero (``state`` is the engine's view of it once it ended)."""
    if over:
        return RuntimeOutcome(
            error=ToolError(kind=ErrorKind.LIMIT_EXCEEDED, message=f"output over the {cap}-byte cap"), stderr=stderr
        )
    code = int((state or {}).get("ExitCode", -1))
    if (state or {}).get("OOMKilled"):
        return RuntimeOutcome(
            error=ToolError(
                kind=ErrorKind.LIMIT_EXCEEDED,
                message=f"the container was killed for using more than its {memory}-byte memory limit",
            ),
            stderr=stderr,
        )
    if code != 0:
        tail = stderr.strip().splitlines()[-5:]
        return RuntimeOutcome(
            error=ToolError(
                kind=ErrorKind.TOOL_ERROR,
                details={"exit_code": code},
                message=f"command exited with status {code}" + (": " + " | ".join(tail) if tail else ""),
            ),
            stderr=stderr,
        )
    return _json_output(out, stderr)


def _json_output(out: bytes, stderr: str) -> RuntimeOutcome:
    text = out.decode("utf-8", "replace").strip()
    try:
        return RuntimeOutcome(output=json.loads(text) if text else None, stderr=stderr or None)
    except json.JSONDecodeError as exc:
        return RuntimeOutcome(
            error=ToolError(
                kind=ErrorKind.OUTPUT_INVALID,
                message=f"command printed no valid JSON on stdout ({exc.msg} at char {exc.pos})",
            ),
            stderr=stderr,
        )
