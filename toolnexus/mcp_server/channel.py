"""What a running tool sends back to the MCP client that called it: progress, log records, questions.

:class:`McpChannel` is the :class:`~toolnexus.core.context.CallChannel` the server sets around a
``tools/call``. Progress and log records may come from any thread (a sync tool runs in a worker thread
with a copy of the context): they are queued and sent, in order, by a task on the server's loop, before
the call's result goes out. That task is started by the first thing queued: a call that reports nothing
(most calls) costs no task at all. Questions (sampling, elicitation, roots) need the client to have declared
the capability: on a 2025-11-25 session they are server-to-client requests made mid-call; a stateless
2026-07-28 request cannot carry those, so the call ends with an ``InputRequiredResult`` (SEP-2322)
listing its questions, and runs again when the client retries with the answers (earlier rounds' answers
ride in the request state, which the SDK's ``RequestStateBoundary`` seals and verifies).

Log records reach the channel through :class:`ForwardLogs`, a handler on the root logger, so a tool logs
with the standard ``logging`` module. A module logger left at its default level inherits the
application's threshold (WARNING by default), which would drop ``log.info`` before any handler sees it;
:func:`open_tool_logger` lowers such a logger to DEBUG and adds a filter that keeps the records below the
application's threshold for the MCP client alone, so what the application's own handlers show is unchanged.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import threading
from collections import deque
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import Any, ClassVar, Literal, cast, get_args

import anyio
import mcp_types as types
from mcp.server.connection import allowed_log_levels
from mcp.server.context import ServerRequestContext
from mcp.shared.exceptions import MCPError
from mcp.shared.message import ServerMessageMetadata
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from toolnexus.core.context import CallChannel, _channel
from toolnexus.core.errors import ErrorKind, ToolFailure
from toolnexus.core.spec import ToolSpec
from toolnexus.engine.invoke import WARNING_ATTR

McpLevel = Literal["debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"]
MCP_LEVELS: tuple[str, ...] = get_args(types.LoggingLevel)
# MCP's RFC 5424 levels on Python's numeric scale (notice, alert and emergency have no Python name).
PYTHON_LEVEL: dict[str, int] = {"debug": 10, "info": 20, "notice": 25, "warning": 30, "error": 40, "critical": 50,
                                "alert": 60, "emergency": 70}
DEFAULT_LEVEL = "warning"  # before a 2025-11-25 client calls logging/setLevel


def mcp_level(levelno: int) -> str:
    """The MCP level of a Python record level (the most severe MCP level at or below it)."""
    name = "debug"
    for candidate, number in PYTHON_LEVEL.items():
        if levelno >= number:
            name = candidate
    return name


def request_threshold(ctx: ServerRequestContext[Any, Any], connection_level: str | None) -> int | None:
    """The lowest Python level this request's client wants logs at, or None for no logs.

    2026-07-28: the request's ``_meta`` log level (absent: none); 2025-11-25: the connection's
    ``logging/setLevel`` (not set: :data:`DEFAULT_LEVEL`).
    """
    allowed = allowed_log_levels(ctx.session.protocol_version, ctx.meta)  # type: ignore[arg-type]
    if len(allowed) == len(MCP_LEVELS):  # handshake era: the application filters, by setLevel
        return PYTHON_LEVEL[connection_level or DEFAULT_LEVEL]
    if not allowed:
        return None
    return min(PYTHON_LEVEL[level] for level in allowed)


class McpChannel(CallChannel):
    """One ``tools/call``'s way back to its client (see the module docstring)."""

    def __init__(self, ctx: ServerRequestContext[Any, Any], *, progress: bool, log_threshold: int | None,
                 answers: dict[str, Any] | None = None) -> None:
        self.ctx = ctx
        # Stateless requests (2026-07-28) cannot carry server-to-client requests: a question becomes an input
        # request of an InputRequiredResult, and the call runs again with the client's answers (``answers``).
        self.stateless = ctx.session.protocol_version in MODERN_PROTOCOL_VERSIONS
        self.answers = dict(answers or {})
        self.pending: dict[str, dict[str, Any]] = {}
        self.missing: str | None = None  # a capability the tool needed and the client did not declare
        self._asked = 0
        self.wants_progress = progress
        self.log_threshold = self.log_level = log_threshold
        self.reported = False  # the tool reported progress itself
        self.warnings: list[str] = []  # the governance warnings of the call (a warn-mode rule, a deprecated tool)
        self._last: float | None = None
        self._loop = asyncio.get_running_loop()
        self._thread = threading.get_ident()
        self._jobs: deque[Callable[[], Awaitable[None]]] = deque()
        self._sender: asyncio.Task[None] | None = None
        self._closed = False
        # The sender runs in the context of the call's start, before the channel is set in it: what sending
        # logs must not come back to this channel.
        self._context = contextvars.copy_context()

    # -- queued from any thread ---------------------------------------------------------------------

    def _queue(self, job: Callable[[], Awaitable[None]]) -> None:
        if threading.get_ident() == self._thread:
            self._put(job)
        else:
            with suppress(RuntimeError):  # the loop has closed: the client is gone
                self._loop.call_soon_threadsafe(self._put, job)

    def _put(self, job: Callable[[], Awaitable[None]]) -> None:
        if self._closed:
            return
        self._jobs.append(job)
        if self._sender is None:
            self._sender = self._loop.create_task(self._send_queued(), context=self._context)

    async def _send_queued(self) -> None:
        jobs = self._jobs
        while jobs:
            job = jobs.popleft()
            with suppress(anyio.ClosedResourceError, anyio.BrokenResourceError):  # the client has gone
                await job()
        self._sender = None

    def progress(self, progress: float, total: float | None = None, message: str | None = None) -> None:
        """Send a progress notification, if the client asked for progress."""
        if not self.wants_progress:
            return
        self.reported = True
        # The protocol wants progress to increase with every notification: drop a value that does not.
        if self._last is not None and progress <= self._last:
            return
        self._last = progress
        self._queue(lambda: self.ctx.session.report_progress(progress, total, message))

    def start(self, message: str) -> None:
        """The server's own 0/1 at the start of a call."""
        self.progress(0.0, 1.0, message)
        self.reported = False

    def log(self, record: logging.LogRecord) -> None:
        """Forward a log record to the client, if at or above its level (a governance warning is also kept for
        the result's ``_meta``, which a client that asked for no logs still reads)."""
        warning = getattr(record, WARNING_ATTR, None)
        if isinstance(warning, str):
            self.warnings.append(warning)
        if self.log_threshold is None or record.levelno < self.log_threshold:
            return
        try:
            text = record.getMessage()
        except Exception:  # a record whose arguments do not fit its format: send the format
            text = str(record.msg)
        notification = types.LoggingMessageNotification(params=types.LoggingMessageNotificationParams(
            level=cast(types.LoggingLevel, mcp_level(record.levelno)), data=text, logger=record.name))
        self._queue(lambda: self.ctx.session.send_notification(notification, related_request_id=self.ctx.request_id))

    async def flush(self) -> None:
        """Send what is queued, then take nothing more: the call's result may go out after this."""
        self._closed = True
        sender = self._sender
        if sender is not None:
            await sender  # cancelling the call cancels the sending too

    def abort(self) -> None:
        """The call ended without a result (cancelled, failed): drop what was queued."""
        self._closed = True
        self._jobs.clear()
        if self._sender is not None:
            self._sender.cancel()

    # -- requests to the client -----------------------------------------------------------------------

    _CAPABILITIES: ClassVar[dict[str, types.ClientCapabilities]] = {
        "sampling": types.ClientCapabilities(sampling=types.SamplingCapability()),
        "elicitation": types.ClientCapabilities(elicitation=types.ElicitationCapability()),
        "roots": types.ClientCapabilities(roots=types.RootsCapability()),
    }

    def can(self, capability: str) -> bool:
        """Whether the client can be asked this (``sampling``, ``elicitation``, ``roots``)."""
        wanted = self._CAPABILITIES.get(capability)
        return wanted is not None and self.ctx.session.check_client_capability(wanted)

    async def _ask(self, capability: str, key: str | None, request: types.ServerRequest,
                   result_type: type[Any]) -> dict[str, Any]:
        if not self.can(capability):
            self.missing = capability
            raise ToolFailure(f"the MCP client did not declare the {capability} capability, so this tool cannot "
                              "ask it", kind=ErrorKind.RUNTIME_ERROR, details={"capability": capability})
        self._asked += 1
        if not self.stateless:
            result = await self.ctx.session.send_request(
                request, result_type, metadata=ServerMessageMetadata(related_request_id=self.ctx.request_id))
            return cast(dict[str, Any], result.model_dump(by_alias=True, mode="json", exclude_none=True))
        key = key or f"{request.method}#{self._asked}"
        if key in self.answers:
            return cast(dict[str, Any], self.answers[key])
        self.pending[key] = request.model_dump(by_alias=True, mode="json", exclude_none=True)
        raise ToolFailure(f"input required from the client ({key}): the call is asked again with the answer",
                          kind=ErrorKind.RUNTIME_ERROR, details={"input_required": key})

    async def sample(self, messages: list[dict[str, Any]], max_tokens: int, *, key: str | None = None,
                     **options: Any) -> dict[str, Any]:
        """Ask the client's model (``sampling/createMessage``)."""
        params = types.CreateMessageRequestParams.model_validate({"messages": messages, "maxTokens": max_tokens,
                                                                  **options})
        return await self._ask("sampling", key, types.CreateMessageRequest(params=params), types.CreateMessageResult)

    async def elicit(self, message: str, schema: dict[str, Any], *, key: str | None = None) -> dict[str, Any]:
        """Ask the client's user (``elicitation/create``)."""
        params = types.ElicitRequestFormParams(message=message, requested_schema=cast(Any, schema))
        return await self._ask("elicitation", key, types.ElicitRequest(params=params), types.ElicitResult)

    async def list_roots(self, *, key: str | None = None) -> dict[str, Any]:
        """Ask the client for its roots (``roots/list``)."""
        return await self._ask("roots", key, types.ListRootsRequest(), types.ListRootsResult)

    def missing_capability(self) -> MCPError | None:
        """On a stateless request, the -32021 error the specification asks for when the tool needed a
        capability the client did not declare (a 2025-11-25 session gets an ``isError`` result instead)."""
        if not self.stateless or self.missing is None:
            return None
        return MCPError(types.MISSING_REQUIRED_CLIENT_CAPABILITY,
                        f"this request needs the client capability {self.missing!r}, which the client did not declare",
                        {"requiredCapabilities": {self.missing: {}}})

    async def finish(self) -> types.InputRequiredResult | None:
        """After the call: send what is queued; then the -32021 error if the call needed a capability the
        stateless client lacks, or the questions it asked a stateless client (None when it asked none)."""
        await self.flush()
        missing = self.missing_capability()
        if missing is not None:
            raise missing
        return self.input_required() if self.pending else None

    def input_required(self) -> types.InputRequiredResult:
        """The questions the call could not go on without, and the answers so far as the request state."""
        return types.InputRequiredResult.model_validate({
            "inputRequests": self.pending, "requestState": json.dumps({"answers": self.answers})})


def answers_of(params: types.InputResponseRequestParams) -> dict[str, Any]:
    """The answers a retried request carries: earlier rounds' (its request state, verified by the SDK's
    ``RequestStateBoundary``) and this round's ``inputResponses``."""
    answers: dict[str, Any] = {}
    if params.request_state:
        with suppress(ValueError, TypeError):
            answers.update(json.loads(params.request_state).get("answers", {}))
    for key, response in (params.input_responses or {}).items():
        answers[key] = response.model_dump(by_alias=True, mode="json", exclude_none=True)
    return answers


# -- log records to the channel of the call that emitted them -------------------------------------------


class ForwardLogs(logging.Handler):
    """Hands each record to the channel of the call it was emitted in (if any)."""

    def emit(self, record: logging.LogRecord) -> None:
        """Hand the record to the channel of the call that logged it, if any."""
        channel = _channel.get()
        if channel is not None:
            channel.log(record)


class _BelowApplication(logging.Filter):
    """On a tool module's logger opened to DEBUG: records below the application's threshold go to the
    call's channel only (a filter that drops them keeps the application's handlers as they were)."""

    def __init__(self, logger: logging.Logger) -> None:
        super().__init__()
        self.logger = logger

    def filter(self, record: logging.LogRecord) -> bool:
        parent = self.logger.parent
        threshold = parent.getEffectiveLevel() if parent is not None else logging.WARNING
        if record.levelno >= threshold:
            return True
        channel = _channel.get()
        if channel is not None:
            channel.log(record)
        return False


_installed = False
_opened: set[str] = set()
_lock = threading.Lock()


def install_log_forwarding() -> None:
    """Put :class:`ForwardLogs` on the root logger (once per process)."""
    global _installed
    with _lock:
        if not _installed:
            logging.getLogger().addHandler(ForwardLogs())
            _installed = True


def open_logger_of(spec: ToolSpec) -> None:
    """:func:`open_tool_logger` for the module of ``spec``'s in-process function (if it has one)."""
    open_tool_logger(getattr(getattr(spec.callable, "fn", None), "__module__", None))


def open_tool_logger(module: str | None) -> None:
    """Let a tool module's logger emit every level, for its MCP callers only (see the module docstring)."""
    if not module or module in _opened:
        return
    with _lock:
        if module in _opened:
            return
        _opened.add(module)
        logger = logging.getLogger(module)
        if logger.level == logging.NOTSET:  # an author's or application's explicit level is theirs
            logger.addFilter(_BelowApplication(logger))
            logger.setLevel(logging.DEBUG)
