"""The docker runtime: calls run in hardened containers of a local Docker engine (the ``docker`` SDK).

Every container is created hardened: no network (unless the tool declares it *and* the runtime allows
it), a read-only root with a size-capped tmpfs at /tmp, memory, CPU and pids limits, all capabilities
dropped, no-new-privileges, a non-root user, an init that reaps orphans, no log driver, and no host
folder but the tool's declared mounts (read-only unless declared writable).

Images that carry our worker (the base image of :mod:`toolnexus.sandbox.images`) run it as their
command, and calls travel to it over the container's attached stdin/stdout as frames
(:mod:`toolnexus.sandbox.protocol`): such containers are kept warm, a few per image and limits, so a
call pays one round trip instead of a container start. ``exec_run`` would cost 100–200 ms a call and
could be neither timed out nor killed; a worker dies with its container. Other images run the tool's
command directly, one container per call, JSON on stdin and stdout.

Cancellation (and so a timeout) kills and removes the container the call ran in before it propagates;
a new one replaces it on demand. All containers carry the label ``toolnexus.managed=1`` and their
owner's host and pid: they are removed on :meth:`DockerRuntime.close`, at interpreter exit, by the
engine when our end of a warm container's stdin closes, and — for those a killed process left
behind — by the next runtime that starts on the same host.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import json
import os
import socket
import struct
import threading
import time
import uuid
import weakref
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio

from toolnexus.core.call import ToolCall
from toolnexus.core.context import ToolContext
from toolnexus.core.errors import ErrorKind, ToolError
from toolnexus.core.runtime import RuntimeOutcome
from toolnexus.core.spec import PYTHON_EXEC_TARGET, Limits, ToolSpec, is_python_exec
from toolnexus.errors import Refused, SandboxError, Unavailable
from toolnexus.sandbox.images import DEFAULT_IMAGE, LABEL_WORKER, TOOL_UID
from toolnexus.sandbox.limits import DEFAULT_TIMEOUT, DefaultCaps
from toolnexus.sandbox.protocol import read_frame, write_frame
from toolnexus.store.owner import pid_exists

LABEL_MANAGED = "toolnexus.managed"
LABEL_OWNER = "toolnexus.owner"
LABEL_RUNTIME = "toolnexus.runtime"
# python.exec is recognised by its entry; the worker in the image is told by this name.
PYEXEC_TARGET = PYTHON_EXEC_TARGET
STDERR_CAP = 65536
_SYSTEM_PREFIXES = ("/usr/", "/bin/", "/sbin/", "/lib", "/etc/", "/proc/", "/sys/", "/dev/")
_WORKER_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "LANG": "C.UTF-8",
    "HOME": "/tmp",
    "PYTHONDONTWRITEBYTECODE": "1",
    "PYTHONUNBUFFERED": "1",
}
_CALL_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "LANG": "C.UTF-8",
    "PYTHONDONTWRITEBYTECODE": "1",
    "PYTHONUNBUFFERED": "1",
}


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


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
        return hashlib.sha256(repr(self).encode()).hexdigest()[:16]


class ContainerGone(SandboxError):
    """The container (and so its worker) ended while a call was talking to it."""

    def __init__(self, stderr_tail: str) -> None:
        self.stderr_tail = stderr_tail
        super().__init__("the container ended")


class _Attachment:
    """A container's stdin, stdout and stderr over the engine's hijacked ``attach`` connection.

    Without a TTY the engine multiplexes stdout and stderr: each chunk comes after an 8-byte header
    (stream, three zero bytes, big-endian size). stdout is read as a stream (``read``), stderr kept as
    a capped tail.
    """

    _HEADER = struct.Struct(">BxxxI")

    def __init__(self, handle: Any) -> None:
        self._handle = handle  # the SDK's socket wrapper; kept so nothing closes the socket under us
        self.sock: socket.socket = getattr(handle, "_sock", handle)
        self.sock.settimeout(None)  # a call may be silent for longer than the client's request timeout
        self._out = bytearray()
        self.stderr = bytearray()
        self.eof = False

    def write(self, data: bytes) -> None:
        self.sock.sendall(data)

    def flush(self) -> None:
        pass

    def close_stdin(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_WR)

    def read(self, size: int) -> bytes:
        """Up to ``size`` bytes of stdout, fewer only at the end of the stream."""
        while len(self._out) < size and not self.eof:
            self._pump()
        chunk = bytes(self._out[:size])
        del self._out[:size]
        return chunk

    def read_to_end(self, cap: int) -> tuple[bytes, bool]:
        """All of stdout until the container closes it, or ``cap`` + 1 bytes (then ``True``: over the cap)."""
        while not self.eof and len(self._out) <= cap:
            self._pump()
        return bytes(self._out[: cap + 1]), len(self._out) > cap

    def closed_by_peer(self) -> bool:
        """Whether the engine has closed the connection (the container ended), without blocking."""
        if self.eof:
            return True
        try:
            return self.sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
        except BlockingIOError:
            return False
        except OSError:
            return True

    def stderr_tail(self, lines: int = 5) -> str:
        return " | ".join(self.stderr.decode("utf-8", "replace").strip().splitlines()[-lines:])

    def _recv_exactly(self, size: int) -> bytes | None:
        chunks = []
        while size:
            try:
                chunk = self.sock.recv(min(size, 1 << 20))
            except OSError:
                chunk = b""
            if not chunk:
                return None
            chunks.append(chunk)
            size -= len(chunk)
        return b"".join(chunks)

    def _pump(self) -> None:
        header = self._recv_exactly(self._HEADER.size)
        if header is None:
            self.eof = True
            return
        stream, size = self._HEADER.unpack(header)
        payload = self._recv_exactly(size) if size else b""
        if payload is None:
            self.eof = True
            return
        if stream == 2:
            self.stderr += payload
            del self.stderr[:-STDERR_CAP]
        else:
            self._out += payload

    def close(self) -> None:
        for closer in (getattr(self._handle, "close", None), self.sock.close):
            with contextlib.suppress(Exception):
                if closer is not None:
                    closer()


class Container:
    """One running container we created, attached to its stdin/stdout."""

    def __init__(self, api: Any, key: ContainerKey, container_id: str, attachment: _Attachment) -> None:
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


class ContainerPool:
    """Warm worker containers by key: at most ``per_key`` idle per key and ``max_idle`` in all.

    Busy containers are not capped (the engine's concurrency bounds them); a container that comes
    back unhealthy, or finds no idle place, is destroyed.
    """

    def __init__(self, create: Any, per_key: int = 2, max_idle: int = 6) -> None:
        self._create = create
        self.per_key = per_key
        self.max_idle = max_idle
        self._idle: dict[ContainerKey, list[Container]] = defaultdict(list)
        self._busy: set[Container] = set()
        self._lock = threading.Lock()
        self.closed = False

    def acquire(self, key: ContainerKey) -> Container:
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
        with self._lock:
            self.closed = True
            every = [c for cs in self._idle.values() for c in cs] + list(self._busy)
            self._idle.clear()
        for container in every:
            # A busy container's caller sees it end, and its release finds it destroyed.
            container.destroy()

    def ids(self) -> list[str]:
        with self._lock:
            return [c.id for cs in self._idle.values() for c in cs] + [c.id for c in self._busy]


class DockerUnavailable(Unavailable):
    """No Docker engine (or SDK) to talk to; the message says what to do."""


@dataclass
class _Plan:
    key: ContainerKey
    worker: bool
    request: dict[str, Any]


_LIVE: weakref.WeakSet[DockerRuntime] = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    for runtime in list(_LIVE):
        with contextlib.suppress(Exception):
            runtime.close()


class DockerRuntime(DefaultCaps):
    """Runs docker tools, command tools and ``python.exec`` in hardened containers of a local engine.

    ``image`` is where command tools and ``python.exec`` run (it must carry our worker: build it
    with :func:`toolnexus.sandbox.images.build_base_image`). ``allow_network`` is the policy half of
    network access: a container gets a network only if its tool declares ``network: true`` and this
    is true. ``warm`` keeps up to ``warm_per_key`` worker containers per image and limits for reuse;
    with ``warm=False`` every call gets a fresh container, removed when the call ends.
    """

    name = "docker"

    def __init__(
        self,
        context: ToolContext | None = None,
        *,
        image: str = DEFAULT_IMAGE,
        allow_network: bool = False,
        memory: int = 512 * 2**20,
        cpus: float = 1.0,
        pids_limit: int = 128,
        tmpfs_size: int = 64 * 2**20,
        user: str = f"{TOOL_UID}:{TOOL_UID}",
        warm: bool = True,
        warm_per_key: int = 2,
        max_warm: int = 6,
        client: Any | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
    ) -> None:
        self.context = context or ToolContext()
        self.timeout = timeout  # for calls whose limits set none
        self.image = image
        self.allow_network = allow_network
        self.memory = memory
        self.cpus = cpus
        self.pids_limit = pids_limit
        self.tmpfs_size = tmpfs_size
        self.user = user
        self.warm = warm
        self.instance = uuid.uuid4().hex[:12]
        self._client = client
        self._api: Any | None = None
        self._api_lock = threading.Lock()
        self._has_worker: dict[str, bool] = {}
        self.pool = ContainerPool(self._start_worker, warm_per_key if warm else 0, max_warm if warm else 0)
        _LIVE.add(self)

    @staticmethod
    def supports(spec: ToolSpec) -> bool:
        """Whether this runtime can run ``spec`` at all: docker and command tools, and ``python.exec``
        (toolnexus is not installed in the image, so other Python tools cannot run there)."""
        entry = spec.entry
        if entry.kind == "docker":
            return bool(entry.image and entry.argv)
        if entry.kind == "command":
            return bool(entry.argv)
        return is_python_exec(spec)

    # -- the engine ---------------------------------------------------------------------------------

    def api(self) -> Any:
        """The SDK's low-level client, connected on first use (and stale containers swept then)."""
        with self._api_lock:
            if self._api is None:
                try:
                    import docker
                except ImportError as exc:
                    raise DockerUnavailable(
                        "the docker runtime needs the `docker` package (pip install docker)"
                    ) from exc
                try:
                    client = self._client or docker.from_env(timeout=60)
                    client.ping()
                except Exception as exc:
                    raise DockerUnavailable(
                        f"the Docker engine is not reachable ({exc}); start dockerd (or set DOCKER_HOST) and try again"
                    ) from exc
                self._client = client
                self._api = client.api
                sweep_orphans(self._api)
            return self._api

    def _image_has_worker(self, image: str) -> bool:
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

    # -- containers ---------------------------------------------------------------------------------

    def _labels(self, key: ContainerKey) -> dict[str, str]:
        return {LABEL_MANAGED: "1", LABEL_OWNER: _owner(), LABEL_RUNTIME: self.instance, "toolnexus.key": key.digest}

    def _host_config(self, key: ContainerKey, *, auto_remove: bool) -> Any:
        import docker

        mounts = [
            docker.types.Mount(target=guest, source=host, type="bind", read_only=not writable)
            for host, guest, writable in key.mounts
        ]
        ulimits = (
            [docker.types.Ulimit(name="nofile", soft=key.open_files, hard=key.open_files)] if key.open_files else None
        )
        return self.api().create_host_config(
            network_mode="bridge" if key.network else "none",
            read_only=True,
            tmpfs={"/tmp": f"rw,nosuid,nodev,size={self.tmpfs_size},mode=1777"},
            mem_limit=key.memory,
            memswap_limit=key.memory,  # no swap: the memory limit is the limit
            nano_cpus=key.nano_cpus,
            pids_limit=self.pids_limit,
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
            mounts=mounts,
            ulimits=ulimits,
            init=True,
            ipc_mode="private",
            auto_remove=auto_remove,
            log_config=docker.types.LogConfig(type="none"),
        )

    def _create(self, key: ContainerKey, *, worker: bool) -> Container:
        """Create, attach to and start a container (blocking). Never leaves one behind on failure."""
        api = self.api()
        env = dict(_WORKER_ENV) if worker else {**_CALL_ENV, "HOME": "/tmp", **dict(key.env)}
        created = api.create_container(
            key.image,
            command=None if worker else list(key.command or ()),
            user=self.user,
            stdin_open=True,  # with attach: the engine closes the container's stdin when we disconnect
            tty=False,
            environment=env,
            network_disabled=not key.network,
            name=f"toolnexus-{uuid.uuid4().hex[:12]}",
            working_dir=key.cwd or "/tmp",
            hostname="toolnexus",
            labels=self._labels(key),
            host_config=self._host_config(key, auto_remove=worker),
            use_config_proxy=False,
        )
        handle = None
        try:
            handle = api.attach_socket(created["Id"], params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1})
            container = Container(api, key, created["Id"], _Attachment(handle))
            api.start(created["Id"])
        except BaseException:
            with contextlib.suppress(Exception):
                api.remove_container(created["Id"], force=True)
            if handle is not None:
                with contextlib.suppress(Exception):
                    handle.close()
            raise
        return container

    def _start_worker(self, key: ContainerKey) -> Container:
        container = self._create(key, worker=True)
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

    def prewarm(self, count: int = 1, limits: Limits | None = None) -> int:
        """Start ``count`` warm containers for the default image and ``limits`` (blocking). Returns how many."""
        key = self._key(self.image, limits or Limits(), network=False, mounts=())
        if not self.warm or not self._image_has_worker(self.image):
            return 0
        started = [self.pool.acquire(key) for _ in range(count)]
        for container in started:
            self.pool.release(container, healthy=True)
        return len(started)

    def containers(self) -> list[str]:
        """Ids of the containers this runtime holds now (warm or busy)."""
        return self.pool.ids()

    # -- calls --------------------------------------------------------------------------------------

    def _key(
        self, image: str, limits: Limits, *, network: bool, mounts: tuple[tuple[str, str, bool], ...], **direct: Any
    ) -> ContainerKey:
        return ContainerKey(
            image=image,
            memory=int(limits.memory or self.memory),
            nano_cpus=int(self.cpus * 1e9),
            network=network and self.allow_network,
            mounts=mounts,
            open_files=limits.open_files,
            **direct,
        )

    def _mounts(self, spec: ToolSpec) -> tuple[tuple[str, str, bool], ...]:
        workspace = Path(self.context.workspace)
        return tuple((str((workspace / m.host).resolve()), m.guest, m.writable) for m in spec.entry.mounts)

    def _plan(self, spec: ToolSpec, call: ToolCall, limits: Limits) -> _Plan:
        entry = spec.entry
        base = {"arguments": call.arguments, "limits": limits.model_dump(mode="json")}
        if entry.kind == "docker":
            if not entry.image or not entry.argv:
                raise Refused(f"{spec.ref} declares no image and command to run in a container")
            mounts = self._mounts(spec)
            if self._image_has_worker(entry.image):
                key = self._key(entry.image, limits, network=entry.network, mounts=mounts)
                request = {
                    **base,
                    "kind": "command",
                    "env": _CALL_ENV,
                    "entry": {"argv": entry.argv, "env": entry.env, "cwd": entry.cwd},
                }
                return _Plan(key, True, request)
            key = self._key(
                entry.image,
                limits,
                network=entry.network,
                mounts=mounts,
                command=tuple(entry.argv),
                env=tuple(sorted(entry.env.items())),
                cwd=entry.cwd,
            )
            return _Plan(key, False, base)
        if entry.kind == "command" and entry.argv:
            # The tool's own program files (absolute host paths in its argv) are visible, read-only,
            # at the same paths; nothing else of the host is.
            programs = tuple(
                (arg, arg, False)
                for arg in entry.argv
                if os.path.isabs(arg) and not arg.startswith(_SYSTEM_PREFIXES) and os.path.isfile(arg)
            )
            if not self._image_has_worker(self.image):
                raise Refused(f"image {self.image!r} has no toolnexus worker to run command tools in")
            key = self._key(self.image, limits, network=False, mounts=self._mounts(spec) + programs)
            request = {
                **base,
                "kind": "command",
                "env": _CALL_ENV,
                "entry": {"argv": entry.argv, "env": entry.env, "cwd": None},
            }
            return _Plan(key, True, request)
        if is_python_exec(spec):
            if not self._image_has_worker(self.image):
                raise Refused(f"image {self.image!r} has no toolnexus worker to run python.exec in")
            key = self._key(self.image, limits, network=False, mounts=self._mounts(spec))
            return _Plan(key, True, {**base, "kind": "python", "target": PYEXEC_TARGET})
        raise Refused(
            f"the docker runtime runs docker tools, command tools and python.exec, not {spec.ref} "
            f"({entry.kind} {entry.target or ''}); toolnexus itself is not installed in the image"
        )

    def default_timeout(self) -> float | None:
        """The ``[sandbox] timeout`` for calls that set none (the memory default goes into the container key)."""
        return self.timeout

    async def _invoke(self, spec: ToolSpec, call: ToolCall, limits: Limits) -> RuntimeOutcome:
        try:
            plan = await anyio.to_thread.run_sync(self._plan, spec, call, limits)
        except (Refused, DockerUnavailable) as exc:
            return RuntimeOutcome(error=ToolError(kind=ErrorKind.RUNTIME_ERROR, message=str(exc)))
        except Exception as exc:  # the engine failed to answer about the image
            return RuntimeOutcome(
                error=ToolError(
                    kind=ErrorKind.RUNTIME_ERROR, retryable=True, message=f"the Docker engine failed: {_explain(exc)}"
                )
            )
        try:
            if plan.worker:
                return await self._call_worker(plan, limits)
            return await self._call_direct(plan, limits)
        except ContainerGone as gone:
            return RuntimeOutcome(
                error=ToolError(
                    kind=ErrorKind.RUNTIME_ERROR,
                    retryable=True,
                    message="the container's worker did not start"
                    + (f": {gone.stderr_tail}" if gone.stderr_tail else ""),
                )
            )
        except RuntimeError as exc:  # closed
            return RuntimeOutcome(error=ToolError(kind=ErrorKind.RUNTIME_ERROR, message=str(exc)))
        except Exception as exc:  # the engine refused (a missing mount source, a bad option, …)
            return RuntimeOutcome(
                error=ToolError(
                    kind=ErrorKind.RUNTIME_ERROR,
                    message=f"the Docker engine failed to run the container: {_explain(exc)}",
                )
            )

    async def _call_worker(self, plan: _Plan, limits: Limits) -> RuntimeOutcome:
        # Starting a container is bounded and not abandoned: a cancellation waits for it, so the
        # container is ours to give back or remove, never left running by a forgotten thread.
        with anyio.CancelScope(shield=True):
            container = await anyio.to_thread.run_sync(self.pool.acquire, plan.key)
        # Whether the thread began the call, or the caller gave up first: decided once, under the lock,
        # so an abandoned thread never talks to a container that went back to the pool.
        turn = {"started": False, "cancelled": False}
        lock = threading.Lock()

        def run() -> dict[str, Any] | None:
            with lock:
                if turn["cancelled"]:
                    return None
                turn["started"] = True
            healthy = False
            try:
                response = container.roundtrip(plan.request)
                healthy = True
                return response
            except ContainerGone as gone:
                return {"died": True, "stderr": gone.stderr_tail}
            finally:
                # Even from a thread abandoned by a cancelled caller: the pool must learn the outcome.
                self.pool.release(container, healthy=healthy)

        try:
            response = await anyio.to_thread.run_sync(run, abandon_on_cancel=True)
        except BaseException:
            with lock:
                turn["cancelled"] = True
                started = turn["started"]
            with anyio.CancelScope(shield=True):
                if started:
                    await anyio.to_thread.run_sync(self.pool.discard, container)
                else:  # cancelled before the call reached the worker: the container is still clean
                    await anyio.to_thread.run_sync(lambda: self.pool.release(container, healthy=True))
            raise
        assert response is not None
        if response.get("died"):
            state = await anyio.to_thread.run_sync(container.state)
            return _died(state, str(response.get("stderr") or ""), limits)
        return _outcome(response)

    async def _call_direct(self, plan: _Plan, limits: Limits) -> RuntimeOutcome:
        with anyio.CancelScope(shield=True):
            container = await anyio.to_thread.run_sync(lambda: self._create(plan.key, worker=False))
        cap = int(limits.max_output or 16 * 2**20)

        def run() -> tuple[bytes, bool, dict[str, Any] | None]:
            with contextlib.suppress(OSError):  # a tool may exit without reading its arguments
                container.attachment.write(json.dumps(plan.request["arguments"]).encode())
            container.attachment.close_stdin()
            out, over = container.attachment.read_to_end(cap)
            if over:
                return out, True, None
            container.api.wait(container.id, timeout=None)
            return out, False, container.state()

        try:
            out, over, state = await anyio.to_thread.run_sync(run, abandon_on_cancel=True)
        finally:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(container.destroy)
        stderr = container.attachment.stderr.decode("utf-8", "replace")
        if over:
            return RuntimeOutcome(
                error=ToolError(kind=ErrorKind.LIMIT_EXCEEDED, message=f"output over the {cap}-byte cap"), stderr=stderr
            )
        code = int((state or {}).get("ExitCode", -1))
        if (state or {}).get("OOMKilled"):
            return RuntimeOutcome(
                error=ToolError(
                    kind=ErrorKind.LIMIT_EXCEEDED,
                    message=f"the container was killed for using more than its {plan.key.memory}-byte memory limit",
                ),
                stderr=stderr,
            )
        if code != 0:
            tail = stderr.strip().splitlines()[-5:]
            return RuntimeOutcome(
                error=ToolError(
                    kind=ErrorKind.TOOL_ERROR,
                    details={"exit_code": code},
                    message=f"command exited with status {code}" + (": " + " | ".join(tail) if tail else ""),
                ),
                stderr=stderr,
            )
        text = out.decode("utf-8", "replace").strip()
        try:
            return RuntimeOutcome(output=json.loads(text) if text else None, stderr=stderr or None)
        except json.JSONDecodeError as exc:
            return RuntimeOutcome(
                error=ToolError(
                    kind=ErrorKind.OUTPUT_INVALID,
                    message=f"command printed no valid JSON on stdout ({exc.msg} at char {exc.pos})",
                ),
                stderr=stderr,
            )

    async def aclose(self) -> None:
        await anyio.to_thread.run_sync(self.close)

    def close(self) -> None:
        """Kill and remove every container of this runtime."""
        self.pool.close()


def _explain(exc: Exception) -> str:
    explanation = getattr(exc, "explanation", None)
    return str(explanation or exc)


def _outcome(response: dict[str, Any]) -> RuntimeOutcome:
    if response.get("ok"):
        return RuntimeOutcome(output=response.get("output"), stderr=response.get("stderr"))
    return RuntimeOutcome(error=ToolError.model_validate(response["error"]), stderr=response.get("stderr"))


def _died(state: dict[str, Any] | None, stderr: str, limits: Limits) -> RuntimeOutcome:
    if state and state.get("OOMKilled"):
        error = ToolError(
            kind=ErrorKind.LIMIT_EXCEEDED, message="the container was killed for using more memory than its limit"
        )
    else:
        code = (state or {}).get("ExitCode")
        error = ToolError(
            kind=ErrorKind.RUNTIME_ERROR,
            retryable=True,
            message=f"the container's worker died (exit {code})" + (f": {stderr}" if stderr else ""),
        )
    return RuntimeOutcome(error=error, stderr=stderr or None)


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

