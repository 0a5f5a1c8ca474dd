"""What a mission called over MCP sends back to its client: the run's progress and its steps' own.

The server sets a :class:`RunChannel` around the run. The run's events move its progress a step at a
time (steps finished of steps planned); the engine gives each call a step makes a :class:`StepChannel`
(:meth:`RunChannel.for_call`), so a tool's own progress moves the run's by a share of one step, its log
records reach the client, and its questions (sampling, elicitation, roots) are asked of the client as
a tool called directly would ask them. Everything goes out through the call's one
:class:`~toolnexus.mcp_server.channel.McpChannel`, which sends in order and drops a value that does not
increase, as the protocol wants.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from typing import Any

from toolnexus.core.call import ToolCall
from toolnexus.core.context import CallChannel
from toolnexus.core.events import Event, RunStarted, StepFinished
from toolnexus.core.spec import ToolSpec
from toolnexus.mcp_server.channel import McpChannel, open_logger_of

# A step's own progress moves the run's by less than a whole step: only its end completes the step.
STEP_SHARE = 0.99


class RunChannel(CallChannel):
    """One mission run's way back to the MCP client that called it (see the module docstring)."""

    def __init__(self, mcp: McpChannel) -> None:
        self.mcp = mcp
        self.wants_progress = mcp.wants_progress
        self.log_level = mcp.log_level
        self.total: int | None = None
        self.done = 0
        # step → call → share of its work done (a foreach step makes a call per item; the step's share is their mean)
        self._shares: dict[str, dict[str, float]] = {}
        self._finished: set[str] = set()  # a late report of a finished step must not move the run on
        self._lock = threading.Lock()  # steps report from worker threads too

    # -- the run's events (on the loop) ---------------------------------------------------------------

    def feed(self, event: Event) -> None:
        """Move the run's progress on ``RunStarted`` and each ``StepFinished``."""
        if isinstance(event, RunStarted):
            with self._lock:
                self.total = len(event.step_ids)
                self._send(f"run {event.run_id} of {event.mission} started")
        elif isinstance(event, StepFinished):
            record = event.record
            with self._lock:
                self.done += 1
                self._shares.pop(record.step_id, None)
                self._finished.add(record.step_id)
                self._send(f"step {record.step_id} ({record.tool}) {record.status.value}")

    def _send(self, message: str) -> None:
        # Held under the lock: the value and its place in the queue must agree, or a later value could
        # overtake an earlier one and be dropped as not increasing.
        running = sum(sum(calls.values()) / len(calls) for calls in self._shares.values())
        self.mcp.progress(self.done + running, float(self.total) if self.total else None, message)

    def step_progress(self, step: str, call_id: str, share: float, message: str) -> None:
        """A call of ``step`` has done ``share`` (0–1) of its work."""
        with self._lock:
            share = min(share, STEP_SHARE)
            calls = self._shares.get(step, {})
            if share <= calls.get(call_id, 0.0) or step in self._finished:
                return
            self._shares[step] = {**calls, call_id: share}
            self._send(message)

    # -- channels of the run's calls ------------------------------------------------------------------

    def for_call(self, call: ToolCall, spec: ToolSpec) -> CallChannel:
        """The channel of one step's call: its progress moves the run's."""
        if self.log_level is not None:
            open_logger_of(spec)
        return StepChannel(self, call, spec)

    def log(self, record: logging.LogRecord) -> None:
        """Forward a log record to the client."""
        self.mcp.log(record)

    def can(self, capability: str) -> bool:
        """Whether the client can be asked this."""
        return self.mcp.can(capability)


class StepChannel(CallChannel):
    """One call of a mission step: its progress as a share of the step, its logs and questions as the run's."""

    def __init__(self, run: RunChannel, call: ToolCall, spec: ToolSpec) -> None:
        self.run = run
        self.step = call.step_id or call.tool
        self.call_id = call.id
        # The items of a foreach step differ by their arguments, which a run made again renders the same.
        self._arguments = hashlib.sha256(json.dumps(call.arguments, sort_keys=True, default=str).encode()).hexdigest()
        self.ref = spec.ref
        self.wants_progress = run.wants_progress
        self.log_level = run.log_level
        self._asked = 0

    def progress(self, progress: float, total: float | None = None, message: str | None = None) -> None:
        """The step's progress, as its share of the run's."""
        if not self.wants_progress:
            return
        # Without a total the share still grows with the progress, towards (never reaching) the step's end.
        share = progress / total if total else progress / (progress + 1.0) if progress > 0 else 0.0
        text = f"step {self.step} ({self.ref})" + (f": {message}" if message else "")
        self.run.step_progress(self.step, self.call_id, share, text)

    def log(self, record: logging.LogRecord) -> None:
        """Forward a log record to the client."""
        self.run.mcp.log(record)

    def can(self, capability: str) -> bool:
        """Whether the client can be asked this."""
        return self.run.mcp.can(capability)

    def _key(self, key: str | None, method: str) -> str:
        # A stateless client's answers come back by key on the retried call: a step's questions are keyed by
        # the step and the call's arguments, so parallel steps (and a foreach step's items) asking in any
        # order each find their own answers when the mission runs again.
        self._asked += 1
        return f"{self.step}/{self._arguments[:12]}/{key or f'{method}#{self._asked}'}"

    async def sample(self, messages: list[dict[str, Any]], max_tokens: int, *, key: str | None = None,
                     **options: Any) -> dict[str, Any]:
        """Ask the client's model, under the step's own answer key."""
        return await self.run.mcp.sample(messages, max_tokens, key=self._key(key, "sampling/createMessage"),
                                         **options)

    async def elicit(self, message: str, schema: dict[str, Any], *, key: str | None = None) -> dict[str, Any]:
        """Ask the client's user, under the step's own answer key."""
        return await self.run.mcp.elicit(message, schema, key=self._key(key, "elicitation/create"))

    async def list_roots(self, *, key: str | None = None) -> dict[str, Any]:
        """Ask the client for its roots, under the step's own answer key."""
        return await self.run.mcp.list_roots(key=self._key(key, "roots/list"))
