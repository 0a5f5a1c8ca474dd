"""The caps every sandboxed runtime applies by default: a call whose limits set no timeout still ends."""

from __future__ import annotations

from collections.abc import Awaitable

import anyio

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
