"""The state store's conformance suite: the same tests, unchanged, against both backends — the embedded SQLite
store and the PostgreSQL one on a real server. Runs and steps recorded from events and read back by id or
prefix, the result cache, standalone calls, batches, and threads writing at once without losing anything."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

from tests.store.backends import execute, reopen
from toolnexus.core.call import ToolCall, ToolResult
from toolnexus.core.errors import ErrorKind, ToolError
from toolnexus.core.events import CallFinished, RunFinished, RunStarted, StepFinished
from toolnexus.core.run import RunResult, RunStatus, StepRecord, StepStatus, utcnow
from toolnexus.store import StateStore


def start(store: StateStore, run_id: str, mission: str = "m", minutes_ago: int = 0, **extra: object) -> None:
    store(RunStarted(run_id=run_id, mission=mission, plan_hash="abc", inputs={"x": 1}, step_ids=["a", "b"],
                     at=utcnow() - timedelta(minutes=minutes_ago), **extra))


def step(run_id: str, step_id: str, status: StepStatus = StepStatus.SUCCEEDED, **fields: object) -> StepFinished:
    return StepFinished(run_id=run_id, record=StepRecord(step_id=step_id, tool="t", version="1", status=status,
                                                         **fields))


def test_a_run_is_recorded_from_its_events(store: StateStore) -> None:
    start(store, "run-1", source="mission: m\n", source_path="m.yaml", plan={"steps": [{"id": "a"}, {"id": "b"}]})
    stored = store.get_run("run-1")
    assert stored is not None
    assert stored.status == RunStatus.RUNNING
    assert stored.pid == os.getpid()
    assert stored.process_alive
    assert stored.inputs == {"x": 1}
    assert stored.source == "mission: m\n" and stored.source_path == "m.yaml"
    store(step("run-1", "a", output={"n": 1}, cost=0.5))
    # Steps are committed as they finish: another connection sees them before the run ends.
    other = reopen(store)
    try:
        seen = other.get_run("run-1")
        assert seen is not None and seen.steps["a"].output == {"n": 1}
    finally:
        other.close()
    error = ToolError(kind=ErrorKind.TOOL_ERROR, message="b broke")
    store(step("run-1", "b", StepStatus.FAILED, error=error))
    result = RunResult(run_id="run-1", mission="m", status=RunStatus.FAILED, outputs={"o": 1}, cost=0.5,
                       error=error, finished_at=utcnow(), duration=1.5)
    store(RunFinished(run_id="run-1", result=result))
    stored = store.get_run("run-1")
    assert stored is not None
    assert stored.status == RunStatus.FAILED
    assert not stored.process_alive
    assert stored.outputs == {"o": 1}
    assert stored.cost == 0.5 and stored.duration == 1.5
    assert stored.error == error
    assert list(stored.steps) == ["a", "b"]
    assert stored.steps["b"].status == StepStatus.FAILED and stored.steps["b"].error == error
    assert store.step_status("run-1") == {"a": StepStatus.SUCCEEDED, "b": StepStatus.FAILED}
    again = stored.to_result()
    assert again.status == RunStatus.FAILED and again.steps["a"].cost == 0.5


def test_the_final_result_records_steps_no_event_announced(store: StateStore) -> None:
    start(store, "run-1")
    store(step("run-1", "a"))
    never = StepRecord(step_id="b", tool="t", version="1", status=StepStatus.CANCELLED, skip_reason="cancelled")
    kept = StepRecord(step_id="a", tool="t", version="1", status=StepStatus.SUCCEEDED, resumed=True)
    store(RunFinished(run_id="run-1", result=RunResult(run_id="run-1", mission="m", status=RunStatus.CANCELLED,
                                                       steps={"a": kept, "b": never})))
    stored = store.get_run("run-1")
    assert stored is not None
    assert stored.steps["b"].status == StepStatus.CANCELLED
    assert stored.steps["a"].resumed


def test_get_run_by_unique_prefix(store: StateStore) -> None:
    start(store, "run-abc-1")
    start(store, "run-abd-2")
    assert store.get_run("run-abc-1").run_id == "run-abc-1"  # type: ignore[union-attr]
    assert store.get_run("run-abc").run_id == "run-abc-1"  # type: ignore[union-attr]
    assert store.get_run("run-abd").run_id == "run-abd-2"  # type: ignore[union-attr]
    assert store.get_run("run-ab") is None  # ambiguous
    assert store.get_run("nope") is None
    assert store.get_run("run_abc") is None  # `_` is a character, not a wildcard
    assert store.get_run("run-ab%1") is None


def test_list_runs_newest_first_with_limit_and_mission_filter(store: StateStore) -> None:
    start(store, "run-old", mission="a", minutes_ago=30)
    start(store, "run-mid", mission="b", minutes_ago=20)
    start(store, "run-new", mission="a", minutes_ago=10)
    assert [r.run_id for r in store.list_runs()] == ["run-new", "run-mid", "run-old"]
    assert [r.run_id for r in store.list_runs(limit=2)] == ["run-new", "run-mid"]
    assert [r.run_id for r in store.list_runs(mission="a")] == ["run-new", "run-old"]
    assert store.list_runs(mission="zzz") == []


def test_an_interrupted_run_is_marked_interrupted(store: StateStore) -> None:
    start(store, "run-1")
    store(RunFinished(run_id="run-1", result=RunResult(run_id="run-1", mission="m", status=RunStatus.SUCCEEDED)))
    start(store, "run-2")
    store.mark_interrupted("run-1")
    store.mark_interrupted("run-2")
    assert store.get_run("run-1").status == RunStatus.SUCCEEDED  # type: ignore[union-attr]
    run_2 = store.get_run("run-2")
    assert run_2 is not None and run_2.status == run_2.recorded_status == RunStatus.INTERRUPTED


def test_a_run_of_a_dead_process_reads_as_interrupted(store: StateStore) -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    start(store, "run-1")
    execute(store, "UPDATE runs SET pid = ? WHERE run_id = 'run-1'", (proc.pid,))
    stored = store.get_run("run-1")
    assert stored is not None and stored.recorded_status == RunStatus.RUNNING
    assert stored.status == RunStatus.INTERRUPTED
    assert not stored.process_alive
    assert [r.status for r in store.list_runs()] == [RunStatus.INTERRUPTED]
    assert stored.to_result().status == RunStatus.INTERRUPTED


def test_the_cache(store: StateStore) -> None:
    assert store.cache_get("k") is None
    store.cache_put("k", "t", "1", {"rows": [1, 2]}, 0.25)
    assert store.cache_get("k") == ({"rows": [1, 2]}, 0.25)
    store.cache_put("k", "t", "1", "replaced", 0.0)
    assert store.cache_get("k") == ("replaced", 0.0)
    store.cache_put("none", "t", "1", None, 0.0)
    assert store.cache_get("none") == (None, 0.0)  # a cached None is a hit, not a miss
    # The cache outlives the store object: another one on the same file sees it.
    other = reopen(store)
    try:
        assert other.cache_get("k") == ("replaced", 0.0)
    finally:
        other.close()


def test_standalone_calls_are_recorded(store: StateStore) -> None:
    call = ToolCall(tool="t", arguments={"a": 1}, origin="cli")
    store(CallFinished(call=call, result=ToolResult(call_id=call.id, tool="t", version="1", output=2)))
    in_run = ToolCall(tool="t", run_id="run-1")
    store(CallFinished(call=in_run, result=ToolResult(call_id=in_run.id, tool="t", version="1")))
    store.flush()  # on an event loop, calls are written a moment later
    rows = execute(store, "SELECT call_id, origin, arguments FROM calls")
    assert rows == [(call.id, "cli", '{"a": 1}')]


def test_calls_from_many_threads_are_all_written_by_close(store: StateStore) -> None:
    def record(n: int) -> str:
        call = ToolCall(tool="t", arguments={"n": n}, origin="mcp")
        store(CallFinished(call=call, result=ToolResult(call_id=call.id, tool="t", version="1", output=n)))
        return call.id

    with ThreadPoolExecutor(8) as pool:
        ids = set(pool.map(record, range(500)))
    store.close()  # writes what is still queued
    stored = {row[0] for row in execute(store, "SELECT call_id FROM calls")}
    assert stored == ids


def test_threads_writing_at_once_lose_nothing(store: StateStore) -> None:
    threads = [threading.Thread(target=lambda n=n: write_with(store, n)) for n in ("t1", "t2", "t3")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(store.list_runs(limit=1000)) == 3 * 40


def write_with(store: StateStore, name: str) -> None:
    for i in range(40):
        run_id = f"run-{name}-{i}"
        start(store, run_id)
        store(step(run_id, "a"))
        store.cache_put(f"{name}-{i}", "t", "1", i, 0.0)


def test_a_batch_is_one_transaction_committed_on_the_way_out(store: StateStore) -> None:
    start(store, "run-1")
    other = reopen(store)
    try:
        with store.batch():
            store(step("run-1", "a"))
            with store.batch():  # nested: the outer one commits
                store(step("run-1", "b"))
            assert other.step_status("run-1") == {}  # nothing is visible before the commit
            assert set(store.step_status("run-1")) == {"a", "b"}  # but the batch sees its own writes
        assert other.step_status("run-1") == {"a": StepStatus.SUCCEEDED, "b": StepStatus.SUCCEEDED}
    finally:
        other.close()


def test_a_batch_commits_what_it_wrote_even_when_its_body_fails(store: StateStore) -> None:
    start(store, "run-1")
    with pytest.raises(RuntimeError), store.batch():
        store(step("run-1", "a"))
        raise RuntimeError("an observer's bug")
    other = reopen(store)
    try:
        assert other.step_status("run-1") == {"a": StepStatus.SUCCEEDED}
    finally:
        other.close()
