"""toolnexus: run tools as declarative YAML missions, native to Jupyter.

The public API::

    import toolnexus as tn

    @tn.tool
    def greet(name: str) -> str:
        "Say hello."
        return f"hello {name}"

    plan = tn.compile("missions/hello.yaml")
    result = tn.run(plan, {"name": "ada"})
    tn.call("files.read", path="README.md").output

Names are imported on first use (PEP 562), so ``import toolnexus`` stays cheap for worker processes
and short CLI commands.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from toolnexus._deferred import defer_slow_imports

__version__ = "0.1.0"

defer_slow_imports()

_EXPORTS: dict[str, str] = {
    # the Python API
    "Nexus": "toolnexus.api", "acall": "toolnexus.api", "arun": "toolnexus.api", "call": "toolnexus.api",
    "compare_runs": "toolnexus.api", "compile": "toolnexus.api", "default_nexus": "toolnexus.api",
    "run": "toolnexus.api",
    "Settings": "toolnexus.config", "load_settings": "toolnexus.config",
    # the one exception hierarchy
    "ToolnexusError": "toolnexus.errors", "InvalidInput": "toolnexus.errors", "NotFound": "toolnexus.errors",
    "Unavailable": "toolnexus.errors", "SandboxError": "toolnexus.errors", "ToolCallFailed": "toolnexus.errors",
    # core shapes
    "CostModel": "toolnexus.core", "Diagnostic": "toolnexus.core", "DiagnosticError": "toolnexus.core",
    "ErrorKind": "toolnexus.core", "Limits": "toolnexus.core", "RunResult": "toolnexus.core",
    "RunStatus": "toolnexus.core", "SafetyTier": "toolnexus.core", "Lifecycle": "toolnexus.core",
    "StepRecord": "toolnexus.core",
    "StepStatus": "toolnexus.core", "ToolCall": "toolnexus.core", "ToolContext": "toolnexus.core",
    "ToolEntry": "toolnexus.core", "ToolError": "toolnexus.core", "ToolFailure": "toolnexus.core",
    "ToolResult": "toolnexus.core", "ToolSpec": "toolnexus.core", "current_context": "toolnexus.core",
    # engine, missions, registry
    "Engine": "toolnexus.engine", "Invoker": "toolnexus.engine", "RunControl": "toolnexus.engine",
    "LoadedMission": "toolnexus.mission", "Mission": "toolnexus.mission", "Plan": "toolnexus.mission",
    "load_mission": "toolnexus.mission",
    "Registry": "toolnexus.registry", "tool": "toolnexus.registry",
    "SearchHit": "toolnexus.registry.search", "Toolset": "toolnexus.registry.toolsets",
    # what a tool can do during its call: progress, questions to the MCP client, rich results
    "report_progress": "toolnexus.core.context", "sample": "toolnexus.core.context",
    "elicit": "toolnexus.core.context", "list_roots": "toolnexus.core.context", "can_ask": "toolnexus.core.context",
    "Image": "toolnexus.core.content", "Audio": "toolnexus.core.content", "Text": "toolnexus.core.content",
    "EmbeddedResource": "toolnexus.core.content", "Content": "toolnexus.core.content",
    # MCP resources and prompts (the MCP SDK is imported only when these are used)
    "resource": "toolnexus.mcp.library", "prompt": "toolnexus.mcp.library",
    # notebooks
    "browse": "toolnexus.jupyter.browser",
}

__all__ = [
    "Audio",
    "Content",
    "CostModel",
    "Diagnostic",
    "DiagnosticError",
    "EmbeddedResource",
    "Engine",
    "ErrorKind",
    "Image",
    "InvalidInput",
    "Invoker",
    "Lifecycle",
    "Limits",
    "LoadedMission",
    "Mission",
    "NotFound",
    "Nexus",
    "Plan",
    "Registry",
    "RunControl",
    "RunResult",
    "RunStatus",
    "SafetyTier",
    "SandboxError",
    "SearchHit",
    "Settings",
    "StepRecord",
    "StepStatus",
    "Text",
    "ToolCall",
    "ToolCallFailed",
    "ToolContext",
    "ToolEntry",
    "ToolError",
    "ToolFailure",
    "ToolResult",
    "ToolSpec",
    "ToolnexusError",
    "Toolset",
    "Unavailable",
    "__version__",
    "acall",
    "arun",
    "browse",
    "call",
    "can_ask",
    "compare_runs",
    "compile",
    "current_context",
    "default_nexus",
    "elicit",
    "list_roots",
    "load_mission",
    "load_settings",
    "prompt",
    "report_progress",
    "resource",
    "run",
    "sample",
    "tool",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'toolnexus' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:
    from toolnexus.api import Nexus, acall, arun, call, compare_runs, compile, default_nexus, run
    from toolnexus.config import Settings, load_settings
    from toolnexus.core import (
        CostModel,
        Diagnostic,
        DiagnosticError,
        ErrorKind,
        Lifecycle,
        Limits,
        RunResult,
        RunStatus,
        SafetyTier,
        StepRecord,
        StepStatus,
        ToolCall,
        ToolContext,
        ToolEntry,
        ToolError,
        ToolFailure,
        ToolResult,
        ToolSpec,
        current_context,
    )
    from toolnexus.core.content import Audio, Content, EmbeddedResource, Image, Text
    from toolnexus.core.context import can_ask, elicit, list_roots, report_progress, sample
    from toolnexus.engine import Engine, Invoker, RunControl
    from toolnexus.errors import InvalidInput, NotFound, SandboxError, ToolCallFailed, ToolnexusError, Unavailable
    from toolnexus.jupyter.browser import browse
    from toolnexus.mcp.library import prompt, resource
    from toolnexus.mission import LoadedMission, Mission, Plan, load_mission
    from toolnexus.registry import Registry, tool
    from toolnexus.registry.search import SearchHit
    from toolnexus.registry.toolsets import Toolset
