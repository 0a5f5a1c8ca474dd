"""A real Docker engine for the tests: started if installed and not running, with the base image built once.

Use it from a test module with ``from tests.sandbox.docker_engine import docker_engine`` (pytest
registers an imported fixture). Tests that need it skip, saying why, only on a developer's machine
where no engine can be had for want of root (outside CI). Everywhere else an engine that is missing or
does not start fails them, as does a base image that cannot be built: in CI (``CI=true``)
``.ci/system-deps`` installs the engine, so its absence is a broken machine, never a pass.
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
from pathlib import Path
from typing import Any, NoReturn

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


def in_ci() -> bool:
    """Whether the tests run in CI (``CI`` set to anything but false, as CI services set it)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def unavailable(reason: str) -> NoReturn:
    """Skip for ``reason`` on a developer's machine; fail in CI, where every real part must be had.

    Usable in a fixture, a test or at a module's top level."""
    if in_ci():
        pytest.fail(f"{reason} — in CI (CI=true) this is a failure, not a skip: .ci/system-deps and the "
                    f"test extra install it")
    pytest.skip(reason, allow_module_level=True)


def _connect() -> Any | None:
    import docker

    try:
        client = docker.from_env(timeout=60)
        client.ping()
        return client
    except Exception:
        return None


def _start_dockerd() -> tuple[subprocess.Popen[bytes], str]:
    """Start dockerd in the background; returns the process and the path of its log.

    Without root no engine can be had (a skip outside CI); as root a missing dockerd is a machine that
    has not run ``.ci/system-deps``, a failure to fix rather than a silent skip."""
    if os.geteuid() != 0:
        unavailable("no Docker engine is running and starting dockerd needs root")
    dockerd = shutil.which("dockerd")
    if dockerd is None:
        pytest.fail("no Docker engine is running and dockerd is not installed: run `bash .ci/system-deps`")
    log = tempfile.NamedTemporaryFile(prefix="dockerd-", suffix=".log", delete=False)  # noqa: SIM115
    proc = subprocess.Popen([dockerd], stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    return proc, log.name


def _wait_for_engine(started: subprocess.Popen[bytes], log: str) -> Any:
    """The client of the dockerd just started, once its socket answers; fails with its log if it does not."""
    client = None
    deadline = time.monotonic() + 60
    while client is None and time.monotonic() < deadline and started.poll() is None:
        if os.path.exists(SOCKET):
            client = _connect()
        if client is None:
            time.sleep(0.2)  # bounded polling for the daemon's socket
    if client is None:
        with contextlib.suppress(OSError):
            started.terminate()
        status = started.poll()
        how = f"it exited with status {status}" if status is not None else "it did not answer within 60 s"
        tail = Path(log).read_text(encoding="utf-8", errors="replace")[-3000:] if os.path.exists(log) else ""
        pytest.fail(f"dockerd was started but {how} (log {log}):\n{tail}")
    return client


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
    """A reachable Docker engine (started here if none runs) with the base image built."""
    try:
        import docker  # noqa: F401 - the test extra declares it: missing, it is an install to fix
    except ImportError:
        pytest.fail("the docker runtime tests need the `docker` package: pip install -e '.[test]'")
    client = _connect()
    started: subprocess.Popen[bytes] | None = None
    if client is None:
        started, log = _start_dockerd()
        client = _wait_for_engine(started, log)
    try:  # the engine we started stops with the session, also when the image cannot be built
        try:
            build_base_image(DEFAULT_IMAGE, client=client, progress=lambda line: print(f"[docker_engine] {line}"))
        except ImageBuildError as exc:
            pytest.fail(f"cannot build the base image {DEFAULT_IMAGE}: {exc}")
        yield DockerEngine(client, DEFAULT_IMAGE, rootfs_tag(), _bridge_gateway(client))
    finally:
        client.close()
        if started is not None:
            started.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                started.wait(timeout=20)
