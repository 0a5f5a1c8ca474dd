"""Pausing the cyclic garbage collector while a mission is loaded and compiled."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

FREEZE_AFTER = 50_000
"""Objects made during a pause (as the collector counts them) past which they are frozen as it ends."""

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

    When the pause made many objects (a mission of thousands of steps) and ended without an error,
    they are frozen (``gc.freeze()``): moved out of the collector's reach, as the Jupyter extension
    does after start-up. Otherwise the first collection after the pause walked every one of them
    (0.4 s for 100,000 steps) and each full collection of the run that follows walked them again
    (the run's per-step cost grew with the plan). Frozen objects are still freed when nothing refers
    to them; only a reference cycle among them would outlive its use, and a mission's data and plan
    hold none. After an error nothing is frozen: the exception and its frames make cycles.
    """
    global _depth, _was_enabled
    with _lock:
        if _depth == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _depth += 1
    failed = True
    try:
        yield
        failed = False
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _was_enabled:
                if not failed and gc.get_count()[0] >= FREEZE_AFTER:
                    gc.freeze()
                gc.enable()
