"""Executors: what dispatches the runtime stage of the invocation pipeline.

The pipeline decides *what* runs and *where* (the runtime); an executor decides *how it is dispatched*:
:class:`LocalExecutor` awaits the runtime in this process's event loop. Another executor (a Dask cluster,
say) is one new module that a package names in the ``toolnexus.executors`` entry-point group (or that
registers itself in :data:`EXECUTORS`), chosen by name: ``Nexus(executor="dask")`` or ``[engine] executor``.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Protocol, runtime_checkable

from toolnexus.core.call import ToolCall
from toolnexus.core.runtime import Runtime, RuntimeOutcome
from toolnexus.core.spec import Limits, ToolSpec


@runtime_checkable
class Executor(Protocol):
    """Dispatches one call to its runtime; cancelling the awaiting task must stop the call."""

    async def submit(self, runtime: Runtime, spec: ToolSpec, call: ToolCall, limits: Limits) -> RuntimeOutcome:
        """Run ``call`` of ``spec`` in ``runtime`` under ``limits``; the runtime's outcome."""
        ...


class LocalExecutor:
    """Runs the call in this process's event loop: the runtime itself isolates it (in-process, a worker
    process, a container or a WebAssembly instance)."""

    async def submit(self, runtime: Runtime, spec: ToolSpec, call: ToolCall, limits: Limits) -> RuntimeOutcome:
        """Await the runtime."""
        return await runtime.invoke(spec, call, limits)


GROUP = "toolnexus.executors"

EXECUTORS: dict[str, Callable[[], Executor]] = {"local": LocalExecutor}
"""Executors by name (``Nexus(executor=...)``); the ``toolnexus.executors`` entry points add theirs on first use."""


def executor_named(name: str) -> Executor:
    """A new executor of kind ``name``; ValueError naming the known ones otherwise."""
    factory = EXECUTORS.get(name)
    if factory is None:
        # Entry points are read only for a name not built in: the local executor costs no metadata scan.
        for ep in entry_points(group=GROUP, name=name):
            factory = EXECUTORS.setdefault(name, ep.load())
    if factory is None:
        known = sorted({*EXECUTORS, *(ep.name for ep in entry_points(group=GROUP))})
        raise ValueError(f"unknown executor {name!r} (have: {', '.join(known)})")
    return factory()
