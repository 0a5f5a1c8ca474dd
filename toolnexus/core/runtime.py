"""The runtime protocol: one small interface every sandbox backend implements."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from toolnexus.core.call import ToolCall
from toolnexus.core.spec import Limits, ToolSpec


class RuntimeOutcome:
    """What a runtime hands back: the raw output, or an error, plus captured stderr.

    Costs, durations and validation are the invocation path's business, not the runtime's.
    """

    __slots__ = ("error", "output", "stderr")

    def __init__(self, output: Any = None, error: Any = None, stderr: str | None = None) -> None:
        self.output = output
        self.error = error
        self.stderr = stderr


@runtime_checkable
class Runtime(Protocol):
    """Runs one call of one tool under limits; honours anyio cancellation by stopping the work.

    ``invoke`` must never raise for a tool failure: it returns a :class:`RuntimeOutcome` whose
    ``error`` is a :class:`~toolnexus.core.errors.ToolError`. When the calling task is cancelled it
    stops the work (killing processes it started) and lets the cancellation propagate.
    """

    name: str

    async def invoke(self, spec: ToolSpec, call: ToolCall, limits: Limits) -> RuntimeOutcome:
        """Run ``call`` of the tool ``spec`` within ``limits`` and return its output or its error."""
        ...

    async def aclose(self) -> None:
        """Release what the runtime holds (worker processes, containers, connections); called once, at close."""
        ...
