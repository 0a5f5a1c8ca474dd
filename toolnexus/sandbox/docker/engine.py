"""The Docker engine: the connection to it, the labels our containers carry, and the sweep of orphans."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from typing import Any

from toolnexus.errors import Refused, Unavailable
from toolnexus.sandbox.images import DEFAULT_IMAGE, LABEL_WORKER
from toolnexus.store.owner import pid_exists

LABEL_MANAGED = "toolnexus.managed"
LABEL_OWNER = "toolnexus.owner"
LABEL_RUNTIME = "toolnexus.runtime"


class DockerUnavailable(Unavailable):
    """No Docker engine (or SDK) to talk to; the message says what to do."""


def owner() -> str:
    """This process, as the owner label of the containers it creates: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def explain(exc: Exception) -> str:
    """What the engine said about a failure (its ``explanation``), else the exception's message."""
    explanation = getattr(exc, "explanation", None)
    return str(explanation or exc)


class Engine:
    """The connection to a local Docker engine, made on first use, and what we learnt of its images.

    ``client`` is an SDK client to use instead of one from the environment (``DOCKER_HOST``).
    """

    def __init__(self, client: Any | None = None) -> None:
        self._client = client
        self._api: Any | None = None
        self._lock = threading.Lock()
        self._has_worker: dict[str, bool] = {}

    def api(self) -> Any:
        """The SDK's low-level client, connected on first use (and stale containers swept then)."""
        with self._lock:
            if self._api is None:
                try:
                    import docker
                except ImportError as exc:
                    raise DockerUnavailable(
                        "the docker runtime needs the `docker` package (pip install docker)"
                    ) from exc
                try:
                    client = self._client or docker.from_env(timeout=60)
                    # The sweep's listing is the first request, so it tells whether the engine answers:
                    # no separate ping, one round trip less before a runtime's first container.
                    sweep_orphans(client.api)
                except Exception as exc:
                    raise DockerUnavailable(
                        f"the Docker engine is not reachable ({exc}); start dockerd (or set DOCKER_HOST) and try again"
                    ) from exc
                self._client = client
                self._api = client.api
            return self._api

    def image_has_worker(self, image: str) -> bool:
        """Whether the local ``image`` carries our worker; Refused when the engine has no such image."""
        known = self._has_worker.get(image)
        if known is not None:
            return known
        import docker

        try:
            labels = self.api().inspect_image(image)["Config"].get("Labels") or {}
        except docker.errors.ImageNotFound:
            hint = (
                "build it with `toolnexus sandbox build-image`"
                if image == DEFAULT_IMAGE
                else "load or build it locally (`docker load`, `docker build`): images are never pulled"
            )
            raise Refused(f"image {image!r} is not in the local Docker engine: {hint}") from None
        self._has_worker[image] = LABEL_WORKER in labels
        return self._has_worker[image]


def managed_containers(api: Any, **labels: str) -> list[dict[str, Any]]:
    """Containers (running or not) carrying our label, and ``labels`` too if given."""
    wanted = [f"{LABEL_MANAGED}=1", *(f"{k}={v}" for k, v in labels.items())]
    return list(api.containers(all=True, filters={"label": wanted}))


def sweep_orphans(api: Any) -> int:
    """Remove our containers whose owner process on this host is gone (a killed kernel or CLI)."""
    host = socket.gethostname()
    removed = 0
    for info in managed_containers(api):
        owner_host, _, pid = str((info.get("Labels") or {}).get(LABEL_OWNER, "")).rpartition(":")
        if owner_host != host or not pid.isdigit() or pid_exists(int(pid)):
            continue
        with contextlib.suppress(Exception):
            api.remove_container(info["Id"], force=True)
            removed += 1
    return removed
