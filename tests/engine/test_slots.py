"""Slots: a free slot is taken at once; waiters are served first come, first served; a cancelled
waiter leaves the queue, and one cancelled just after being handed a slot passes it on."""

from __future__ import annotations

import anyio
import anyio.lowlevel
import pytest

from toolnexus.engine.slots import Slots

pytestmark = pytest.mark.anyio


async def test_free_slots_are_taken_without_waiting_up_to_the_total() -> None:
    slots = Slots(2)
    with anyio.fail_after(1):
        await slots.acquire()
        await slots.acquire()
    assert slots.in_use == 2 and slots.free == 0
    with anyio.move_on_after(0.05) as waited:
        await slots.acquire()
    assert waited.cancelled_caught  # the third waits for a release
    assert slots.in_use == 2
    slots.release()
    assert slots.in_use == 1


async def test_waiters_get_released_slots_in_arrival_order() -> None:
    slots = Slots(1)
    await slots.acquire()
    order: list[int] = []

    async def wait_then_note(n: int) -> None:
        async with slots:
            order.append(n)

    async with anyio.create_task_group() as group:
        for n in range(4):
            group.start_soon(wait_then_note, n)
            await anyio.wait_all_tasks_blocked()  # n is queued before n + 1 arrives
        slots.release()
    assert order == [0, 1, 2, 3]
    assert slots.free == 1


async def test_a_late_comer_does_not_jump_the_queue() -> None:
    slots = Slots(1)
    await slots.acquire()
    got: list[str] = []

    async def take(name: str) -> None:
        await slots.acquire()
        got.append(name)

    async with anyio.create_task_group() as group:
        group.start_soon(take, "waiter")
        await anyio.wait_all_tasks_blocked()
        slots.release()  # handed to the waiter, not left free for whoever comes next
        assert slots.free == 0
        with anyio.move_on_after(0.05):
            await take("late")
    assert got == ["waiter"]


async def test_a_cancelled_waiter_leaves_the_queue() -> None:
    slots = Slots(1)
    await slots.acquire()
    with anyio.move_on_after(0.01):
        await slots.acquire()
    slots.release()
    assert slots.free == 1  # nobody was left waiting to be handed it


async def test_a_waiter_cancelled_after_being_handed_a_slot_passes_it_on() -> None:
    slots = Slots(1)
    await slots.acquire()
    second_got_it = anyio.Event()

    async def first(scope: anyio.CancelScope) -> None:
        with scope:
            await slots.acquire()
            pytest.fail("the cancelled waiter went on")

    async def second() -> None:
        await slots.acquire()
        second_got_it.set()

    scope = anyio.CancelScope()
    async with anyio.create_task_group() as group:
        group.start_soon(first, scope)
        await anyio.wait_all_tasks_blocked()
        group.start_soon(second)
        await anyio.wait_all_tasks_blocked()
        scope.cancel()  # the first waiter is cancelled, and before it resumes …
        slots.release()  # … the slot is handed to it: it must go on to the second
        with anyio.fail_after(1):
            await second_got_it.wait()
    assert slots.in_use == 1


def test_at_least_one_slot() -> None:
    with pytest.raises(ValueError, match="at least one slot"):
        Slots(0)
