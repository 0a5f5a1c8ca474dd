"""Retries happen only on retryable errors, with backoff; `timeout:` stops a step with a TIMEOUT error."""

from __future__ import annotations

import time
from pathlib import Path

import anyio
import pytest

import toolnexus as tn
from tests.engine.support import Recorder, assert_gone, await_until, descendants, read_pids
from toolnexus import ErrorKind, RunStatus, StepStatus

pytestmark = pytest.mark.anyio


def flaky(fail_times: int, attempts: int = 3, backoff: str = "exponential") -> str:
    return f"""
mission: flaky
steps:
  - id: shaky
    uses: test.flaky
    retry: {{attempts: {attempts}, delay: 0.01, backoff: {backoff}, jitter: 0}}
    with: {{marker: shaky.count, fail_times: {fail_times}}}
"""


async def test_a_retryable_error_is_retried_with_backoff_until_it_succeeds(
        enx: tn.Nexus, events: Recorder, workspace: Path) -> None:
    result = await enx.arun(flaky(fail_times=2))
    assert result.ok, result.summary()
    record = result.steps["shaky"]
    assert record.attempts == 3
    assert record.output == 3
    assert (workspace / "shaky.count").read_text() == "3"
    retrying = events.of("step_retrying", step_id="shaky")
    assert [e.attempt for e in retrying] == [2, 3]
    assert [e.delay for e in retrying] == pytest.approx([0.01, 0.02])  # exponential, no jitter
    assert all(e.error.kind == ErrorKind.NETWORK and e.error.retryable for e in retrying)
    assert [e.attempt for e in events.of("step_started", step_id="shaky")] == [1, 2, 3]


async def test_the_backoff_is_actually_waited(enx: tn.Nexus, events: Recorder) -> None:
    mission = flaky(fail_times=1, attempts=2).replace("delay: 0.01", "delay: 0.3")
    result = await enx.arun(mission)
    assert result.ok, result.summary()
    started = events.of("step_started", step_id="shaky")
    assert (started[1].at - started[0].at).total_seconds() >= 0.29


async def test_fixed_backoff_keeps_the_same_delay(enx: tn.Nexus, events: Recorder) -> None:
    result = await enx.arun(flaky(fail_times=2, backoff="fixed"))
    assert result.ok, result.summary()
    assert [e.delay for e in events.of("step_retrying")] == pytest.approx([0.01, 0.01])


async def test_retries_stop_after_the_last_attempt(enx: tn.Nexus, events: Recorder, workspace: Path) -> None:
    result = await enx.arun(flaky(fail_times=10))
    assert result.status == RunStatus.FAILED
    record = result.steps["shaky"]
    assert record.status == StepStatus.FAILED
    assert record.attempts == 3
    assert record.error is not None and record.error.message == "transient failure 3"
    assert (workspace / "shaky.count").read_text() == "3"
    assert len(events.of("step_retrying")) == 2


async def test_a_non_retryable_error_fails_at_once(enx: tn.Nexus, events: Recorder) -> None:
    mission = """
mission: hopeless
steps:
  - id: bad
    uses: test.fail
    retry: {attempts: 3, delay: 0.01}
    with: {message: nope}
"""
    result = await enx.arun(mission)
    assert result.status == RunStatus.FAILED
    record = result.steps["bad"]
    assert record.attempts == 1
    assert record.error is not None and record.error.kind == ErrorKind.TOOL_ERROR
    assert not record.error.retryable
    assert events.of("step_retrying") == []
    assert len(events.of("call_started")) == 1


async def test_a_step_timeout_gives_a_timeout_error(enx: tn.Nexus) -> None:
    mission = """
mission: slow
steps:
  - id: nap
    uses: test.sleep
    timeout: 200ms
    with: {seconds: 30}
  - id: after
    uses: test.echo
    with: {value: "${{ steps.nap.outputs | string }}"}
"""
    started = time.monotonic()
    result = await enx.arun(mission)
    assert time.monotonic() - started < 10
    assert result.status == RunStatus.FAILED
    record = result.steps["nap"]
    assert record.status == StepStatus.FAILED
    assert record.error is not None and record.error.kind == ErrorKind.TIMEOUT
    assert "0.2" in record.error.message
    assert result.steps["after"].status == StepStatus.SKIPPED


async def test_a_timeout_is_retried_when_the_step_has_retries(enx: tn.Nexus, events: Recorder) -> None:
    mission = """
mission: slow
steps:
  - id: nap
    uses: test.sleep
    timeout: 100ms
    retry: {attempts: 2, delay: 0.01}
    with: {seconds: 30}
"""
    result = await enx.arun(mission)
    assert result.steps["nap"].attempts == 2
    assert result.steps["nap"].error.kind == ErrorKind.TIMEOUT  # type: ignore[union-attr]
    assert len(events.of("step_retrying")) == 1


async def test_a_timeout_in_the_process_runtime_leaves_no_orphan(enx: tn.Nexus, workspace: Path) -> None:
    # Warm the worker (and import the tool in it) so the timed call starts at once.
    before = descendants()
    warm = await enx.acall("test.spawn_and_wait", pidfile=str(workspace / "warm.pids"), seconds=0)
    assert warm.ok, warm.error
    pidfile = workspace / "timeout.pids"
    mission = f"""
mission: slow-process
steps:
  - id: spawn
    uses: test.spawn_and_wait
    timeout: 1s
    with: {{pidfile: "{pidfile}", seconds: 60}}
"""
    seen: list[int] = []

    async def watch() -> None:
        await await_until(lambda: read_pids(pidfile), within=20, what="the tool to write its pids")
        seen.extend(sorted(descendants() - before))  # host pids: the worker and the child it started

    async with anyio.create_task_group() as group:
        group.start_soon(watch)
        result = await enx.arun(mission)
    assert result.steps["spawn"].error is not None
    assert result.steps["spawn"].error.kind == ErrorKind.TIMEOUT
    assert len(seen) >= 2, "the tool never started"
    assert_gone(seen)
