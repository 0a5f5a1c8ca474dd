"""Starting a container hardened, attached to its stdin/stdout, and a worker container up to its hello.

Nothing is left behind when a start fails: the half-made container is removed before the error propagates.
"""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass
from typing import Any

from toolnexus.sandbox.docker.attachment import Attachment
from toolnexus.sandbox.docker.container import Container, ContainerGone, ContainerKey
from toolnexus.sandbox.protocol import read_frame

WORKER_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "LANG": "C.UTF-8",
    "HOME": "/tmp",
    "PYTHONDONTWRITEBYTECODE": "1",
    "PYTHONUNBUFFERED": "1",
}
#: The environment of a call's command (a direct container's, or one a worker runs).
CALL_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "LANG": "C.UTF-8",
    "PYTHONDONTWRITEBYTECODE": "1",
    "PYTHONUNBUFFERED": "1",
}


@dataclass(frozen=True)
class Hardening:
    """The runtime's caps on every container, beyond what its key says: its user, pids and /tmp size."""

    user: str
    pids_limit: int
    tmpfs_size: int


def host_config(api: Any, key: ContainerKey, hardening: Hardening, *, auto_remove: bool) -> Any:
    """The engine's host configuration of a hardened container for ``key``."""
    import docker

    mounts = [
        docker.types.Mount(target=guest, source=host, type="bind", read_only=not writable)
        for host, guest, writable in key.mounts
    ]
    ulimits = (
        [docker.types.Ulimit(name="nofile", soft=key.open_files, hard=key.open_files)] if key.open_files else None
    )
    return api.create_host_config(
        network_mode="bridge" if key.network else "none",
        read_only=True,
        tmpfs={"/tmp": f"rw,nosuid,nodev,size={hardening.tmpfs_size},mode=1777"},
        mem_limit=key.memory,
        memswap_limit=key.memory,  # no swap: the memory limit is the limit
        nano_cpus=key.nano_cpus,
        pids_limit=hardening.pids_limit,
        cap_drop=["ALL"],
        security_opt=["no-new-privileges"],
        mounts=mounts,
        ulimits=ulimits,
        init=True,
        ipc_mode="private",
        auto_remove=auto_remove,
        log_config=docker.types.LogConfig(type="none"),
    )


def create_container(
    api: Any, key: ContainerKey, hardening: Hardening, *, labels: dict[str, str], worker: bool
) -> Container:
    """Create, attach to and start a container (blocking). Never leaves one behind on failure."""
    env = dict(WORKER_ENV) if worker else {**CALL_ENV, "HOME": "/tmp", **dict(key.env)}
    created = api.create_container(
        key.image,
        command=None if worker else list(key.command or ()),
        user=hardening.user,
        stdin_open=True,  # with attach: the engine closes the container's stdin when we disconnect
        tty=False,
        environment=env,
        network_disabled=not key.network,
        name=f"toolnexus-{uuid.uuid4().hex[:12]}",
        working_dir=key.cwd or "/tmp",
        hostname="toolnexus",
        labels=labels,
        host_config=host_config(api, key, hardening, auto_remove=worker),
        use_config_proxy=False,
    )
    handle = None
    try:
        handle = api.attach_socket(created["Id"], params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1})
        container = Container(api, key, created["Id"], Attachment(handle))
        api.start(created["Id"])
    except BaseException:
        with contextlib.suppress(Exception):
            api.remove_container(created["Id"], force=True)
        if handle is not None:
            with contextlib.suppress(Exception):
                handle.close()
        raise
    return container


def start_worker(api: Any, key: ContainerKey, hardening: Hardening, *, labels: dict[str, str]) -> Container:
    """A worker container for ``key`` that said hello; ContainerGone (and no container) when it did not."""
    container = create_container(api, key, hardening, labels=labels, worker=True)
    try:
        container.attachment.sock.settimeout(30)  # a worker that never says hello is broken
        hello = read_frame(container.attachment)
        container.attachment.sock.settimeout(None)
    except (OSError, ValueError):
        hello = None
    if not isinstance(hello, dict) or "ready" not in hello:
        tail = container.attachment.stderr_tail()
        container.destroy()
        raise ContainerGone(tail)
    return container
