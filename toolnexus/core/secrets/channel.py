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
        return self.inner.wants_progress

    @property  # type: ignore[override]
    def log_level(self) -> int | None:
        return self.inner.log_level

    def for_call(self, call: Any, spec: Any) -> CallChannel:
        scoped = self.inner.for_call(call, spec)
        return self if scoped is self.inner else ScrubbingChannel(scoped)

    def progress(self, progress: float, total: float | None = None, message: str | None = None) -> None:
        self.inner.progress(progress, total, scrub_text(message) if message else message)

    def log(self, record: logging.LogRecord) -> None:
        self.inner.log(scrub_record(record))

    def can(self, capability: str) -> bool:
        return self.inner.can(capability)

    async def sample(self, messages: list[dict[str, Any]], max_tokens: int, *, key: str | None = None,
                     **options: Any) -> dict[str, Any]:
        return await self.inner.sample(messages, max_tokens, key=key, **options)

    async def elicit(self, message: str, schema: dict[str, Any], *, key: str | None = None) -> dict[str, Any]:
        return await self.inner.elicit(message, schema, key=key)

    async def list_roots(self, *, key: str | None = None) -> dict[str, Any]:
        return await self.inner.list_roots(key=key)

    def __getattr__(self, name: str) -> Any:  # what a particular channel adds (an MCP channel's own state)
        return getattr(self.inner, name)
