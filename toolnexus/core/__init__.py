"""Layer 1: the shapes every other layer speaks — pydantic models and protocols, no I/O."""

from toolnexus.core.call import ToolCall, ToolCallError, ToolResult
from toolnexus.core.context import ToolContext, current_context, reset_context, use_context
from toolnexus.core.diagnostics import Diagnostic, DiagnosticError, did_you_mean
from toolnexus.core.errors import ErrorKind, ToolError, ToolFailure, error_from_exception
from toolnexus.core.events import (
    CallFinished,
    CallStarted,
    Event,
    EventSink,
    RunFinished,
    RunStarted,
    StepFinished,
    StepRetrying,
    StepStarted,
)
from toolnexus.core.ids import new_id
from toolnexus.core.run import RunResult, RunStatus, StepRecord, StepStatus
from toolnexus.core.runtime import Runtime, RuntimeOutcome
from toolnexus.core.spec import CostModel, Lifecycle, Limits, Mount, SafetyTier, ToolEntry, ToolExample, ToolSpec
from toolnexus.core.units import Duration, Size, parse_duration, parse_size

__all__ = [
    "CallFinished",
    "CallStarted",
    "CostModel",
    "Diagnostic",
    "DiagnosticError",
    "Duration",
    "ErrorKind",
    "Event",
    "EventSink",
    "Lifecycle",
    "Limits",
    "Mount",
    "RunFinished",
    "RunResult",
    "RunStarted",
    "RunStatus",
    "Runtime",
    "RuntimeOutcome",
    "SafetyTier",
    "Size",
    "StepFinished",
    "StepRecord",
    "StepRetrying",
    "StepStarted",
    "StepStatus",
    "ToolCall",
    "ToolCallError",
    "ToolContext",
    "ToolEntry",
    "ToolError",
    "ToolExample",
    "ToolFailure",
    "ToolResult",
    "ToolSpec",
    "current_context",
    "did_you_mean",
    "error_from_exception",
    "new_id",
    "parse_duration",
    "parse_size",
    "reset_context",
    "use_context",
]
