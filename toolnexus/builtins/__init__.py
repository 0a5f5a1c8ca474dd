"""The built-in tools: files, JSON queries, templates, commands, Python snippets and HTTP.

Each is a ``@tool`` function declared with ``register=False``; :func:`builtin_specs` hands their
specs to whoever builds a registry.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from toolnexus.builtins.files import list_files, read_file, write_file
from toolnexus.builtins.http import fetch
from toolnexus.builtins.jsonq import query_json
from toolnexus.builtins.pyexec import exec_python
from toolnexus.builtins.shell import run_command
from toolnexus.builtins.text import render_text
from toolnexus.core.spec import ToolSpec
from toolnexus.registry.decorator import spec_of

BUILTIN_FUNCTIONS: tuple[Callable[..., Any], ...] = (
    read_file, write_file, list_files, query_json, render_text, run_command, exec_python, fetch,
)


def builtin_specs() -> list[ToolSpec]:
    """The specs of every built-in tool, as fresh copies a registry may keep (each bound to its callable)."""
    specs: list[ToolSpec] = []
    for function in BUILTIN_FUNCTIONS:
        spec = spec_of(function)
        if spec is None:  # pragma: no cover - every function above is a @tool
            raise TypeError(f"{function.__qualname__} is not a @tool function")
        specs.append(spec.model_copy(deep=True).bind(spec.callable))
    return specs


__all__ = [
    "BUILTIN_FUNCTIONS", "builtin_specs", "exec_python", "fetch", "list_files", "query_json", "read_file",
    "render_text", "run_command", "write_file",
]
