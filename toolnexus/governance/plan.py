"""The call plan: everything the gate may look at before a call runs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from toolnexus.core.call import ToolCall
from toolnexus.core.spec import ToolSpec


@dataclass(frozen=True, slots=True)
class CallPlan:
    """A call as the pipeline is about to run it: the resolved tool, the (validated) call with its
    arguments, caller (``call.origin``), run and step, and the runtime chosen for it.

    ``subject`` is ``prompt`` or ``resource`` when an MCP prompt or resource read runs a user function;
    ``spec`` and ``runtime`` are then None and ``call.tool`` names the prompt or resource.

    ``recorded_arguments``: the call's arguments already scrubbed, as records may hold them (the pipeline scrubs
    them once for its events): the decision is announced with them instead of scrubbing them again. None: the
    announcement scrubs ``call.arguments`` itself.
    """

    call: ToolCall
    spec: ToolSpec | None = None
    runtime: str | None = None
    subject: Literal["tool", "prompt", "resource"] = "tool"
    cached: bool = False
    recorded_arguments: dict[str, Any] | None = None

    @property
    def tool(self) -> str:
        """The name of what is decided: the tool, prompt or resource."""
        return self.spec.name if self.spec is not None else self.call.tool
