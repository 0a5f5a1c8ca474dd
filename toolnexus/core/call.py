"""A request to run a tool and what came back."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from toolnexus.core.caller import Caller
from toolnexus.core.errors import ToolError
from toolnexus.core.ids import new_id
from toolnexus.core.spec import Limits
from toolnexus.errors import ToolCallFailed


class ToolCall(BaseModel):
    """One call of one tool, wherever it came from (a mission step, Python, the CLI, MCP)."""

    id: str = Field(default_factory=lambda: new_id("call-"))
    tool: str
    version: str | None = None
    arguments: dict[str, Any] = Field(default_factory=dict)
    run_id: str | None = None
    step_id: str | None = None
    attempt: int = 1
    limits: Limits | None = None
    runtime: str | None = None
    origin: str = "python"
    # Who calls (None: not told — the gate then sees the process's own user) and the id that follows the call
    # through retries, sub-calls, events, the store, MLflow and the audit (None: the call's own id).
    caller: Caller | None = None
    correlation_id: str | None = None

    @property
    def correlation(self) -> str:
        """The id that ties this call to its retries, sub-calls and records: its correlation id, or its own id."""
        return self.correlation_id or self.id


class ToolResult(BaseModel):
    """The outcome of a call: an output or a :class:`ToolError`, never an exception."""

    call_id: str
    tool: str
    version: str
    output: Any = None
    error: ToolError | None = None
    cost: float = 0.0
    currency: str = "USD"
    duration: float = 0.0
    runtime: str = ""
    stderr: str | None = None
    warnings: list[str] = Field(default_factory=list)
    """What the gate told the caller of this allowed call: a warn-mode rule, a deprecated tool (scrubbed)."""

    @property
    def ok(self) -> bool:
        """Whether the call succeeded, i.e. ``output`` holds its result and ``error`` is None."""
        return self.error is None

    def unwrap(self) -> Any:
        """The output, or raise :class:`ToolCallError` carrying the error."""
        if self.error is not None:
            raise ToolCallError(self.error)
        return self.output


class ToolCallError(ToolCallFailed):
    """Raised by :meth:`ToolResult.unwrap` for callers who prefer exceptions to values."""

    def __init__(self, error: ToolError) -> None:
        self.error = error
        super().__init__(str(error))
