"""Executors: what dispatches the runtime stage of the invocation pipeline.

The pipeline decides *what* runs and *where* (the runtime); an executor decides *how it is dispatched*:
:class:`LocalExecutor` awaits the runtime in this process's event loop; the Dask executor
(:mod:`toolnexus.engine.dask_executor`) runs it on a Dask cluster's workers. Another executor is one new module
that a package names in the ``toolnexus.executors`` entry-point group (or that registers itself in
:data:`EXECUTORS`), chosen by name — ``Nexus(executor="dask")``, ``executor = "dask://host:8786"`` in
``toolnexus.toml``, ``toolnexus run --executor dask`` — and built from :class:`ExecutorOptions`.

Besides ``submit``, an executor may have ``session()`` (an async context manager the engine holds around each
run: the Dask executor starts its own cluster for the first and closes it with the last), ``release(run_id)``
(a coroutine the engine awaits as a run ends: what its calls kept on a cluster is let go) and ``close()``
(called when the Nexus closes).
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, Protocol, runtime_checkable

from toolnexus.core.call import ToolCall
from toolnexus.core.runtime import Runtime, RuntimeOutcome
from toolnexus.core.spec import Limits, ToolSpec


@runtime_checkable
class Executor(Protocol):
    """Dispatches one call to its runtime; cancelling the awaiting task must stop the call."""

    async def submit(self, runtime: Runtime, spec: ToolSpec, call: ToolCall, limits: Limits) -> RuntimeOutcome:
        """Run ``call`` of ``spec`` in ``runtime`` under ``limits``; the runtime's outcome."""
        ...


@dataclass(frozen=True, slots=True)
class ExecutorOptions:
    """What an executor is built from: the address after its name (``dask://host:8786`` → ``host:8786``; None
    when none was given), and the Nexus's settings and tool context (a remote executor builds the same
    runtimes from them where it runs the calls)."""

    address: str | None = None
    settings: Any = None
    context: Any = None


class LocalExecutor:
    """Runs the call in this process's event loop: the runtime itself isolates it (in-process, a worker
    process, a container or a WebAssembly instance)."""

    name = "local"

    def __init__(self, options: ExecutorOptions | None = None) -> None:
        self.options = options or ExecutorOptions()

    async def submit(self, runtime: Runtime, spec: ToolSpec, call: ToolCall, limits: Limits) -> RuntimeOutcome:
        """Await the runtime."""
        return await runtime.invoke(spec, call, limits)


RUN_EXECUTOR: ContextVar[Executor | None] = ContextVar("toolnexus_run_executor", default=None)
"""The executor a run was given (``Nexus.run(..., executor=...)``), for its steps' calls; None: the invoker's."""

GROUP = "toolnexus.executors"

EXECUTORS: dict[str, Callable[[ExecutorOptions], Executor]] = {"local": LocalExecutor}
"""Executors by name (``Nexus(executor=...)``); the ``toolnexus.executors`` entry points add theirs on first use."""


def split_executor(spec: str) -> tuple[str, str | None]:
    """``"dask://host:8786"`` → ``("dask", "host:8786")``; ``"dask"`` → ``("dask", None)``."""
    name, sep, address = spec.partition("://")
    return name.strip(), (address.strip() or None) if sep else None


def executor_named(spec: str, settings: Any = None, context: Any = None) -> Executor:
    """A new executor for ``spec`` — a name, or ``name://address`` — built with the Nexus's ``settings`` and
    tool ``context``; ValueError naming the known ones otherwise."""
    name, address = split_executor(spec)
    factory = EXECUTORS.get(name)
    if factory is None:
        # Entry points are read only for a name not built in: the local executor costs no metadata scan.
        for ep in entry_points(group=GROUP, name=name):
            factory = EXECUTORS.setdefault(name, ep.load())
    if factory is None:
        known = sorted({*EXECUTORS, *(ep.name for ep in entry_points(group=GROUP))})
        raise ValueError(f"unknown executor {name!r} (have: {', '.join(known)})")
    return factory(ExecutorOptions(address, settings, context))
