"""One container we created: the key it was created with, its attachment, a round trip to its worker."""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass
from typing import Any

from toolnexus.errors import SandboxError
from toolnexus.sandbox.docker.attachment import Attachment
from toolnexus.sandbox.protocol import read_frame, write_frame


@dataclass(frozen=True)
class ContainerKey:
    """Everything a container is created with: calls with equal keys can share a warm container."""

    image: str
    memory: int
    nano_cpus: int
    network: bool
    mounts: tuple[tuple[str, str, bool], ...] = ()
    open_files: int | None = None
    # Direct (worker-less) containers only: the tool's own command, environment and folder.
    command: tuple[str, ...] | None = None
    env: tuple[tuple[str, str], ...] = ()
    cwd: str | None = None

    @property
    def digest(self) -> str:
        """A short hash of the key, for the container's label."""
        return hashlib.sha256(repr(self).encode()).hexdigest()[:16]


class ContainerGone(SandboxError):
    """The container (and so its worker) ended while a call was talking to it."""

    def __init__(self, stderr_tail: str) -> None:
        self.stderr_tail = stderr_tail
        super().__init__("the container ended")


class Container:
    """One running container we created, attached to its stdin/stdout."""

    def __init__(self, api: Any, key: ContainerKey, container_id: str, attachment: Attachment) -> None:
        self.api = api
        self.key = key
        self.id = container_id
        self.attachment = attachment
        self.calls = 0
        self.last_used = time.monotonic()
        self._lock = threading.Lock()
        self.destroyed = False

    @property
    def alive(self) -> bool:
        """Whether the container still runs (and we have not destroyed it)."""
        return not self.destroyed and not self.attachment.closed_by_peer()

    def roundtrip(self, request: dict[str, Any]) -> dict[str, Any]:
        """Send one request to the worker and wait for its answer (blocking; run it in a thread)."""
        self.calls += 1
        try:
            write_frame(self.attachment, request)
            response = read_frame(self.attachment)
        except (OSError, ValueError):
            response = None
        if response is None:
            raise ContainerGone(self.attachment.stderr_tail())
        return response

    def state(self) -> dict[str, Any] | None:
        """The engine's view of the container (exit code, OOM kill), or ``None`` once it is gone."""
        import docker

        try:
            return dict(self.api.inspect_container(self.id)["State"])
        except docker.errors.NotFound:
            return None

    def destroy(self) -> None:
        """Kill and remove the container, and wait until the engine no longer lists it.

        Idempotent, and a second caller waits for the first one's removal to finish: when any call
        returns, the container is gone.
        """
        import docker

        with self._lock:
            if self.destroyed:
                return
            self.destroyed = True
            try:
                self.api.remove_container(self.id, force=True)
            except docker.errors.NotFound:
                pass
            except docker.errors.APIError:
                # Already being removed (auto-remove of a worker container that ended): wait for it.
                deadline = time.monotonic() + 15
                while time.monotonic() < deadline and self.state() is not None:
                    time.sleep(0.02)  # bounded polling of the engine, not synchronisation by delay
            finally:
                self.attachment.close()
