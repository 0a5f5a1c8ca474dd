"""The deferred writer: at once without an event loop, a moment later (one batch) on one, flushed on demand."""

from __future__ import annotations

import logging
import threading

import pytest

from tests.engine.support import await_until
from toolnexus.store.background import DeferredWriter

pytestmark = pytest.mark.anyio


def test_without_an_event_loop_items_are_written_at_once() -> None:
    batches: list[list[int]] = []
    writer = DeferredWriter[int](batches.append, name="test-writer")
    writer.add(1)
    assert batches == [[1]]
    writer.add(2)
    assert batches == [[1], [2]]


async def test_on_an_event_loop_items_are_written_later_in_one_batch() -> None:
    batches: list[list[int]] = []
    writer = DeferredWriter[int](batches.append, name="test-writer")
    for n in range(50):
        writer.add(n)
    assert batches == []  # the caller goes on; nothing was written on its time
    await await_until(lambda: batches, within=10, what="the deferred write")
    assert batches == [list(range(50))]


async def test_flush_writes_what_is_waiting_now() -> None:
    batches: list[list[int]] = []
    writer = DeferredWriter[int](batches.append, name="test-writer")
    writer.add(1)
    writer.add(2)
    assert writer.flush() is True
    assert batches == [[1, 2]]


def test_flush_waits_for_a_batch_another_thread_is_writing() -> None:
    gate, writing = threading.Event(), threading.Event()
    written: list[int] = []

    def write(batch: list[int]) -> None:
        writing.set()
        gate.wait(10)
        written.extend(batch)

    writer = DeferredWriter[int](write, name="test-writer")
    other = threading.Thread(target=writer.add, args=(1,))
    other.start()
    assert writing.wait(10)
    assert writer.flush(timeout=0.05) is False  # the other thread's batch is not written yet
    gate.set()
    assert writer.flush(timeout=10) is True
    other.join(10)
    assert written == [1]


def test_a_failed_batch_is_logged_and_the_writer_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    written: list[int] = []

    def write(batch: list[int]) -> None:
        if 1 in batch:
            raise OSError("disk full")
        written.extend(batch)

    writer = DeferredWriter[int](write, name="test-writer")
    with caplog.at_level(logging.ERROR, logger="toolnexus.store"):
        writer.add(1)
        writer.add(2)
    assert written == [2]
    assert "could not write 1 record(s)" in caplog.text and "disk full" in caplog.text


async def test_items_added_after_a_take_are_written_by_the_timer_already_due() -> None:
    batches: list[list[int]] = []
    writer = DeferredWriter[int](batches.append, name="test-writer")
    writer.add(1)
    timer = writer._timer
    assert writer.take() == [1]
    writer.add(2)
    assert writer._timer is timer  # no second timer: the one due writes it
    await await_until(lambda: batches, within=10, what="the deferred write")
    assert batches == [[2]]


def test_a_timer_left_on_an_ended_loop_does_not_hold_items_added_on_the_next() -> None:
    import asyncio

    batches: list[list[int]] = []
    writer = DeferredWriter[int](batches.append, name="test-writer")

    async def add(n: int) -> None:
        writer.add(n)

    asyncio.run(add(1))  # the loop ends before its timer fires
    assert writer.take() == [1]

    async def add_and_wait() -> None:
        writer.add(2)
        await await_until(lambda: batches, within=10, what="the deferred write on the second loop")

    asyncio.run(add_and_wait())
    assert batches == [[2]]
