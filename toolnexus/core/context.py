"""The context a tool runs in: its workspace and the settings that scope built-in tools.

Runtimes set it around each call (in-process through a ContextVar, worker processes from the call
message), so a tool reads ``current_context()`` instead of global configuration.
"""

from __future__ import annotations

from contextvars import ContextVar
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

DEFAULT_SHELL_ALLOW = (
    "echo",
    "cat",
    "ls",
    "wc",
    "head",
    "tail",
    "sort",
    "uniq",
    "grep",
    "cut",
    "tr",
    "date",
    "true",
    "false",
    "sleep",
    "basename",
    "dirname",
    "printf",
)


class ToolContext(BaseModel):
    """Where a call may read and write, and what network and programs it may reach."""

    workspace: str = Field(default_factory=lambda: str(Path.cwd()))
    shell_allow: list[str] = Field(default_factory=lambda: list(DEFAULT_SHELL_ALLOW))
    http_allow_private: bool = False
    http_allow_hosts: list[str] = Field(default_factory=list)
    run_id: str | None = None
    step_id: str | None = None
    extra: dict[str, Any] = Field(default_factory=dict)

    @property
    def root(self) -> Path:
        return Path(self.workspace).resolve()


_current: ContextVar[ToolContext | None] = ContextVar("toolnexus_tool_context", default=None)


def current_context() -> ToolContext:
    """The context of the call being run (a default one, rooted at the working directory, outside a call)."""
    ctx = _current.get()
    return ctx if ctx is not None else ToolContext()


def use_context(ctx: ToolContext) -> Any:
    """Make ``ctx`` current; returns a token for :func:`reset_context`."""
    return _current.set(ctx)


def reset_context(token: Any) -> None:
    _current.reset(token)
