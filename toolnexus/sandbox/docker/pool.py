"""Warm worker containers, kept by the key they were created with for the next call with that key,
and optionally one *spare* per key: a fresh worker container started ahead of need."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable

from toolnexus.sandbox.docker.container import Container, ContainerKey

log = logging.getLogger("toolnexus.sandbox.docker")


class ContainerPool:
    """Warm worker containers by key: at most ``per_key`` idle per key and ``max_idle`` in all.

    Busy containers are not capped (the engine's concurrency bounds them); a container that comes
    back unhealthy, or finds no idle place, is destroyed.

    With ``spare``, a call that finds no idle container takes the key's spare, when one is ready, and
    a new spare is started in a background thread. A spare is a container like any other, created
    with the same key, and has served no call: a call that gets one gets a fresh container, without
    waiting for the engine to start it. Starting a container is most of a cold call's time (the
    engine sets up its namespaces, then the worker's interpreter starts), so this takes it off the
    call's path. The cost is one idle container per key used, kept until the pool closes. For the same
    reason, a container given back and not kept is removed in a background thread rather than on
    the call's path (:meth:`settle` waits for that work; :meth:`close` too). A container that must
    go because its call was cancelled (:meth:`discard`) is still removed at once.
    """

    def __init__(
        self,
        create: Callable[[ContainerKey], Container],
        per_key: int = 2,
        max_idle: int = 6,
        *,
        spare: bool = False,
    ) -> None:
        self._create = create
        self.per_key = per_key
        self.max_idle = max_idle
        self.spare = spare
        self._idle: dict[ContainerKey, list[Container]] = defaultdict(list)
        self._busy: set[Container] = set()
        self._spares: dict[ContainerKey, Container] = {}
        self._starting: dict[ContainerKey, threading.Thread] = {}
        self._retiring: dict[threading.Thread, list[Container]] = {}
        self._lock = threading.Lock()
        self.closed = False

    def acquire(self, key: ContainerKey) -> Container:
        """A live idle container for ``key``, else the key's spare, else a new one (blocking: it may start
        a container). With ``spare``, a new spare is started in the background when none is left."""
        with self._lock:
            if self.closed:
                raise RuntimeError("the docker runtime is closed")
            found, stale = self._take_idle(key)
            if found is None and self.spare:
                found = self._spares.pop(key, None)
                if found is not None and not found.alive:
                    stale.append(found)
                    found = None
            if found is not None:
                self._busy.add(found)
        for container in stale:
            container.destroy()
        if found is None:
            found = self._create_busy(key)
        if self.spare:
            # Only now: a spare started beside this call's own container would slow its start down.
            self._start_spare(key)
        return found

    def _create_busy(self, key: ContainerKey) -> Container:
        """A new container for ``key``, counted busy; none is left behind if the pool closed meanwhile."""
        container = self._create(key)
        with self._lock:
            if not self.closed:
                self._busy.add(container)
                return container
        container.destroy()
        raise RuntimeError("the docker runtime is closed")

    def _take_idle(self, key: ContainerKey) -> tuple[Container | None, list[Container]]:
        """A live idle container for ``key`` (taken out of the idle list) and the dead ones seen on the way;
        the caller holds the lock."""
        idle = self._idle.get(key, [])
        stale = []
        while idle:
            candidate = idle.pop()
            if candidate.alive:
                return candidate, stale
            stale.append(candidate)
        return None, stale

    def _start_spare(self, key: ContainerKey) -> None:
        """Start a spare for ``key`` in a background thread, unless one is ready or on its way."""
        with self._lock:
            if self.closed or key in self._spares or key in self._starting:
                return
            thread = threading.Thread(target=self._make_spare, args=(key,), name="toolnexus-docker-spare", daemon=True)
            self._starting[key] = thread
            # Started under the lock: close() joins every thread in _starting, and one not started yet cannot be.
            thread.start()

    def _make_spare(self, key: ContainerKey) -> None:
        container = None
        try:
            container = self._create(key)
        except Exception as exc:  # the next call that needs a container starts one itself, and sees why
            log.debug("could not start a spare container: %s", exc)
        with self._lock:
            self._starting.pop(key, None)
            keep = container is not None and not self.closed and key not in self._spares
            if keep:
                assert container is not None
                self._spares[key] = container
        if container is not None and not keep:
            container.destroy()

    def settle(self, timeout: float | None = None) -> bool:
        """Wait until the pool's background work is done — spares being started, used containers being
        removed — at most ``timeout`` seconds; True when it is."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._lock:
                pending = [*self._starting.values(), *self._retiring]
            if not pending:
                return True
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return False
            pending[0].join(left)

    def release(self, container: Container, *, healthy: bool) -> None:
        """Take ``container`` back: idle for reuse when healthy and there is room, else destroyed."""
        evicted = []
        with self._lock:
            self._busy.discard(container)
            idle = self._idle[container.key]
            if healthy and not self.closed and not container.destroyed and len(idle) < self.per_key:
                container.last_used = time.monotonic()
                idle.append(container)
                while sum(len(v) for v in self._idle.values()) > self.max_idle:
                    coldest = min((v for v in self._idle.values() if v), key=lambda v: v[0].last_used)
                    evicted.append(coldest.pop(0))
            else:
                evicted.append(container)
            background = self.spare and not self.closed and bool(evicted)
            if background:
                # With spares, the next call does not wait for this container: do not make this one wait
                # for its removal either (the engine takes ~100 ms). Kept in view until it is gone.
                thread = threading.Thread(
                    target=self._destroy, args=(evicted,), name="toolnexus-docker-retire", daemon=True
                )
                self._retiring[thread] = evicted
        if background:
            thread.start()
            return
        for victim in evicted:
            victim.destroy()

    def _destroy(self, victims: list[Container]) -> None:
        try:
            for victim in victims:
                victim.destroy()
        finally:
            with self._lock:
                self._retiring.pop(threading.current_thread(), None)

    def discard(self, container: Container) -> None:
        """Forget ``container`` wherever it is (busy or idle) and destroy it."""
        with self._lock:
            self._busy.discard(container)
            idle = self._idle.get(container.key, [])
            if container in idle:
                idle.remove(container)
        container.destroy()

    def close(self) -> None:
        """Destroy every container, idle or busy; the pool takes none back from now on."""
        with self._lock:
            self.closed = True
            every = [c for cs in self._idle.values() for c in cs] + list(self._busy) + list(self._spares.values())
            every += [c for cs in self._retiring.values() for c in cs]  # destroy() waits for a removal under way
            self._idle.clear()
            self._spares.clear()
            starting = list(self._starting.values())
        for container in every:
            # A busy container's caller sees it end, and its release finds it destroyed.
            container.destroy()
        for thread in starting:
            # A spare being started is destroyed by its thread once it is up (the pool is closed): wait for
            # that, so that no container of ours outlives close().
            with contextlib.suppress(RuntimeError):
                thread.join()

    def ids(self) -> list[str]:
        """Ids of the containers held now: idle, busy, spare, or used and being removed."""
        with self._lock:
            held = [c for cs in self._idle.values() for c in cs] + list(self._busy) + list(self._spares.values())
            held += [c for cs in self._retiring.values() for c in cs]
            return [c.id for c in held]
