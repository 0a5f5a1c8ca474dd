"""What the Jupyter extension runs, as the endpoint's handler sees it.

The extension (``extension``) starts a :class:`Service`; the handler (``handlers``) only needs a way to get it
(:class:`ServiceSource`). Both import this module and neither imports the other, so there is no cycle.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from toolnexus.jupyter.bridge import AsgiBridge


@dataclass
class Service:
    """What a started extension runs: the Nexus, its MCP server and the bridge to the server's HTTP app."""

    nexus: Any
    tool_server: Any
    bridge: AsgiBridge
    kernel_tools: Any = None  # the kernels' tools (toolnexus.jupyter.kernel_tools.KernelTools), when served


class ServiceSource(Protocol):
    """Whatever gives the handler the running service (the extension), started on first use."""

    async def ensure_started(self) -> Service:
        """The running service, started now if need be."""
        ...
