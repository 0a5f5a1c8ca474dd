"""Warm worker containers, kept by the key they were created with for the next call with that key."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable

from toolnexus.sandbox.docker.container import Container, ContainerKey


class ContainerPool:
    """Warm worker containers by key: at most ``per_key`` idle per key and ``max_idle`` in all.

    Busy containers are not capped (the engine's concurrency bounds them); a container that comes
    back unhealthy, or finds no idle place, is destroyed.
    """

    def __init__(self, create: Callable[[ContainerKey], Container], per_key: int = 2, max_idle: int = 6) -> None:
        self._create = create
        self.per_key = per_key
        self.max_idle = max_idle
        self._idle: dict[ContainerKey, list[Container]] = defaultdict(list)
        self._busy: set[Container] = set()
        self._lock = threading.Lock()
        self.closed = False

    def acquire(self, key: ContainerKey) -> Container:
        """A live idle container for ``key``, or a new one (blocking: it may start a container)."""
        stale = []
        with self._lock:
            if self.closed:
                raise RuntimeError("the docker runtime is closed")
            idle = self._idle.get(key, [])
            found = None
            while idle and found is None:
                candidate = idle.pop()
                if candidate.alive:
                    found = candidate
                else:
                    stale.append(candidate)
            if found is not None:
                self._busy.add(found)
        for container in stale:
            container.destroy()
        if found is not None:
            return found
        container = self._create(key)
        with self._lock:
            if not self.closed:
                self._busy.add(container)
                return container
        container.destroy()
        raise RuntimeError("the docker runtime is closed")

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
        for victim in evicted:
            victim.destroy()

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
            every = [c for cs in self._idle.values() for c in cs] + list(self._busy)
            self._idle.clear()
        for container in every:
            # A busy container's caller sees it end, and its release finds it destroyed.
            container.destroy()

    def ids(self) -> list[str]:
        """Ids of the containers held now, idle or busy."""
        with self._lock:
            return [c.id for cs in self._idle.values() for c in cs] + [c.id for c in self._busy]
