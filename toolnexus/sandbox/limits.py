"""The caps every sandboxed runtime applies by default: a call whose limits set no timeout still ends."""

from __future__ import annotations

from collections.abc import Awaitable

import anyio

from toolnexus.core.call import ToolCall
from toolnexus.core.errors import ErrorKind, ToolError
from toolnexus.core.runtime import RuntimeOutcome
from toolnexus.core.spec import Limits, ToolSpec

DEFAULT_MEMORY = 2**30  # 1 GiB: what a worker, a guest or a container may use unless a tool or the config says
DEFAULT_TIMEOUT = 600.0  # 10 minutes: how long a call may run unless a tool or the config says


async def within_default_timeout(work: Awaitable[RuntimeOutcome], spec: ToolSpec, limits: Limits,
                                 default: float | None) -> RuntimeOutcome:
    """Await ``work``; when ``limits`` set no timeout (the invoker enforces those), stop it after
    ``default`` seconds and answer a ``timeout`` error that names the setting."""
    if limits.timeout is not None or not default:
        return await work
    with anyio.move_on_after(default):
        return await work
    return RuntimeOutcome(error=ToolError(
        kind=ErrorKind.TIMEOUT, retryable=True,
        message=f"{spec.ref} ran past the sandbox's default time limit of {default:g}s (set the tool's "
                "timeout, or [sandbox] timeout in toolnexus.toml)",
        details={"timeout": default}))


class DefaultCaps:
    """The ``invoke`` of a sandboxed runtime: fills in the sandbox's default caps, then runs ``_invoke``.

    The default time limit applies to a call whose tool and call set no timeout (see
    :func:`within_default_timeout`); the default memory cap to a call that sets no memory, where the runtime
    passes the cap on through ``limits`` (:meth:`default_memory`).
    """

    def default_timeout(self) -> float | None:
        """Seconds a call with no timeout of its own may run (None or 0: no default)."""
        raise NotImplementedError

    def default_memory(self) -> int | None:
        """The memory cap to write into ``limits`` when the call sets none (None: the runtime applies its own)."""
        return None

    async def invoke(self, spec: ToolSpec, call: ToolCall, limits: Limits) -> RuntimeOutcome:
        """Run one call under ``limits`` completed with the sandbox's defaults."""
        memory = self.default_memory()
        if limits.memory is None and memory:
            limits = limits.model_copy(update={"memory": memory})
        return await within_default_timeout(self._invoke(spec, call, limits), spec, limits, self.default_timeout())

    async def _invoke(self, spec: ToolSpec, call: ToolCall, limits: Limits) -> RuntimeOutcome:
        raise NotImplementedError
