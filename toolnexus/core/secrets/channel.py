"""A caller's channel whose progress messages and log records are scrubbed before they go out."""

from __future__ import annotations

import logging
from typing import Any

from toolnexus.core.context import CallChannel
from toolnexus.core.secrets.logs import scrub_record
from toolnexus.core.secrets.scrub import scrub_text


class ScrubbingChannel(CallChannel):
    """A caller's channel whose progress messages and log records are scrubbed before they go out.

    Everything else — questions to the caller, its capabilities — passes through unchanged.
    """

    def __init__(self, inner: CallChannel) -> None:
        self.inner = inner

    @property  # type: ignore[override]
    def wants_progress(self) -> bool:
        """The inner channel's answer: scrubbing does not change whether progress is wanted."""
        return self.inner.wants_progress

    @property  # type: ignore[override]
    def log_level(self) -> int | None:
        """The inner channel's level: records are scrubbed, never dropped or promoted."""
        return self.inner.log_level

    def for_call(self, call: Any, spec: Any) -> CallChannel:
        """The inner channel's channel for ``call``, still scrubbing (this one when the inner is unchanged)."""
        scoped = self.inner.for_call(call, spec)
        return self if scoped is self.inner else ScrubbingChannel(scoped)

    def progress(self, progress: float, total: float | None = None, message: str | None = None) -> None:
        """Pass a progress report on with its message scrubbed of secrets."""
        self.inner.progress(progress, total, scrub_text(message) if message else message)

    def log(self, record: logging.LogRecord) -> None:
        """Pass ``record`` on with its message and exception text scrubbed of secrets."""
        self.inner.log(scrub_record(record))

    def can(self, capability: str) -> bool:
        """Whether the caller behind the inner channel supports ``capability`` (unchanged by scrubbing)."""
        return self.inner.can(capability)

    async def sample(self, messages: list[dict[str, Any]], max_tokens: int, *, key: str | None = None,
                     **options: Any) -> dict[str, Any]:
        """Ask the caller's model through the inner channel; a question to the caller is not scrubbed."""
        return await self.inner.sample(messages, max_tokens, key=key, **options)

    async def elicit(self, message: str, schema: dict[str, Any], *, key: str | None = None) -> dict[str, Any]:
        """Ask the caller for input through the inner channel, unchanged."""
        return await self.inner.elicit(message, schema, key=key)

    async def list_roots(self, *, key: str | None = None) -> dict[str, Any]:
        """The caller's roots, asked through the inner channel."""
        return await self.inner.list_roots(key=key)

    def __getattr__(self, name: str) -> Any:  # what a particular channel adds (an MCP channel's own state)
        return getattr(self.inner, name)
