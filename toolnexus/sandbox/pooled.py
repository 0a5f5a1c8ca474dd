"""One call on a warm worker from a pool, killed if its caller gives up: the process and docker runtimes'.

The round trip (a framed request written, the reply awaited) blocks, so it runs in a thread that the
waiting task abandons when it is cancelled (or times out). The thread and the task agree, under a lock,
on one thing: whether the round trip began.

- Before it began, the worker is clean: it goes back to the pool as it is, and the call never reaches it.
- Once it began, the worker is in an unknown state: the task kills it (``kill``) before the cancellation
  propagates, and the pool never takes it back.

The thread always gives the worker back (``release``), even when abandoned: otherwise the pool would
shrink by one worker with every cancellation.

Replies are the workers' frames, and two keys of theirs say the worker should not be reused: ``died``
(``talk`` answers that when the worker ended mid-call) and ``recycle`` (the worker asks to be replaced).
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from typing import Any, Generic, Protocol, TypeVar

import anyio

W = TypeVar("W")
W_contra = TypeVar("W_contra", contravariant=True)
Reply = dict[str, Any]


class ReleasingPool(Protocol[W_contra]):
    """What a pool of warm workers offers a call: taking a worker back, healthy (reusable) or not."""

    def release(self, worker: W_contra, *, healthy: bool) -> None:
        """Take ``worker`` back: to reuse it when ``healthy``, else to end it."""


class _Turn(Generic[W]):
    """Who has a call's worker: the thread that talks to it, or the task that gave up waiting."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.worker: W | None = None
        self.cancelled = False

    def begin(self, worker: W) -> bool:
        """In the thread: whether the call may go to ``worker`` (False: its caller already gave up)."""
        with self._lock:
            if self.cancelled:
                return False
            self.worker = worker
            return True

    def give_up(self) -> W | None:
        """In the task: no call starts from now on. The worker the call went to, if it did."""
        with self._lock:
            self.cancelled = True
            return self.worker


def _healthy(reply: Reply) -> bool:
    return not reply.get("died") and not reply.get("recycle")


async def call_pooled(
    pool: ReleasingPool[W],
    talk: Callable[[W], Reply],
    kill: Callable[[W], Awaitable[None]],
    *,
    acquire: Callable[[], W] | None = None,
    worker: W | None = None,
) -> Reply:
    """``talk``'s reply from a worker of ``pool``, in a thread; on cancellation the worker is killed if the
    call reached it, and the cancellation propagates.

    The worker is either taken in that thread (``acquire``, which may block waiting for one: the caller is not
    held up if it gives up meanwhile), or already taken by the caller (``worker``, which goes back to the pool
    clean if the caller gives up before the call reaches it). ``talk`` does the round trip and answers a
    reply with ``died`` when the worker ended during it. ``kill`` is awaited shielded from the cancellation.
    """
    if (acquire is None) == (worker is None):
        raise TypeError("call_pooled takes either acquire or worker")
    held = worker
    turn: _Turn[W] = _Turn()

    def take() -> W:
        if held is not None:
            return held
        assert acquire is not None
        return acquire()

    def run() -> Reply | None:
        taken = take()
        if not turn.begin(taken):
            if held is None:  # taken here for a caller that is gone: it did nothing, keep it
                pool.release(taken, healthy=True)
            return None
        reply = None
        try:
            reply = talk(taken)
            return reply
        finally:
            # Even from a thread abandoned by a cancelled caller: the pool must learn the outcome.
            pool.release(taken, healthy=reply is not None and _healthy(reply))

    try:
        reply = await anyio.to_thread.run_sync(run, abandon_on_cancel=True)
    except BaseException:
        reached = turn.give_up()
        with anyio.CancelScope(shield=True):
            if reached is not None:
                await kill(reached)
            elif held is not None:  # the call never reached the worker the caller took: it is still clean
                await anyio.to_thread.run_sync(lambda: pool.release(held, healthy=True))
        raise
    assert reply is not None  # None only for a caller that gave up, which is not here to see it
    return reply
