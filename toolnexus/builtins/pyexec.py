"""``python.exec``: run a Python snippet in a worker process and return its ``result`` and printed output.

The tool declares ``runtime="process"``: it executes arbitrary code and must never run inside the
caller's process.
"""

from __future__ import annotations

import builtins
import contextlib
import io
import json
from types import TracebackType
from typing import Any

from typing_extensions import TypedDict

from toolnexus.core.errors import ErrorKind, ToolFailure, error_from_exception
from toolnexus.registry.decorator import tool

SNIPPET_FILENAME = "<python.exec>"


class ExecResult(TypedDict):
    """The value the snippet bound to ``result`` (null if none) and what it printed."""

    result: Any
    stdout: str


def _snippet_line(tb: TracebackType | None) -> int | None:
    """The line of the snippet nearest to where the exception was raised."""
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == SNIPPET_FILENAME:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _as_json(value: Any) -> Any:
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise ToolFailure(
            f"`result` must be JSON-compatible (dict, list, str, number, bool or None): {exc}",
            kind=ErrorKind.OUTPUT_INVALID, details={"type": type(value).__name__}) from None


@tool(name="python.exec", version="1.0.0", tier="side_effecting", runtime="process", tags=["python", "code"],
      register=False,
      examples=[{"arguments": {"code": "print('adding')\nresult = sum(inputs['values'])",
                               "inputs": {"values": [1, 2, 3]}},
                 "result": {"result": 6, "stdout": "adding\n"}}])
def exec_python(code: str, inputs: dict[str, Any] = {}) -> ExecResult:  # noqa: B006 - never mutated
    """Run a Python snippet; it reads ``inputs`` and returns by assigning ``result``.

    Args:
        code: Python source to execute; assign the value to return to the name ``result``.
        inputs: Values the snippet reads as the dict ``inputs``.

    Returns:
        The JSON-compatible value bound to ``result`` (null if none) and what the snippet printed.
    """
    try:
        compiled = compile(code, SNIPPET_FILENAME, "exec")
    except SyntaxError as exc:
        raise ToolFailure(f"SyntaxError: {exc.msg} (line {exc.lineno})", kind=ErrorKind.INVALID_ARGUMENTS,
                          details={"exception": "SyntaxError", "line": exc.lineno}) from None
    namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": builtins, "inputs": inputs}
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            exec(compiled, namespace)
    except (Exception, SystemExit) as exc:
        line = _snippet_line(exc.__traceback__)
        where = f" (line {line})" if line is not None else ""
        # Kind, message and retryability (ConnectionError, TimeoutError, ...) as for any tool's exception;
        # a snippet that raises ToolFailure keeps its own kind.
        plain = error_from_exception(exc)
        raise ToolFailure(f"{plain.message}{where}", kind=plain.kind, retryable=plain.retryable,
                          details={**plain.details, "exception": type(exc).__name__, "line": line,
                                   "stdout": printed.getvalue()}) from None
    return {"result": _as_json(namespace.get("result")), "stdout": printed.getvalue()}
