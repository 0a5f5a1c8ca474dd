"""Pausing the cyclic garbage collector while a mission is loaded and compiled."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_depth = 0
_was_enabled = False


@contextmanager
def paused_gc() -> Iterator[None]:
    """Run the body with CPython's cyclic collector paused; reentrant and thread-safe.

    Loading and compiling a mission allocate objects that mostly live on (YAML nodes, dicts, plan
    steps) and make no garbage cycles worth collecting midway, yet every few hundred allocations
    the collector ran, and as the heap grew it ran over the whole heap again and again: half the
    time of compiling a 10,000-step mission. The collector resumes (if it was on) as the outermost
    pause ends, and collects whatever cycles were made meanwhile.
    """
    global _depth, _was_enabled
    with _lock:
        if _depth == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _was_enabled:
                gc.enable()
