"""Who is running a run, and whether it still is: run owners and their heartbeats.

A run says ``running`` in the store until its process records how it ended. A process killed with
SIGKILL, or a machine that lost power, never does; so each run names its *owner* — the host, the pid
and when that process started — and the owner keeps a heartbeat in the store while it has runs going.
A reader judges a running run whose owner is gone as interrupted: on the same host, its pid is dead or
now belongs to another process (a different start time); from another host, its heartbeat stopped.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger("toolnexus.store")

MISSED_BEATS = 3
"""Heartbeats an owner may miss (a slow disk, a busy machine) before its runs count as interrupted."""


def process_start(pid: int) -> str | None:
    """When process ``pid`` started, as the kernel tells it: the boot, the pid namespace and the clock
    ticks since boot at its start; None where that is not known (not Linux, or no such process)."""
    namespace = _namespace()
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            data = stat.read()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: count the fields after its last ")".
    fields = data[data.rindex(b")") + 2 :].split()
    return f"{namespace}:{fields[19].decode()}"  # field 22: start time


def _namespace() -> str:
    """This boot and pid namespace: where a pid means the same process as for us."""
    # A pid and start time repeat after a reboot, and in another pid namespace (a container) a pid is
    # another process: with the boot id and the namespace they do not.
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as boot:
            boot_id = boot.read().strip()
        pid_namespace = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return ""
    return f"{boot_id}/{pid_namespace}"


def pid_exists(pid: int) -> bool:
    """Whether a process ``pid`` exists on this host (one we may not signal exists too)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True)
class Owner:
    """A process that runs missions: its id in the store, host, pid and start time."""

    id: str
    host: str
    pid: int
    started: str | None

    @classmethod
    def current(cls) -> Owner:
        """This process (computed again after a fork: the child is another owner)."""
        pid = os.getpid()
        found = _current.get(pid)
        if found is None:
            host, started = socket.gethostname(), process_start(pid)
            found = _current[pid] = cls(f"{host}:{pid}:{started or os.urandom(8).hex()}", host, pid, started)
        return found


_current: dict[int, Owner] = {}


def owner_gone(host: str | None, pid: int | None, started: str | None, beat: float | None,
               interval: float | None, now: float) -> bool:
    """Whether the process that owns a running run is gone, from what the run and its owner's row say.

    Where its pid means the same as here (this boot and pid namespace), the pid decides: it is dead, or
    belongs to a process that started at another time. That is exact, so a live owner whose heartbeat
    is late (a long call holding the interpreter) is not taken for gone. Elsewhere its heartbeat decides:
    older than :data:`MISSED_BEATS` intervals. A run written without an owner (by an older toolnexus) is
    judged by its pid alone, and only on its own host.
    """
    if pid is not None and started is not None and started.rpartition(":")[0] == _namespace() != "":
        return process_start(pid) != started
    if pid is not None and started is None and host == socket.gethostname() and not pid_exists(pid):
        return True
    return beat is not None and interval is not None and now - beat > interval * MISSED_BEATS


class Heartbeat:
    """Calls ``beat`` every ``interval`` seconds on a daemon thread while any run is registered.

    The thread starts with the first run and ends when the last one does, so a process that runs no
    mission has no thread, and one between runs writes nothing.
    """

    def __init__(self, beat: Callable[[], None], interval: float) -> None:
        self._beat = beat
        self.interval = interval
        self._runs: set[str] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def started(self, run_id: str) -> None:
        """A run of this owner began: beat until it ends."""
        with self._lock:
            self._runs.add(run_id)
            if self._thread is None:
                self._stop = threading.Event()
                self._thread = threading.Thread(target=self._loop, args=(self._stop,), daemon=True,
                                                name="toolnexus-store-heartbeat")
                self._thread.start()

    def ended(self, run_id: str) -> None:
        """A run of this owner ended: it no longer needs the heartbeat (which stops with the last one)."""
        with self._lock:
            self._runs.discard(run_id)

    @property
    def beating(self) -> bool:
        """Whether the thread is running."""
        return self._thread is not None

    def stop(self) -> None:
        """Stop beating (runs still registered are forgotten) and wait for the thread to end."""
        with self._lock:
            thread, self._thread = self._thread, None
            self._runs.clear()
            self._stop.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    def _loop(self, stop: threading.Event) -> None:
        while not stop.wait(self.interval):
            with self._lock:
                if not self._runs:  # decided under the lock: started() then starts a new thread
                    if self._thread is threading.current_thread():
                        self._thread = None
                    return
            try:
                self._beat()
            except Exception as exc:  # a database locked too long: the next beat will do
                log.debug("heartbeat failed: %s", exc)
