"""Kernel tools: ``@tn.tool`` functions of a notebook kernel offered to agents on the MCP endpoint.

A kernel opts in with ``tn.serve()`` (``toolnexus.notebook.serve``); nothing is exposed otherwise. The
server side, here, links to every kernel of the server's kernel manager (a :class:`KernelLink` each, started
when a kernel appears — the manager is looked at every ``poll`` seconds — and stopped when it goes), and
registers the tools a kernel announces in the server's registry as ``kernel.<name>``, tagged ``kernel`` and
``kernel:<kernel id>``. The registry change is what sends ``notifications/tools/list_changed`` (the MCP
server's change notifier), so a client hears when a kernel adds or loses tools, or dies.

A call is decided at the server's gate — the endpoint's one path; kernel tools need approval by default
(``kernel_tools_gate``) — and forwarded to the kernel, which runs it through its own Nexus (its gate too)
as the server's caller (surface ``mcp``, the Jupyter user).

Protocol — one Jupyter comm, target ``toolnexus.kernel_tools``, opened by the kernel (``comm_open`` on
iopub); the ``data`` of its messages:

=========================  ===========================================================================
kernel → server (iopub)
``tools``                  ``{"op": "tools", "tools": [ToolSpec JSON, …]}``: the whole offer, at open and
                           after every change (an empty list, or ``comm_close``, withdraws it)
``started``                ``{"op": "started", "call": id}``: the kernel took the call
``progress``               ``{"op": "progress", "call": id, "progress": p, "total": t, "message": m}``
``result``                 ``{"op": "result", "call": id, "output": …, "error": ToolError JSON | null}``
server → kernel (shell)
``hello``                  ``{"op": "hello"}``: announce again (sent to a comm found by ``comm_info_request``
                           when the server connects after ``tn.serve()`` ran)
``call``                   ``{"op": "call", "call": id, "tool": name, "arguments": {…}, "caller": Caller JSON,
                           "correlation_id": …, "deadline": epoch seconds}``
``cancel``                 ``{"op": "cancel", "call": id}``: cancel the call's task in the kernel
=========================  ===========================================================================

Shell messages wait while the kernel runs a cell: a call the kernel has not taken within ``busy_timeout``
ends with a "kernel busy" error (progress is sent meanwhile), and the kernel drops it if it reaches it
after its ``deadline``. A cancelled MCP request sends ``cancel``; a kernel that does not answer it within
``cancel_grace`` (its loop stuck in the tool's code) is interrupted.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress
from typing import Any

from toolnexus.core.errors import ErrorKind, ToolFailure
from toolnexus.core.spec import ToolEntry, ToolSpec
from toolnexus.jupyter.kernel_tools_gate import KERNEL_TAG
from toolnexus.jupyter.kernel_tools_link import TARGET, KernelLink

log = logging.getLogger("toolnexus.jupyter")
PREFIX = "kernel."


class _Forward:
    """The server-side implementation of a kernel tool: forwards the call over the kernel's link."""

    is_async = True

    def __init__(self, owner: KernelTools, kernel_id: str, name: str) -> None:
        self.owner, self.kernel_id, self.name = owner, kernel_id, name

    async def acall(self, arguments: dict[str, Any]) -> Any:
        """Run the tool in its kernel."""
        link = self.owner.links.get(self.kernel_id)
        if link is None:
            raise ToolFailure(f"the kernel serving {self.name} has shut down", kind=ErrorKind.RUNTIME_ERROR)
        return await link.call(self.name, arguments)


class KernelTools:
    """Links the server's kernels and serves their announced tools (see the module docstring)."""

    def __init__(self, nexus: Any, kernel_manager: Any, *, busy_timeout: float = 10.0, poll: float = 0.5,
                 cancel_grace: float = 2.0) -> None:
        self.nexus, self.kernel_manager = nexus, kernel_manager
        self.busy_timeout, self.poll, self.cancel_grace = busy_timeout, poll, cancel_grace
        self.links: dict[str, KernelLink] = {}
        self.served: dict[str, set[str]] = {}  # kernel id → the registry names it serves
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Watch the kernel manager in a task of the server's loop."""
        self._task = asyncio.ensure_future(self._watch())

    async def stop(self) -> None:
        """Stop watching, unlink every kernel and withdraw their tools."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task
        for kernel_id in list(self.links):
            await self._unlink(kernel_id)

    async def _watch(self) -> None:
        while True:
            try:
                await self.sync()
            except Exception:  # one bad kernel must not stop the watch
                log.exception("kernel tools: watching the kernels failed")
            await asyncio.sleep(self.poll)

    async def sync(self) -> None:
        """Link kernels that appeared, unlink those that went."""
        alive = set(self.kernel_manager.list_kernel_ids())
        for kernel_id in alive - set(self.links):
            link = KernelLink(kernel_id, self.kernel_manager.get_kernel(kernel_id), self._on_tools,
                              busy_timeout=self.busy_timeout, cancel_grace=self.cancel_grace)
            self.links[kernel_id] = link
            link.start()
        for kernel_id in set(self.links) - alive:
            await self._unlink(kernel_id)

    async def _unlink(self, kernel_id: str) -> None:
        link = self.links.pop(kernel_id, None)
        if link is not None:
            await link.stop()
        self._on_tools(kernel_id, [])

    def _on_tools(self, kernel_id: str, tools: list[dict[str, Any]]) -> None:
        """Make the registry hold exactly ``tools`` for ``kernel_id``."""
        registry = self.nexus.registry
        names: set[str] = set()
        for raw in tools:
            spec = self._server_spec(kernel_id, raw)
            if spec is not None:
                registry.register(spec)
                names.add(spec.name)
        for name in self.served.get(kernel_id, set()) - names:
            if _owner(registry.find(name)) == kernel_id:  # another kernel may have taken the name since
                registry.unregister(name)
        self.served[kernel_id] = names
        if not names:
            self.served.pop(kernel_id, None)

    def _server_spec(self, kernel_id: str, raw: dict[str, Any]) -> ToolSpec | None:
        try:
            spec = ToolSpec.model_validate(raw)
        except ValueError as exc:
            log.warning("kernel %s announced a bad tool: %s", kernel_id, exc)
            return None
        if self.nexus.governance.floor.below(spec, "inprocess"):
            # A kernel runs its tools in-process, which this tier may not: refuse to serve it rather than fail later.
            log.warning("kernel %s: %s (tier %s) needs more isolation than a kernel gives; not served",
                        kernel_id, spec.name, spec.tier.value)
            return None
        tags = [t for t in spec.tags if t != KERNEL_TAG and not t.startswith("kernel:")]
        served = spec.model_copy(update={
            "name": PREFIX + spec.name, "runtime": "inprocess", "deterministic": False,
            "tags": [*tags, KERNEL_TAG, f"kernel:{kernel_id}"],
            "entry": ToolEntry(kind="python", target=None), "source": f"kernel:{kernel_id}",
        })
        return served.bind(_Forward(self, kernel_id, spec.name))  # type: ignore[arg-type]


def _owner(spec: ToolSpec | None) -> str | None:
    if spec is None:
        return None
    return next((t.removeprefix("kernel:") for t in spec.tags if t.startswith("kernel:")), None)


__all__ = ["PREFIX", "TARGET", "KernelTools"]
