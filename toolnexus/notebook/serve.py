"""``tn.serve()``: offer this kernel's ``@tn.tool`` functions — and the missions of its ``%%mission`` cells, as
``mission.<name>`` — to agents on the Jupyter MCP endpoint.

Nothing is exposed until the notebook calls :func:`serve` (the user's opt-in). It opens a Jupyter comm
(target :data:`TARGET`) to the toolnexus server extension, announces the tools defined in this kernel
(``@tn.tool`` functions of ``__main__``: notebook cells), announces again whenever the registry changes, and
runs the calls the server forwards through this kernel's Nexus — the same gate as any call here, as the
caller the server names (surface ``mcp``, the Jupyter user).

The protocol (``data`` of the comm's messages; documented in full in ``toolnexus.jupyter.kernel_tools``):

- kernel → server: ``{"op": "tools", "tools": [spec, …]}`` (also the comm_open's data), and per call
  ``{"op": "started", "call": id}``, ``{"op": "progress", "call": id, "progress", "total", "message"}``,
  ``{"op": "result", "call": id, "output": …, "error": {kind, message, …} | None}``;
- server → kernel: ``{"op": "hello"}`` (announce again), ``{"op": "call", "call": id, "tool", "arguments",
  "caller", "correlation_id", "deadline"}`` (a call that reaches the kernel after ``deadline``, epoch
  seconds, is answered "kernel busy" without running: the server gave up on it), ``{"op": "cancel", "call": id}``.

A call runs as a task on the kernel's event loop, so the kernel keeps reading messages (a cancel) while it runs.
A tool that blocks the loop (an ``async`` tool calling ``time.sleep``) cannot hear a cancel: the server then
interrupts the kernel (SIGINT). ipykernel ignores SIGINT outside a cell, so while calls run a handler of ours
raises ``KeyboardInterrupt`` in the tool's code — never in the event loop itself, which it would break — and
the call ends as cancelled.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Any

from toolnexus.core.caller import Caller, Surface, process_surface
from toolnexus.core.context import CallChannel, reset_channel, use_channel
from toolnexus.core.diagnostics import DiagnosticError
from toolnexus.core.spec import ToolSpec
from toolnexus.errors import Unavailable
from toolnexus.mcp_server.missions import PREFIX as MISSION_PREFIX, mission_spec
from toolnexus.notebook.cell_errors import CELL
from toolnexus.notebook.cell_missions import remembered, subscribe as subscribe_missions

TARGET = "toolnexus.kernel_tools"
log = logging.getLogger("toolnexus.notebook")


def kernel_tools(registry: Any) -> list[ToolSpec]:
    """The tools of ``registry`` defined in this kernel (``@tn.tool`` in a notebook cell, i.e. ``__main__``)."""
    return [spec for spec in registry.list() if (spec.entry.target or "").startswith("__main__:")]


def _spec_json(spec: ToolSpec) -> dict[str, Any]:
    return spec.model_dump(mode="json", exclude_none=True)


class _CommChannel(CallChannel):
    """Sends a running call's progress back to the server over the comm (from any thread)."""

    wants_progress = True

    def __init__(self, server: KernelToolServer, call_id: str) -> None:
        self.server, self.call_id = server, call_id

    def progress(self, progress: float, total: float | None = None, message: str | None = None) -> None:
        """Pass the progress on to the server."""
        self.server.send({"op": "progress", "call": self.call_id, "progress": progress, "total": total,
                          "message": message})


class KernelToolServer:
    """The kernel's end of the comm: announces tools, runs forwarded calls (see the module docstring)."""

    def __init__(self, nexus: Any, tools: list[str] | None = None) -> None:
        self.nexus = nexus
        self.only = set(tools) if tools is not None else None
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self._saved_sigint: Any = None
        from comm import create_comm

        self.comm = create_comm(target_name=TARGET, data={"op": "tools", "tools": self.tools()})
        self.comm.on_msg(self._on_msg)
        self._unsubscribe = nexus.registry.subscribe(self._on_registry_change)
        self._unsubscribe_missions = subscribe_missions(self.announce)

    def tools(self) -> list[dict[str, Any]]:
        """The announced tools' specs, as JSON: the kernel's ``@tn.tool`` functions, then its cell missions."""
        specs = kernel_tools(self.nexus.registry) + list(self._missions().values())
        return [_spec_json(s) for s in specs if self.only is None or s.name in self.only]

    def _missions(self) -> dict[str, ToolSpec]:
        """The ``%%mission`` cells that still compile, as tools (``mission.<name>``), by tool name."""
        found: dict[str, ToolSpec] = {}
        for name, loaded in remembered().items():
            try:
                plan = self.nexus.compile(loaded)
            except DiagnosticError:  # a tool it uses is gone since: not offered
                log.info("cell mission %s no longer compiles; not offered", name)
                continue
            spec = mission_spec(plan, Path(CELL))
            found[spec.name] = spec.model_copy(update={"source": f"%%mission cell ({name})"})
        return found

    def send(self, data: dict[str, Any]) -> None:
        """One message to the server (ignored once closed)."""
        if self.comm is not None:
            self.comm.send(data)

    def announce(self) -> None:
        """Tell the server the tools offered now."""
        self.send({"op": "tools", "tools": self.tools()})

    def close(self) -> None:
        """Stop serving: the server drops this kernel's tools."""
        self._unsubscribe()
        self._unsubscribe_missions()
        for task in self.tasks.values():
            task.cancel()
        comm, self.comm = self.comm, None
        if comm is not None:
            comm.close()

    def _on_registry_change(self, event: str, spec: ToolSpec) -> None:
        if (spec.entry.target or "").startswith("__main__:"):
            self.announce()

    def _on_msg(self, msg: dict[str, Any]) -> None:
        data = msg.get("content", {}).get("data", {}) or {}
        op = data.get("op")
        if op == "hello":
            self.announce()
        elif op == "call":
            self._start(data)
        elif op == "cancel":
            task = self.tasks.get(str(data.get("call")))
            if task is not None:
                task.cancel()

    def _start(self, data: dict[str, Any]) -> None:
        call_id = str(data["call"])
        deadline = data.get("deadline")
        if deadline is not None and time.time() > float(deadline):
            # The server gave up waiting (the kernel was busy): running it now would answer nobody.
            self.send({"op": "result", "call": call_id, "output": None,
                       "error": {"kind": "timeout", "message": "kernel busy: the call came too late to run"}})
            return
        self.send({"op": "started", "call": call_id})
        task = asyncio.get_running_loop().create_task(self._run(call_id, data))
        self.tasks[call_id] = task
        task.add_done_callback(lambda _: self._ended(call_id))

    def _ended(self, call_id: str) -> None:
        self.tasks.pop(call_id, None)
        if not self.tasks and self._saved_sigint is not None:
            _restore_sigint(self._saved_sigint)
            self._saved_sigint = None

    async def _run(self, call_id: str, data: dict[str, Any]) -> None:
        # Here, not in the message handler: ipykernel puts its own SIGINT handler back after each handler.
        if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGINT) is not _on_sigint:
            self._saved_sigint = signal.signal(signal.SIGINT, _on_sigint)
        caller = Caller.model_validate(data["caller"]) if data.get("caller") else None
        token = use_channel(_CommChannel(self, call_id))
        try:
            output, error = await _run_tool_or_mission(self, str(data["tool"]), dict(data.get("arguments") or {}),
                                                       caller, data.get("correlation_id"))
            self.send({"op": "result", "call": call_id, "output": output, "error": error})
        except (asyncio.CancelledError, KeyboardInterrupt):  # a cancel; an interrupt (see the module docstring)
            self.send({"op": "result", "call": call_id, "output": None,
                       "error": {"kind": "cancelled", "message": "cancelled in the kernel"}})
        except Exception as exc:  # a bug here must still answer the waiting agent
            log.exception("kernel tool call %s failed", call_id)
            self.send({"op": "result", "call": call_id, "output": None,
                       "error": {"kind": "runtime_error", "message": f"{type(exc).__name__}: {exc}"}})
        finally:
            reset_channel(token)


async def _run_tool_or_mission(server: KernelToolServer, tool: str, arguments: dict[str, Any],
                               caller: Caller | None, correlation_id: str | None) -> tuple[Any, Any]:
    """A forwarded call's output and error (JSON): a cell mission's run (its outputs), else the tool's call."""
    name = tool.removeprefix(MISSION_PREFIX)
    loaded = remembered().get(name) if tool.startswith(MISSION_PREFIX) else None
    if loaded is not None:
        try:
            run = await server.nexus.arun(loaded, arguments, caller=caller, correlation_id=correlation_id)
        except DiagnosticError as exc:  # the agent's inputs do not fit the mission's: its mistake, as data
            return None, {"kind": "invalid_arguments", "message": str(exc)}
        if run.ok:
            return run.outputs, None
        error = run.error.model_dump(mode="json") if run.error is not None else {
            "kind": "tool_error", "message": f"mission {name} {run.status.value}"}
        return None, error
    result = await server.nexus.acall(tool, arguments, caller=caller, correlation_id=correlation_id, origin="mcp")
    return result.output, None if result.error is None else result.error.model_dump(mode="json")


def _in_event_loop(frame: FrameType | None) -> bool:
    """Whether the interrupted code is the event loop itself (waiting in a selector, running its callbacks)."""
    return frame is not None and frame.f_code.co_filename.endswith(("selectors.py", "base_events.py", "events.py"))


def _on_sigint(signum: int, frame: FrameType | None) -> None:
    if _in_event_loop(frame):
        return  # the loop is free: the cancel message will be read; raising here would break the kernel
    raise KeyboardInterrupt


def _restore_sigint(saved: Any) -> None:
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, saved)


_served: KernelToolServer | None = None


def serve(nexus: Any = None, *, tools: list[str] | None = None) -> KernelToolServer:
    """Offer this kernel's ``@tn.tool`` functions (or only ``tools``, by name) to agents on the Jupyter MCP
    endpoint while the kernel lives; calls run here, through ``nexus`` (default: ``tn.default_nexus()``).

    Calling it again replaces the earlier offer; ``.close()`` on the returned object withdraws it.
    """
    global _served
    if process_surface() is not Surface.NOTEBOOK:
        raise Unavailable("tn.serve() offers a notebook kernel's tools to the Jupyter server it runs under: "
                          "call it in a Jupyter kernel (a notebook cell), not in a plain Python process")
    if nexus is None:
        from toolnexus.api import default_nexus

        nexus = default_nexus()
    if _served is not None:
        _served.close()
    _served = KernelToolServer(nexus, tools)
    return _served


__all__ = ["TARGET", "KernelToolServer", "kernel_tools", "serve"]
