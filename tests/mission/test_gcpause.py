"""Pausing the garbage collector around loading and compiling: off inside, as it was afterwards,
nested and concurrent pauses included; what a large pause made is frozen as it ends."""

from __future__ import annotations

import gc
import threading
import weakref
from collections.abc import Iterator

import pytest

from toolnexus.mission import gcpause
from toolnexus.mission.gcpause import paused_gc


@pytest.fixture(autouse=True)
def collector_on(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(gcpause, "_may_freeze", False)
    gcpause.allow_freezing()  # as the CLI does (a test below checks what happens without it)
    was = gc.isenabled()
    gc.enable()
    gc.unfreeze()
    yield
    gc.unfreeze()  # give the frozen objects back to the collector, as before the test
    if not was:
        gc.disable()


def _containers(count: int) -> list[list[int]]:
    return [[i] for i in range(count)]  # lists: objects the collector tracks


def test_what_a_large_pause_made_is_frozen_as_it_ends() -> None:
    with paused_gc(large=True):
        kept = _containers(gcpause.FREEZE_AFTER)
    assert gc.get_freeze_count() >= len(kept)
    assert gc.isenabled()


def test_a_process_that_did_not_allow_it_never_freezes(monkeypatch: pytest.MonkeyPatch) -> None:
    # A kernel or a server: freezing there would keep whatever becomes cyclic garbage later for good.
    monkeypatch.setattr(gcpause, "_may_freeze", False)
    with paused_gc(large=True):
        _containers(gcpause.FREEZE_AFTER)
    assert gc.get_freeze_count() == 0
    assert gc.isenabled()


def test_a_pause_not_declared_large_freezes_nothing() -> None:
    with paused_gc():
        kept = _containers(gcpause.FREEZE_AFTER)
    assert kept
    assert gc.get_freeze_count() == 0


def test_a_large_pause_that_made_few_objects_freezes_nothing() -> None:
    with paused_gc(large=True):
        kept = _containers(10)
    assert kept
    assert gc.get_freeze_count() == 0


def test_a_pause_that_ends_in_an_error_freezes_nothing() -> None:
    with pytest.raises(RuntimeError), paused_gc(large=True):
        kept = _containers(gcpause.FREEZE_AFTER)
        raise RuntimeError(f"boom after {len(kept)}")
    assert gc.get_freeze_count() == 0


class _Cycle:
    def __init__(self) -> None:
        self.me = self


def test_garbage_made_before_a_large_pause_is_collected_not_frozen() -> None:
    gc.collect()
    garbage = _Cycle()
    gone = weakref.ref(garbage)
    del garbage  # a cycle: only the collector frees it
    with paused_gc(large=True):
        kept = _containers(gcpause.FREEZE_AFTER)
    assert kept
    assert gone() is None


def test_frozen_objects_are_still_freed_when_nothing_refers_to_them() -> None:
    with paused_gc(large=True):
        kept = _containers(gcpause.FREEZE_AFTER)
    frozen = gc.get_freeze_count()
    del kept
    assert gc.get_freeze_count() <= frozen - gcpause.FREEZE_AFTER


def test_the_collector_is_off_inside_and_on_again_after() -> None:
    with paused_gc():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_it_stays_off_until_the_outermost_pause_ends() -> None:
    with paused_gc():
        with paused_gc():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()


def test_a_collector_the_caller_turned_off_stays_off() -> None:
    gc.disable()
    with paused_gc():
        pass
    assert not gc.isenabled()


def test_it_is_on_again_after_an_exception() -> None:
    with pytest.raises(RuntimeError), paused_gc():
        raise RuntimeError("boom")
    assert gc.isenabled()


def test_overlapping_pauses_in_two_threads_leave_it_on() -> None:
    inside, release = threading.Event(), threading.Event()

    def other() -> None:
        with paused_gc():
            inside.set()
            release.wait(5)

    thread = threading.Thread(target=other)
    thread.start()
    assert inside.wait(5)
    with paused_gc():
        release.set()  # the other thread's pause ends while this one goes on
        thread.join(5)
        assert not gc.isenabled()
    assert gc.isenabled()
