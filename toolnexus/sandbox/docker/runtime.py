"""The docker runtime itself: plans a call, runs it in a warm worker container or a container of its own,
and kills and removes the container when the call is cancelled (see :mod:`toolnexus.sandbox.docker`)."""

from __future__ import annotations

import atexit
import contextlib
import json
import uuid
import weakref
from typing import Any

import anyio

from toolnexus.core.call import ToolCall
from toolnexus.core.context import ToolContext
from toolnexus.core.errors import ErrorKind, ToolError
from toolnexus.core.runtime import RuntimeOutcome
from toolnexus.core.spec import Limits, ToolSpec, is_python_exec
from toolnexus.errors import Refused
from toolnexus.sandbox.docker.container import Container, ContainerGone, ContainerKey
from toolnexus.sandbox.docker.engine import (
    LABEL_MANAGED,
    LABEL_OWNER,
    LABEL_RUNTIME,
    DockerUnavailable,
    Engine,
    explain,
    owner,
)
from toolnexus.sandbox.docker.launch import Hardening, create_container, start_worker
from toolnexus.sandbox.docker.outcomes import died_outcome, direct_outcome, worker_outcome
from toolnexus.sandbox.docker.plan import CallPlan, Planner
from toolnexus.sandbox.docker.pool import ContainerPool
from toolnexus.sandbox.images import DEFAULT_IMAGE, TOOL_UID
from toolnexus.sandbox.limits import DEFAULT_TIMEOUT, DefaultCaps
from toolnexus.sandbox.pooled import call_pooled

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

    ``spare`` keeps one fresh worker container per image and limits started ahead of need (see
    :class:`~toolnexus.sandbox.docker.pool.ContainerPool`): a call that finds no warm container takes
    it, so it does not wait for a container to start, and another is started in the background. With
    ``warm=False`` every call still gets a container of its own that no other call used.
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
        spare: bool = False,
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
        self.engine = Engine(client)
        self.pool = ContainerPool(self._start_worker, warm_per_key if warm else 0, max_warm if warm else 0, spare=spare)
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

    def api(self) -> Any:
        """The SDK's low-level client, connected on first use (and stale containers swept then)."""
        return self.engine.api()

    # -- containers ---------------------------------------------------------------------------------

    def _labels(self, key: ContainerKey) -> dict[str, str]:
        return {LABEL_MANAGED: "1", LABEL_OWNER: owner(), LABEL_RUNTIME: self.instance, "toolnexus.key": key.digest}

    def _hardening(self) -> Hardening:
        return Hardening(user=self.user, pids_limit=self.pids_limit, tmpfs_size=self.tmpfs_size)

    def _create(self, key: ContainerKey, *, worker: bool) -> Container:
        """Create, attach to and start a container (blocking). Never leaves one behind on failure."""
        return create_container(self.api(), key, self._hardening(), labels=self._labels(key), worker=worker)

    def _start_worker(self, key: ContainerKey) -> Container:
        return start_worker(self.api(), key, self._hardening(), labels=self._labels(key))

    def prewarm(self, count: int = 1, limits: Limits | None = None) -> int:
        """Start ``count`` warm containers for the default image and ``limits`` (blocking). Returns how many."""
        key = self._planner().key(self.image, limits or Limits(), network=False, mounts=())
        if not self.warm or not self.engine.image_has_worker(self.image):
            return 0
        started = [self.pool.acquire(key) for _ in range(count)]
        for container in started:
            self.pool.release(container, healthy=True)
        return len(started)

    def containers(self) -> list[str]:
        """Ids of the containers this runtime holds now (warm or busy)."""
        return self.pool.ids()

    # -- calls --------------------------------------------------------------------------------------

    def _planner(self) -> Planner:
        return Planner(
            image=self.image,
            memory=self.memory,
            cpus=self.cpus,
            allow_network=self.allow_network,
            workspace=self.context.workspace,
            has_worker=self.engine.image_has_worker,
        )

    def default_timeout(self) -> float | None:
        """The ``[sandbox] timeout`` for calls that set none (the memory default goes into the container key)."""
        return self.timeout

    async def _invoke(self, spec: ToolSpec, call: ToolCall, limits: Limits) -> RuntimeOutcome:
        try:
            plan = await anyio.to_thread.run_sync(self._planner().plan, spec, call, limits)
        except (Refused, DockerUnavailable) as exc:
            return RuntimeOutcome(error=ToolError(kind=ErrorKind.RUNTIME_ERROR, message=str(exc)))
        except Exception as exc:  # the engine failed to answer about the image
            return RuntimeOutcome(
                error=ToolError(
                    kind=ErrorKind.RUNTIME_ERROR, retryable=True, message=f"the Docker engine failed: {explain(exc)}"
                )
            )
        try:
            if plan.worker:
                return await self._call_worker(plan)
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
                    message=f"the Docker engine failed to run the container: {explain(exc)}",
                )
            )

    async def _call_worker(self, plan: CallPlan) -> RuntimeOutcome:
        # Starting a container is bounded and not abandoned: a cancellation waits for it, so the
        # container is ours to give back or remove, never left running by a forgotten thread.
        with anyio.CancelScope(shield=True):
            container = await anyio.to_thread.run_sync(self.pool.acquire, plan.key)

        def talk(worker: Container) -> dict[str, Any]:
            try:
                return worker.roundtrip(plan.request)
            except ContainerGone as gone:
                return {"died": True, "stderr": gone.stderr_tail}

        async def kill(worker: Container) -> None:
            await anyio.to_thread.run_sync(self.pool.discard, worker)

        response = await call_pooled(self.pool, talk, kill, worker=container)
        if response.get("died"):
            state = await anyio.to_thread.run_sync(container.state)
            return died_outcome(state, str(response.get("stderr") or ""))
        return worker_outcome(response)

    async def _call_direct(self, plan: CallPlan, limits: Limits) -> RuntimeOutcome:
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
        return direct_outcome(out, state, stderr, over=over, cap=cap, memory=plan.key.memory)

    async def aclose(self) -> None:
        """Kill and remove every container of this runtime (from a thread)."""
        await anyio.to_thread.run_sync(self.close)

    def close(self) -> None:
        """Kill and remove every container of this runtime."""
        self.pool.close()
