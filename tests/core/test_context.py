"""The call channel: progress, logs and questions a tool sends to whoever called it."""

from __future__ import annotations

import logging
from typing import Any

import anyio
import pytest

from toolnexus.core.context import CallChannel, elicit, report_progress, reset_channel, sample, use_channel
from toolnexus.core.errors import ToolFailure


class Recording(CallChannel):
    def __init__(self) -> None:
        self.seen: list[Any] = []

    def progress(self, progress: float, total: float | None = None, message: str | None = None) -> None:
        self.seen.append((progress, total, message))

    def log(self, record: logging.LogRecord) -> None:
        self.seen.append(record.getMessage())

    async def sample(self, messages: list[dict[str, Any]], max_tokens: int, *, key: str | None = None,
                     **options: Any) -> dict[str, Any]:
        self.seen.append((messages, max_tokens, key, options))
        return {"role": "assistant", "content": {"type": "text", "text": "yes"}}


def test_progress_goes_to_the_current_channel_even_from_a_worker_thread() -> None:
    channel = Recording()
    token = use_channel(channel)
    try:
        report_progress(1, 4, "a quarter")
        anyio.run(anyio.to_thread.run_sync, lambda: report_progress(2, 4))  # threads get a copy of the context
    finally:
        reset_channel(token)
    report_progress(3, 4)  # outside a call: nowhere to go, and no error
    assert channel.seen == [(1.0, 4.0, "a quarter"), (2.0, 4.0, None)]


def test_sample_wraps_a_prompt_as_a_user_message() -> None:
    channel = Recording()
    token = use_channel(channel)
    try:
        reply = anyio.run(lambda: sample("ok?", max_tokens=5, key="q1", temperature=0))
    finally:
        reset_channel(token)
    assert reply == "yes"
    assert channel.seen == [([{"role": "user", "content": {"type": "text", "text": "ok?"}}], 5, "q1",
                             {"temperature": 0})]


def test_asking_without_a_caller_is_a_tool_failure() -> None:
    with pytest.raises(ToolFailure, match="did not come from an MCP client") as failed:
        anyio.run(lambda: elicit("name?", {"type": "object"}))
    assert failed.value.error.details == {"capability": "elicitation"}


def test_the_tool_context_reaches_the_same_channel() -> None:
    from toolnexus.core.context import current_context

    channel = Recording()
    token = use_channel(channel)
    try:
        current_context().report_progress(1, 2)
        reply = anyio.run(lambda: current_context().sample("hi?"))
    finally:
        reset_channel(token)
    assert channel.seen[0] == (1.0, 2.0, None) and reply == "yes"
