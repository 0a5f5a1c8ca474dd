"""The missions written in this kernel's ``%%mission`` cells, by mission name: what ``tn.serve()`` offers agents
beside the kernel's ``@tn.tool`` functions (``mission.<name>``, run here through the kernel's Nexus).

A cell that compiles is remembered (the latest cell of a name wins); listeners hear of each change.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from toolnexus.mission import LoadedMission

_missions: dict[str, LoadedMission] = {}
_listeners: list[Callable[[], None]] = []
_lock = threading.Lock()


def remember(name: str, loaded: LoadedMission) -> None:
    """Keep ``loaded`` (a ``%%mission`` cell that compiled) as mission ``name``, and tell the listeners."""
    with _lock:
        _missions[name] = loaded
        listeners = list(_listeners)
    for listener in listeners:
        listener()


def remembered() -> dict[str, LoadedMission]:
    """The cell missions, by name."""
    with _lock:
        return dict(_missions)


def subscribe(listener: Callable[[], None]) -> Callable[[], None]:
    """Call ``listener`` after each cell mission remembered; returns how to stop."""
    with _lock:
        _listeners.append(listener)

    def unsubscribe() -> None:
        with _lock:
            if listener in _listeners:
                _listeners.remove(listener)

    return unsubscribe


def forget_all() -> None:
    """Forget every cell mission (a new kernel session; tests)."""
    with _lock:
        _missions.clear()
