"""The result cache: a cached step with identical tool, version and arguments is not run again."""

from __future__ import annotations

from pathlib import Path

import pytest

import toolnexus as tn
from tests.engine.support import Recorder
from toolnexus.engine import cache_key

pytestmark = pytest.mark.anyio

CACHED = """
mission: cached
inputs:
  value: {type: string, default: one}
steps:
  - id: mark
    uses: eng.mark
    cache: true
    with: {marker: mark.count, value: "${{ inputs.value }}"}
  - id: echo
    uses: test.echo
    with: {value: "${{ inputs.value }}"}
  - id: uncached
    uses: eng.mark
    with: {marker: uncached.count, value: "${{ inputs.value }}"}
"""


async def test_a_second_run_with_identical_arguments_hits_the_cache(
        enx: tn.Nexus, events: Recorder, workspace: Path) -> None:
    first = await enx.arun(CACHED)
    assert first.ok, first.summary()
    assert not first.steps["mark"].cached and not first.steps["echo"].cached
    second = await enx.arun(CACHED)
    assert second.ok, second.summary()
    assert second.steps["mark"].cached and second.steps["mark"].output == "one"
    assert second.steps["echo"].cached and second.steps["echo"].output == "one"  # deterministic tool
    assert not second.steps["uncached"].cached  # neither `cache: true` nor deterministic
    assert (workspace / "mark.count").read_text() == "1"  # not called again
    assert (workspace / "uncached.count").read_text() == "2"
    second_calls = [e.call.step_id for e in events.of("call_started", run_id=second.run_id)]
    assert second_calls == ["uncached"]


async def test_changed_arguments_miss_the_cache(enx: tn.Nexus, workspace: Path) -> None:
    await enx.arun(CACHED)
    other = await enx.arun(CACHED, {"value": "two"})
    assert other.ok, other.summary()
    assert not other.steps["mark"].cached and not other.steps["echo"].cached
    assert other.steps["mark"].output == "two"
    assert (workspace / "mark.count").read_text() == "2"


async def test_a_failed_call_is_not_cached(enx: tn.Nexus, workspace: Path) -> None:
    mission = """
mission: flaky-cache
steps:
  - id: shaky
    uses: test.flaky
    cache: true
    with: {marker: shaky.count, fail_times: 1}
"""
    assert not (await enx.arun(mission)).ok
    again = await enx.arun(mission)
    assert again.ok and not again.steps["shaky"].cached
    third = await enx.arun(mission)
    assert third.steps["shaky"].cached and third.steps["shaky"].output == 2
    assert (workspace / "shaky.count").read_text() == "2"


def test_cache_keys_are_stable_and_ignore_argument_order() -> None:
    a = cache_key("t", "1.0.0", {"x": 1, "y": [1, 2]})
    assert a == cache_key("t", "1.0.0", {"y": [1, 2], "x": 1})
    assert a != cache_key("t", "1.0.1", {"x": 1, "y": [1, 2]})
    assert a != cache_key("u", "1.0.0", {"x": 1, "y": [1, 2]})
    assert a != cache_key("t", "1.0.0", {"x": 2, "y": [1, 2]})
