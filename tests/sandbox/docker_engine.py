"""A real Docker engine for the tests: started if installed and not running, with the base image built once.

Use it from a test module with ``from tests.sandbox.docker_engine import docker_engine`` (pytest
registers an imported fixture). Tests that need it skip, saying why, only where no engine can be had;
a base image that cannot be built fails them, since that is our bug or a broken mirror to look at.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from toolnexus.sandbox.images import DEFAULT_IMAGE, ImageBuildError, build_base_image, rootfs_tag

SOCKET = "/var/run/docker.sock"


@dataclass(frozen=True)
class DockerEngine:
    """A reachable engine, the base image (with our worker) and a Python image without it."""

    client: Any
    image: str
    plain_image: str  # the root filesystem layer: Python, but no worker (tools run directly)
    bridge_gateway: str  # the host's address on the default bridge, as containers see it

    @property
    def api(self) -> Any:
        return self.client.api


def _connect() -> Any | None:
    import docker

    try:
        client = docker.from_env(timeout=60)
        client.ping()
        return client
    except Exception:
        return None


def _start_dockerd() -> tuple[subprocess.Popen[bytes] | None, str]:
    """Start dockerd in the background if we can; returns the process and, if not, why not."""
    dockerd = shutil.which("dockerd")
    if dockerd is None:
        return None, "no Docker engine is running and dockerd is not installed (apt-get install docker.io)"
    if os.geteuid() != 0:
        return None, "no Docker engine is running and starting dockerd needs root"
    log = tempfile.NamedTemporaryFile(prefix="dockerd-", suffix=".log", delete=False)  # noqa: SIM115
    proc = subprocess.Popen([dockerd], stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    return proc, log.name


def _bridge_gateway(client: Any) -> str:
    """The host's address on the default bridge: the IPAM gateway, else the bridge's own address."""
    network = client.api.inspect_network("bridge")
    config = network["IPAM"]["Config"][0]
    if config.get("Gateway"):
        return str(config["Gateway"])
    name = (network.get("Options") or {}).get("com.docker.network.bridge.name", "docker0")
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        shown = subprocess.run(["ip", "-4", "-o", "addr", "show", name], capture_output=True, text=True, timeout=10)
        for word in shown.stdout.split():
            if "/" in word and word[0].isdigit():
                return word.split("/")[0]
    return str(next(ipaddress.ip_network(config["Subnet"]).hosts()))


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[DockerEngine]:
    pytest.importorskip("docker", reason="the docker runtime tests need the `docker` package")
    client = _connect()
    started: subprocess.Popen[bytes] | None = None
    if client is None:
        started, detail = _start_dockerd()
        if started is None:
            pytest.skip(detail)
        deadline = time.monotonic() + 60
        while client is None and time.monotonic() < deadline and started.poll() is None:
            if os.path.exists(SOCKET):
                client = _connect()
            if client is None:
                time.sleep(0.2)  # bounded polling for the daemon's socket
        if client is None:
            with contextlib.suppress(OSError):
                started.terminate()
            pytest.skip(f"dockerd did not come up within 60 s (see {detail})")
    try:
        build_base_image(DEFAULT_IMAGE, client=client, progress=lambda line: print(f"[docker_engine] {line}"))
    except ImageBuildError as exc:
        pytest.fail(f"cannot build the base image {DEFAULT_IMAGE}: {exc}")
    gateway = _bridge_gateway(client)
    try:
        yield DockerEngine(client, DEFAULT_IMAGE, rootfs_tag(), gateway)
    finally:
        client.close()
        if started is not None:
            started.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                started.wait(timeout=20)
