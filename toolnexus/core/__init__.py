"""Layer 1: the shapes every other layer speaks — pydantic models and protocols, no I/O.

Names are imported on first use (PEP 562): a module that needs one shape (the CLI's ``--help``, a worker) does
not pay for building every pydantic model of the layer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from toolnexus._deferred import lazy_package

__all__, __getattr__, __dir__ = lazy_package(__name__, __file__)


# The layer's public names, imported lazily at run time; add one here, and only here (``X as X`` marks an explicit
# re-export for type checkers).
if TYPE_CHECKING:
    from toolnexus.core.call import (
        ToolCall as ToolCall,
        ToolCallError as ToolCallError,
        ToolResult as ToolResult,
    )
    from toolnexus.core.context import (
        ToolContext as ToolContext,
        current_context as current_context,
        reset_context as reset_context,
        use_context as use_context,
    )
    from toolnexus.core.diagnostics import (
        Diagnostic as Diagnostic,
        DiagnosticError as DiagnosticError,
        did_you_mean as did_you_mean,
    )
    from toolnexus.core.errors import (
        ErrorKind as ErrorKind,
        ToolError as ToolError,
        ToolFailure as ToolFailure,
        error_from_exception as error_from_exception,
    )
    from toolnexus.core.events import (
        CallFinished as CallFinished,
        CallStarted as CallStarted,
        Event as Event,
        EventSink as EventSink,
        RunFinished as RunFinished,
        RunStarted as RunStarted,
        StepFinished as StepFinished,
        StepRetrying as StepRetrying,
        StepStarted as StepStarted,
    )
    from toolnexus.core.ids import (
        new_id as new_id,
    )
    from toolnexus.core.run import (
        RunResult as RunResult,
        RunStatus as RunStatus,
        StepRecord as StepRecord,
        StepStatus as StepStatus,
    )
    from toolnexus.core.runtime import (
        Runtime as Runtime,
        RuntimeOutcome as RuntimeOutcome,
    )
    from toolnexus.core.spec import (
        CostModel as CostModel,
        Lifecycle as Lifecycle,
        Limits as Limits,
        Mount as Mount,
        SafetyTier as SafetyTier,
        ToolEntry as ToolEntry,
        ToolExample as ToolExample,
        ToolSpec as ToolSpec,
    )
    from toolnexus.core.units import (
        Duration as Duration,
        Size as Size,
        parse_duration as parse_duration,
        parse_size as parse_size,
    )
