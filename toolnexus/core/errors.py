"""Errors as data: :class:`ToolError` travels end to end; :class:`ToolFailure` lets tool code raise one."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from toolnexus.errors import ToolCallFailed


class ErrorKind(StrEnum):
    """What went wrong, coarse enough for a policy or a retry rule to act on."""

    INVALID_ARGUMENTS = "invalid_arguments"
    TOOL_ERROR = "tool_error"
    TIMEOUT = "timeout"
    CANCELLED = "cancelled"
    BUDGET_EXCEEDED = "budget_exceeded"
    DENIED = "denied"
    APPROVAL_EXPIRED = "approval_expired"  # the call waited for an approval nobody gave before its deadline
    NOT_FOUND = "not_found"
    RUNTIME_ERROR = "runtime_error"
    OUTPUT_INVALID = "output_invalid"
    LIMIT_EXCEEDED = "limit_exceeded"
    NETWORK = "network"
    EXPRESSION = "expression"
    DEPENDENCY = "dependency"


class ToolError(BaseModel):
    """A failed tool call, as a value: what kind, what happened, whether trying again may help."""

    model_config = ConfigDict(frozen=True)

    kind: ErrorKind
    message: str
    retryable: bool = False
    details: dict[str, Any] = Field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.kind.value}: {self.message}"


# Exceptions whose nature says "the world was briefly unavailable": a retry may succeed.
_TRANSIENT = (ConnectionError, TimeoutError, BlockingIOError, InterruptedError)


class ToolFailure(ToolCallFailed):
    """Raise from a tool to fail with a structured :class:`ToolError` rather than a bare exception."""

    def __init__(
        self,
        message: str,
        *,
        kind: ErrorKind | str = ErrorKind.TOOL_ERROR,
        retryable: bool = False,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.error = ToolError(kind=ErrorKind(kind), message=message, retryable=retryable, details=details or {})


def error_from_exception(exc: BaseException) -> ToolError:
    """Turn an exception raised by tool code into a :class:`ToolError` with no traceback in its message."""
    if isinstance(exc, ToolFailure):
        return exc.error
    if isinstance(exc, ValidationError):
        # Raised when a tool's typed parameters reject the arguments: the caller can fix them.
        problems = [
            {"path": "/" + "/".join(str(p) for p in e["loc"]), "message": e["msg"]}
            for e in exc.errors(include_url=False)
        ]
        first = problems[0] if problems else {"path": "/", "message": str(exc)}
        return ToolError(
            kind=ErrorKind.INVALID_ARGUMENTS,
            message=f"invalid arguments at {first['path']}: {first['message']}",
            details={"errors": problems},
        )
    return ToolError(
        kind=ErrorKind.TOOL_ERROR,
        message=f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__,
        retryable=isinstance(exc, _TRANSIENT),
        details={"exception": type(exc).__name__},
    )
