"""The live run view's ticker: one thread calling functions once their wait is over, earliest first."""

from __future__ import annotations

import threading

from toolnexus.notebook.ticker import Ticker


def test_calls_come_in_deadline_order_on_one_thread() -> None:
    ticker = Ticker()
    calls: list[tuple[str, str]] = []
    done = threading.Event()

    def call(name: str) -> None:
        calls.append((name, threading.current_thread().name))
        if len(calls) == 3:
            done.set()

    ticker.call_later(0.2, lambda: call("late"))
    ticker.call_later(0.0, lambda: call("now"))  # earlier than what the thread waits for: it is woken
    ticker.call_later(0.1, lambda: call("soon"))
    assert done.wait(10)
    assert [name for name, _ in calls] == ["now", "soon", "late"]
    assert {thread for _, thread in calls} == {"toolnexus-ticker"}


def test_a_failing_call_does_not_stop_the_ones_after_it() -> None:
    ticker = Ticker()
    done = threading.Event()

    def fail() -> None:
        raise RuntimeError("a view's bug")

    ticker.call_later(0.0, fail)
    ticker.call_later(0.0, done.set)
    assert done.wait(10)
