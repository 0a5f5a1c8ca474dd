"""The background writer: batches written off the caller's thread, flushed on demand, closed and restarted."""

from __future__ import annotations

import logging
import threading

import pytest

from toolnexus.store.background import BackgroundWriter


def test_items_are_written_on_another_thread_in_order() -> None:
    written: list[int] = []
    threads: set[str] = set()

    def write(batch: list[int]) -> None:
        threads.add(threading.current_thread().name)
        written.extend(batch)

    writer = BackgroundWriter[int](write, name="test-writer")
    for n in range(1000):
        writer.add(n)
    assert writer.flush(timeout=10)
    writer.close()
    assert written == list(range(1000))
    assert threads == {"test-writer"}


def test_items_queued_while_a_batch_is_written_share_the_next_commit() -> None:
    release, started = threading.Event(), threading.Event()
    batches: list[list[int]] = []

    def write(batch: list[int]) -> None:
        batches.append(batch)
        started.set()
        release.wait(10)

    writer = BackgroundWriter[int](write, name="test-writer")
    writer.add(0)
    assert started.wait(10)  # the first batch is being written: the next ones wait for it
    for n in range(1, 51):
        writer.add(n)
    release.set()
    assert writer.flush(timeout=10)
    writer.close()
    assert batches == [[0], list(range(1, 51))]


def test_flush_waits_for_what_was_queued_before_it() -> None:
    gate = threading.Event()
    written: list[int] = []

    def write(batch: list[int]) -> None:
        gate.wait(10)
        written.extend(batch)

    writer = BackgroundWriter[int](write, name="test-writer")
    writer.add(1)
    assert writer.flush(timeout=0.05) is False  # the batch is held up
    gate.set()
    assert writer.flush(timeout=10) is True
    assert written == [1]
    writer.close()


def test_a_failed_batch_is_logged_and_the_writer_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    written: list[int] = []

    def write(batch: list[int]) -> None:
        if 1 in batch:
            raise OSError("disk full")
        written.extend(batch)

    writer = BackgroundWriter[int](write, name="test-writer")
    with caplog.at_level(logging.ERROR, logger="toolnexus.store"):
        writer.add(1)
        assert writer.flush(timeout=10)
        writer.add(2)
        assert writer.flush(timeout=10)
    writer.close()
    assert written == [2]
    assert "could not write 1 record(s)" in caplog.text and "disk full" in caplog.text


def test_a_closed_writer_starts_again_on_the_next_item() -> None:
    written: list[int] = []
    writer = BackgroundWriter[int](written.extend, name="test-writer")
    writer.add(1)
    writer.close()
    assert written == [1]
    writer.add(2)
    writer.close()
    assert written == [1, 2]
