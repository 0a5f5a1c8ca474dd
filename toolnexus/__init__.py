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
"""

from toolnexus.api import Nexus, acall, arun, call, compare_runs, compile, default_nexus, run
from toolnexus.config import Settings, load_settings
from toolnexus.core import (
    CostModel,
    Diagnostic,
    DiagnosticError,
    ErrorKind,
    Limits,
    RunResult,
    RunStatus,
    SafetyTier,
    StepRecord,
    StepStatus,
    ToolCall,
    ToolContext,
    ToolError,
    ToolFailure,
    ToolResult,
    ToolSpec,
    current_context,
)
from toolnexus.engine import Engine, Invoker, RunControl
from toolnexus.mission import LoadedMission, Mission, Plan, load_mission
from toolnexus.registry import Registry, tool

__version__ = "0.1.0"

__all__ = [
    "CostModel", "Diagnostic", "DiagnosticError", "Engine", "ErrorKind", "Invoker", "Limits", "LoadedMission",
    "Mission", "Nexus", "Plan", "Registry", "RunControl", "RunResult", "RunStatus", "SafetyTier", "Settings",
    "StepRecord", "StepStatus", "ToolCall", "ToolContext", "ToolError", "ToolFailure", "ToolResult", "ToolSpec",
    "__version__", "acall", "arun", "call", "compare_runs", "compile", "current_context", "default_nexus", "load_mission",
    "load_settings", "run", "tool",
]
