"""Pausing the cyclic garbage collector while a mission is loaded and compiled."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

LARGE_TEXT = 1_000_000
"""Characters of mission text (about 15,000 steps) from which loading it is a large pause."""
LARGE_STEPS = 10_000
"""Steps from which compiling a mission is a large pause."""
FREEZE_AFTER = 50_000
"""Objects made during a large pause (as the collector counts them) from which they are frozen as it ends."""

_lock = threading.Lock()
_may_freeze = False  # set by a one-shot process (the CLI): see allow_freezing()
_depth = 0
_was_enabled = False
_large = False
_failed = False


def allow_freezing() -> None:
    """Let large pauses freeze what they made (see :func:`paused_gc`). For a one-shot process only — the CLI
    calls it: ``gc.freeze()`` moves every object of the process out of the collector's reach, so in a
    long-lived one (a kernel, the Jupyter or MCP server) anything alive during a large compile that later
    became cyclic garbage, or garbage other threads made meanwhile, would never be freed."""
    global _may_freeze
    _may_freeze = True


@contextmanager
def paused_gc(*, large: bool = False) -> Iterator[None]:
    """Run the body with CPython's cyclic collector paused; reentrant and thread-safe.

    Loading and compiling a mission allocate objects that mostly live on (YAML nodes, dicts, plan
    steps) and make no garbage cycles worth collecting midway, yet every few hundred allocations
    the collector ran, and as the heap grew it ran over the whole heap again and again: half the
    time of compiling a 10,000-step mission. The collector resumes (if it was on) as the outermost
    pause ends, and collects whatever cycles were made meanwhile.

    In a process that allowed it (:func:`allow_freezing`: the CLI), a ``large`` outermost pause (a mission of
    many thousand steps) also freezes what it made, once it
    ends without an error and if that is many objects: ``gc.freeze()`` moves them out of the collector's
    reach, as the Jupyter extension does after start-up. Otherwise the first collection after the pause
    walked every one of them (0.4 s for 100,000 steps) and each full collection of the run that follows
    walked them again. ``gc.freeze()`` moves every object there is, so such a pause first collects the
    garbage already there (some 50 ms in a fresh process): only what the pause made, which is data and
    plan with no cycles, is frozen, and frozen objects are still freed when nothing refers to them.
    After an error nothing is frozen: the exception and its frames make cycles.
    """
    global _depth, _was_enabled, _large, _failed
    if large and _may_freeze and _depth == 0 and gc.isenabled():
        # The garbage already there is collected first, outside the lock: a finaliser it runs may pause too.
        # (Read without the lock, _depth only decides whether to collect: an extra collection is harmless.)
        gc.collect()
    with _lock:
        if _depth == 0:
            _was_enabled = gc.isenabled()
            _large = large and _was_enabled and _may_freeze
            _failed = False
            gc.disable()
        _depth += 1
    failed = True
    try:
        yield
        failed = False
    finally:
        with _lock:
            _depth -= 1
            _failed = _failed or failed
            if _depth == 0 and _was_enabled:
                if _large and not _failed and gc.get_count()[0] >= FREEZE_AFTER:
                    gc.freeze()
                gc.enable()
