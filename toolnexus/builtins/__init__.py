"""The built-in tools: files, JSON queries, templates, commands, Python snippets and HTTP.

Each is a ``@tool`` function declared with ``register=False``; :func:`builtin_specs` hands their
specs to whoever builds a registry. The modules are imported by :func:`builtin_specs`, not by this
package, so a worker process that runs one built-in (``python.exec``) does not import them all.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from toolnexus.core.spec import ToolSpec
from toolnexus.registry.decorator import spec_of

# module: function names, in the order the tools are listed
BUILTIN_MODULES: dict[str, tuple[str, ...]] = {
    "toolnexus.builtins.files": ("read_file", "write_file", "list_files"),
    "toolnexus.builtins.jsonq": ("query_json",),
    "toolnexus.builtins.text": ("render_text",),
    "toolnexus.builtins.shell": ("run_command",),
    "toolnexus.builtins.pyexec": ("exec_python",),
    "toolnexus.builtins.http": ("fetch",),
}


def builtin_functions() -> list[Callable[..., Any]]:
    """The ``@tool`` functions of every built-in tool."""
    return [getattr(importlib.import_module(module), name)
            for module, names in BUILTIN_MODULES.items() for name in names]


def builtin_specs() -> list[ToolSpec]:
    """The specs of every built-in tool, as fresh copies a registry may keep (each bound to its callable)."""
    specs: list[ToolSpec] = []
    for function in builtin_functions():
        spec = spec_of(function)
        if spec is None:  # pragma: no cover - every function above is a @tool
            raise TypeError(f"{function.__qualname__} is not a @tool function")
        specs.append(spec.model_copy(deep=True).bind(spec.callable))
    return specs


__all__ = ["BUILTIN_MODULES", "builtin_functions", "builtin_specs"]
