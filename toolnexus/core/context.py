"""The context a tool runs in: its workspace and the settings that scope built-in tools, and its caller.

Runtimes set it around each call (in-process through a ContextVar, worker processes from the call
message), so a tool reads ``current_context()`` instead of global configuration. The caller (an MCP
client, say) sets a :class:`CallChannel` the same way, through which a tool reports progress
(:func:`report_progress`), and — when the caller can — asks its model or user (:func:`sample`,
:func:`elicit`); log records a tool emits reach the caller through it too.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from toolnexus.core.errors import ErrorKind, ToolFailure

if TYPE_CHECKING:
    from toolnexus.core.call import ToolCall
    from toolnexus.core.spec import ToolSpec

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
    # When we run as root: the unprivileged user sandboxed commands run as (None: nobody).
    sandbox_user: str | None = None
    run_id: str | None = None
    step_id: str | None = None
    extra: dict[str, Any] = Field(default_factory=dict)

    @property
    def root(self) -> Path:
        """The workspace as an absolute, symlink-resolved path: what a tool's file paths are confined to."""
        return Path(self.workspace).resolve()

    # The caller's channel, for tools that take their context as an object (``ctx = current_context()``).
    def report_progress(self, progress: float, total: float | None = None, message: str | None = None) -> None:
        """See :func:`report_progress`."""
        report_progress(progress, total, message)

    async def sample(self, prompt: str | list[dict[str, Any]], **options: Any) -> str:
        """See :func:`sample`."""
        return await sample(prompt, **options)

    async def elicit(self, message: str, schema: dict[str, Any], *, key: str | None = None) -> dict[str, Any]:
        """See :func:`elicit`."""
        return await elicit(message, schema, key=key)


_current: ContextVar[ToolContext | None] = ContextVar("toolnexus_tool_context", default=None)


def current_context() -> ToolContext:
    """The context of the call being run (a default one, rooted at the working directory, outside a call)."""
    ctx = _current.get()
    return ctx if ctx is not None else ToolContext()


def use_context(ctx: ToolContext) -> Any:
    """Make ``ctx`` current; returns a token for :func:`reset_context`."""
    return _current.set(ctx)


def reset_context(token: Any) -> None:
    """Make the context that was current before :func:`use_context` returned ``token`` current again."""
    _current.reset(token)


# -- the caller's channel: progress, logs and questions a running tool sends back to whoever called it -----


class CallChannel:
    """What a call's caller (an MCP client, a mission run) lets a running tool send back to it.

    The caller sets one around the call (:func:`use_channel`); sync tools run in a worker thread with a
    copy of the context, so every method here must be safe to call from any thread. The base class
    accepts nothing: progress and logs are dropped, questions are refused.
    """

    #: Whether the caller wants progress, and the lowest log level it wants records at (None: no logs) —
    #: what a worker process is told, so it sends back only what is wanted.
    wants_progress: bool = False
    log_level: int | None = None

    def for_call(self, call: ToolCall, spec: ToolSpec) -> CallChannel:
        """The channel one call of a run (a mission step) reports through, while the run's caller waits.

        This one, unless the caller tells a run's calls apart: an MCP client that called a mission gets
        each step's progress as a share of the run's (see ``toolnexus.mcp.run_channel``).
        """
        return self

    def progress(self, progress: float, total: float | None = None, message: str | None = None) -> None:
        """Record that the call got ``progress`` (of ``total``) done."""

    def log(self, record: logging.LogRecord) -> None:
        """Pass on a log record emitted while the call runs."""

    def can(self, capability: str) -> bool:
        """Whether the caller can serve ``sampling``, ``elicitation`` or ``roots`` requests."""
        return False

    async def sample(self, messages: list[dict[str, Any]], max_tokens: int, *, key: str | None = None,
                     **options: Any) -> dict[str, Any]:
        """Ask the caller's model for a completion (MCP ``sampling/createMessage``)."""
        raise ToolFailure(_no_caller("sample a model (sampling)"), kind=ErrorKind.RUNTIME_ERROR,
                          details={"capability": "sampling"})

    async def elicit(self, message: str, schema: dict[str, Any], *, key: str | None = None) -> dict[str, Any]:
        """Ask the caller's user for input matching ``schema`` (MCP ``elicitation/create``)."""
        raise ToolFailure(_no_caller("ask its user (elicitation)"), kind=ErrorKind.RUNTIME_ERROR,
                          details={"capability": "elicitation"})

    async def list_roots(self, *, key: str | None = None) -> dict[str, Any]:
        """Ask the caller for its roots (MCP ``roots/list``)."""
        raise ToolFailure(_no_caller("list the client's roots"), kind=ErrorKind.RUNTIME_ERROR,
                          details={"capability": "roots"})


def _no_caller(what: str) -> str:
    return (f"this call cannot {what}: it did not come from an MCP client that declared that capability "
            "(tools called from missions, notebooks or the CLI have no one to ask)")


_channel: ContextVar[CallChannel | None] = ContextVar("toolnexus_call_channel", default=None)


def current_channel() -> CallChannel:
    """The channel of the call being run (one that accepts nothing outside a call)."""
    return _channel.get() or CallChannel()


def channel_for(call: ToolCall, spec: ToolSpec) -> CallChannel | None:
    """The channel a run's ``call`` should have instead of the current one; None to keep the current one."""
    channel = _channel.get()
    if channel is None:
        return None
    scoped = channel.for_call(call, spec)
    return None if scoped is channel else scoped


def use_channel(channel: CallChannel) -> Any:
    """Make ``channel`` the current call's channel; returns a token for :func:`reset_channel`."""
    return _channel.set(channel)


def reset_channel(token: Any) -> None:
    """Make the channel that was current before :func:`use_channel` returned ``token`` current again."""
    _channel.reset(token)


def report_progress(progress: float, total: float | None = None, message: str | None = None) -> None:
    """Report how far the running tool has got: ``progress`` of ``total`` (if known), with a short message.

    Call it from a tool, sync or async, as often as you like: an MCP client that asked for progress gets
    a notification (values that do not advance are skipped, as the protocol wants them increasing);
    outside a call, or when nobody asked, it does nothing.
    """
    current_channel().progress(float(progress), None if total is None else float(total), message)


async def sample(prompt: str | list[dict[str, Any]], *, max_tokens: int = 1000, key: str | None = None,
                 **options: Any) -> str:
    """Ask the calling MCP client's model: ``prompt`` (a user message, or MCP sampling messages) → the reply text.

    On a stateless MCP request (2026-07-28) the question goes back to the client in an input-required
    result and the call is run again with the answer: ``key`` names the question (default: its order in
    the call), so a tool must ask the same questions in the same order when run again.
    ``options`` are further ``sampling/createMessage`` parameters (``systemPrompt``, ``temperature``, …).
    Raises ``ToolFailure`` (a clear ``ToolError`` for the caller) when the call did not come from a
    client that can sample.
    """
    messages = [{"role": "user", "content": {"type": "text", "text": prompt}}] if isinstance(prompt, str) else prompt
    reply = await current_channel().sample(messages, max_tokens, key=key, **options)
    content = reply.get("content")
    if isinstance(content, list):
        return "".join(c.get("text", "") for c in content if isinstance(c, dict))
    return str(content.get("text", "")) if isinstance(content, dict) else ""


async def elicit(message: str, schema: dict[str, Any], *, key: str | None = None) -> dict[str, Any]:
    """Ask the calling MCP client's user for input: ``{"action": "accept"|"decline"|"cancel", "content": {...}}``.

    ``schema`` is a flat JSON object schema (the form the client shows). Raises ``ToolFailure``
    when the call did not come from a client that can elicit.
    """
    return await current_channel().elicit(message, schema, key=key)


async def list_roots(*, key: str | None = None) -> list[dict[str, Any]]:
    """The calling MCP client's roots (``[{"uri": "file:///…", "name": …}]``); a ``ToolFailure`` without one."""
    return list((await current_channel().list_roots(key=key)).get("roots", []))


def can_ask(capability: str) -> bool:
    """Whether the call's caller can serve ``sampling``, ``elicitation`` or ``roots`` requests."""
    return current_channel().can(capability)
