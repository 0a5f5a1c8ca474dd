"""The event bus: sinks get the event types they ask for (and events nobody wants are not built),
unsubscribing stops delivery, and a batch puts batching sinks (the state store) around its events."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from toolnexus.core.events import Event, RunStarted, StepFinished, StepStarted
from toolnexus.core.run import StepRecord
from toolnexus.engine import EventBus


class Sink:
    def __init__(self, event_types: tuple[type[Event], ...] | None = None) -> None:
        if event_types is not None:
            self.event_types = event_types
        self.got: list[str] = []

    def __call__(self, event: Event) -> None:
        self.got.append(event.type)


class BatchingSink(Sink):
    def __init__(self, fail: str = "") -> None:
        super().__init__()
        self.fail = fail

    @contextmanager
    def batch(self) -> Iterator[None]:
        if self.fail == "enter":
            raise RuntimeError("cannot begin")
        self.got.append("begin")
        yield
        if self.fail == "exit":
            raise RuntimeError("cannot commit")
        self.got.append("commit")


def started() -> StepStarted:
    return StepStarted(run_id="r", step_id="s", tool="t@1")


def finished() -> StepFinished:
    return StepFinished(run_id="r", record=StepRecord(step_id="s", tool="t", version="1"))


def test_a_sink_with_event_types_gets_only_those() -> None:
    picky, greedy = Sink((StepFinished, RunStarted)), Sink()
    bus = EventBus([picky, greedy])
    bus.emit(started())
    bus.emit(finished())
    assert picky.got == ["step_finished"]
    assert greedy.got == ["step_started", "step_finished"]


def test_wants_says_whether_anyone_listens() -> None:
    bus = EventBus([Sink((StepFinished,))])
    assert bus.wants(StepFinished)
    assert not bus.wants(StepStarted)  # so the engine does not build step_started events
    unsubscribe = bus.subscribe(Sink())
    assert bus.wants(StepStarted)
    unsubscribe()
    assert not bus.wants(StepStarted)


def test_an_unsubscribed_sink_gets_nothing_more() -> None:
    sink = Sink()
    bus = EventBus()
    unsubscribe = bus.subscribe(sink)
    bus.emit(started())
    unsubscribe()
    unsubscribe()  # twice is harmless
    bus.emit(started())
    assert sink.got == ["step_started"]
    assert bus.sinks == ()


def test_a_batch_puts_batching_sinks_around_its_events() -> None:
    batching, plain = BatchingSink(), Sink()
    bus = EventBus([batching, plain])
    with bus.batch():
        bus.emit(finished())
        bus.emit(finished())
    assert batching.got == ["begin", "step_finished", "step_finished", "commit"]
    assert plain.got == ["step_finished", "step_finished"]


def test_sinks_without_a_batch_hear_of_its_events_once_it_is_over() -> None:
    batching = BatchingSink()
    seen_by_plain: list[list[str]] = []
    bus = EventBus([batching, lambda event: seen_by_plain.append(list(batching.got))])
    with bus.batch():
        bus.emit(finished())
        assert seen_by_plain == []
    assert seen_by_plain == [["begin", "step_finished", "commit"]]  # after the commit, not before


@pytest.mark.parametrize("fail", ["enter", "exit"])
def test_a_failing_batch_is_logged_and_the_events_still_arrive(fail: str, caplog: pytest.LogCaptureFixture) -> None:
    broken, plain = BatchingSink(fail=fail), Sink()
    bus = EventBus([broken, plain])
    with caplog.at_level(logging.WARNING, logger="toolnexus.engine"), bus.batch():
        bus.emit(finished())
    assert plain.got == ["step_finished"]
    assert "step_finished" in broken.got
    assert "cannot begin" in caplog.text or "cannot commit" in caplog.text
