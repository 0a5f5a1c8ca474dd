"""Many calls waiting in one event loop share one watcher: each is released by its own decision (made in another
process), in any order; a cancelled leader hands over; nothing is left registered once nobody waits."""

from __future__ import annotations

import random
import subprocess
import sys
import textwrap
from pathlib import Path

import anyio
import pytest

from tests.engine.support import await_until
from toolnexus.core.call import ToolCall
from toolnexus.core.decision import Decision, Verdict
from toolnexus.governance.approvals import ApprovalQueue
from toolnexus.governance.plan import CallPlan
from toolnexus.store.sqlite import StateStore

pytestmark = pytest.mark.anyio

PENDING = Decision(verdict=Verdict.WAIT, policy="review")


def _plan(i: int) -> CallPlan:
    return CallPlan(call=ToolCall(tool="files.write", arguments={"path": f"out/{i}.txt"}))


def _decide_elsewhere(db: Path, tickets: list[str]) -> None:
    """Grant the even tickets and deny the odd ones, in the order given, from a second process."""
    script = textwrap.dedent(f"""
        from toolnexus.governance.approvals import ApprovalQueue
        from toolnexus.store.sqlite import StateStore
        store = StateStore({str(db)!r})
        queue = ApprovalQueue(store)
        for ticket, i in {tickets!r}:
            if i % 2:
                queue.deny(ticket, "reviewer", "cli", reason=f"no to {{i}}")
            else:
                queue.grant(ticket, "reviewer", "cli")
        store.close()
    """)
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)


async def test_many_waiting_calls_are_each_released_by_their_own_decision(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.db")
    queue = ApprovalQueue(store, timeout=60)
    verdicts: dict[int, Decision] = {}

    async def wait(i: int) -> None:
        verdicts[i] = await queue.settle(_plan(i), PENDING)

    try:
        async with anyio.create_task_group() as tg:
            for i in range(40):
                tg.start_soon(wait, i)
            await await_until(lambda: len(queue.list("requested")) == 40, what="40 requests")
            by_path = {r.arguments["path"]: r.ticket for r in queue.list("requested")}
            order = [(by_path[f"out/{i}.txt"], i) for i in range(40)]
            random.Random(16).shuffle(order)
            await anyio.to_thread.run_sync(_decide_elsewhere, store.path, order)
        assert all(verdicts[i].allowed == (i % 2 == 0) for i in range(40))
        assert all(f"no to {i}" in verdicts[i].reason for i in range(1, 40, 2))
        assert queue.watchers._by_loop == {}  # the last waiting call closed the watcher
    finally:
        store.close()


async def test_the_others_keep_waiting_and_are_released_when_the_leader_is_cancelled(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.db")
    queue = ApprovalQueue(store, timeout=60)
    released: list[int] = []

    async def wait(i: int) -> None:
        await queue.settle(_plan(i), PENDING)
        released.append(i)

    try:
        async with anyio.create_task_group() as others:
            async with anyio.create_task_group() as lead:
                lead.start_soon(wait, 0)  # the first to wait leads
                await await_until(lambda: len(queue.list("requested")) == 1, what="the first request")
                for i in range(1, 5):
                    others.start_soon(wait, i)
                await await_until(lambda: len(queue.list("requested")) == 5, what="five requests")
                [watcher] = queue.watchers._by_loop.values()
                assert watcher.leading
                lead.cancel_scope.cancel()
            await await_until(lambda: len(queue.list("requested")) == 4, what="the leader's withdrawal")
            await await_until(lambda: watcher.leading, what="another waiting call leading")
            granted = [(record.ticket, 0) for record in queue.list("requested")]
            await anyio.to_thread.run_sync(_decide_elsewhere, store.path, granted)
        assert sorted(released) == [1, 2, 3, 4]
        assert [r.status for r in queue.list() if r.arguments["path"] == "out/0.txt"] == ["withdrawn"]
    finally:
        store.close()
