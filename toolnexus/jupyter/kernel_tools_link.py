"""The server's link to one kernel: its iopub stream read for the kernel-tools comm, calls sent on its shell.

See ``toolnexus.jupyter.kernel_tools`` for the protocol. One :class:`KernelLink` per running kernel; it tells
its owner the kernel's tools through ``on_tools(kernel_id, specs)`` (an empty list: none any more).
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import logging
import time
from collections.abc import Callable
from contextlib import suppress
from typing import Any

from toolnexus.core.caller import current_identity
from toolnexus.core.context import current_channel, report_progress
from toolnexus.core.errors import ErrorKind, ToolFailure

log = logging.getLogger("toolnexus.jupyter")
TARGET = "toolnexus.kernel_tools"  # the comm target (toolnexus.notebook.serve.TARGET; the server never imports it)
_ids = itertools.count(1)


class _Pending:
    """One forwarded call: started once the kernel took it, done with its result."""

    def __init__(self) -> None:
        self.channel = current_channel()  # the caller's (the MCP request's): progress read on iopub goes there
        self.started = asyncio.Event()
        self.result: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()


class KernelLink:
    """Reads one kernel's iopub for the comm, forwards calls to it (see the module docstring)."""

    def __init__(self, kernel_id: str, manager: Any, on_tools: Callable[[str, list[dict[str, Any]]], None], *,
                 busy_timeout: float, tick: float = 1.0, cancel_grace: float = 2.0) -> None:
        from jupyter_client.asynchronous import AsyncKernelClient

        self.kernel_id, self.manager, self.on_tools = kernel_id, manager, on_tools
        self.busy_timeout, self.tick, self.cancel_grace = busy_timeout, tick, cancel_grace
        self.client = AsyncKernelClient()
        self.client.load_connection_info(manager.get_connection_info())
        self.comm_id: str | None = None
        self.pending: dict[str, _Pending] = {}
        self._task: asyncio.Task[None] | None = None
        self._watches: set[asyncio.Future[None]] = set()

    def start(self) -> None:
        """Connect and read the kernel's messages in a task of the server's loop."""
        self.client.start_channels(shell=True, iopub=True, stdin=False, hb=False, control=False)
        self._task = asyncio.ensure_future(self._read())

    async def stop(self) -> None:
        """Stop reading; waiting calls end with an error (the kernel has gone)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with suppress(asyncio.CancelledError, Exception):
                await task
        self._drop("the kernel has shut down")
        self.client.stop_channels()

    def _drop(self, why: str) -> None:
        self.comm_id = None
        for pending in self.pending.values():
            if not pending.result.done():
                pending.result.set_result({"error": {"kind": "runtime_error", "message": why}})
        self.on_tools(self.kernel_id, [])

    def _send(self, data: dict[str, Any]) -> None:
        if self.comm_id is None:
            raise ToolFailure("the kernel no longer serves its tools", kind=ErrorKind.RUNTIME_ERROR)
        self.client.shell_channel.send(self.client.session.msg("comm_msg", {"comm_id": self.comm_id, "data": data}))

    async def _read(self) -> None:
        # Someone may have called tn.serve() before we connected: ask the kernel for its open comms (the reply
        # comes on shell, read by a task of its own) and say hello to ours, which announces its tools again.
        hello = asyncio.ensure_future(self._hello())
        try:
            while True:
                msg = await self.client.get_iopub_msg()
                try:
                    self._handle(msg)
                except Exception:  # a malformed message must not stop the link
                    log.exception("kernel %s: bad kernel-tools message", self.kernel_id)
        finally:
            hello.cancel()

    async def _hello(self) -> None:
        asking = self.client.comm_info(target_name=TARGET)
        while True:
            reply = await self.client.get_shell_msg()
            if reply["parent_header"].get("msg_id") == asking:
                break
        for comm_id, info in reply["content"].get("comms", {}).items():
            if info.get("target_name") == TARGET and self.comm_id is None:
                self.comm_id = comm_id
                self._send({"op": "hello"})

    def _handle(self, msg: dict[str, Any]) -> None:
        kind, content = msg["msg_type"], msg["content"]
        if kind == "comm_open" and content.get("target_name") == TARGET:
            self.comm_id = content["comm_id"]
            self._data(content.get("data") or {})
        elif kind == "comm_msg" and content.get("comm_id") == self.comm_id:
            self._data(content.get("data") or {})
        elif kind == "comm_close" and content.get("comm_id") == self.comm_id:
            self._drop("the kernel stopped serving its tools")
        elif kind == "status" and content.get("execution_state") == "starting" and self.comm_id is not None:
            self._drop("the kernel restarted")  # a restarted kernel has lost its tools (and its comm)

    def _data(self, data: dict[str, Any]) -> None:
        op = data.get("op")
        if op == "tools":
            self.on_tools(self.kernel_id, list(data.get("tools") or []))
            return
        pending = self.pending.get(str(data.get("call")))
        if pending is None:
            return
        if op == "started":
            pending.started.set()
        elif op == "progress":
            total = data.get("total")
            pending.channel.progress(float(data.get("progress") or 0), None if total is None else float(total),
                                     data.get("message"))
        elif op == "result" and not pending.result.done():
            pending.started.set()
            pending.result.set_result(data)

    # -- a call -------------------------------------------------------------------------------

    async def call(self, tool: str, arguments: dict[str, Any]) -> Any:
        """Run ``tool`` in the kernel as the current caller; its output, or a ToolFailure."""
        call_id = f"{self.kernel_id[:8]}-{next(_ids)}"
        identity = current_identity()
        pending = self.pending[call_id] = _Pending()
        try:
            self._send({"op": "call", "call": call_id, "tool": tool, "arguments": arguments,
                        "caller": identity.caller.model_dump(mode="json") if identity and identity.caller else None,
                        "correlation_id": identity.correlation_id if identity else None,
                        "deadline": time.time() + self.busy_timeout})
            await self._wait_started(pending, call_id)
            data = await asyncio.shield(pending.result)  # a cancel must not cancel the future: _cancel watches it
        except asyncio.CancelledError:
            self._cancel(call_id, pending)
            raise
        finally:
            if pending.result.done() or not pending.started.is_set():
                self.pending.pop(call_id, None)  # else kept until the kernel answers the cancel (_cancel)
        error = data.get("error")
        if error:
            raise ToolFailure(str(error.get("message", "the kernel's call failed")),
                              kind=error.get("kind", ErrorKind.TOOL_ERROR), details=error.get("details") or {})
        return data.get("output")

    async def _wait_started(self, pending: _Pending, call_id: str) -> None:
        """Wait for the kernel to take the call, with progress; "kernel busy" after ``busy_timeout``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.busy_timeout
        waited = 0.0
        while not pending.started.is_set():
            left = deadline - loop.time()
            if left <= 0:
                with suppress(ToolFailure):
                    self._send({"op": "cancel", "call": call_id})
                raise ToolFailure(f"kernel busy: the kernel did not take the call within {self.busy_timeout:g} s "
                                  "(it is running a cell); try again when it is idle",
                                  kind=ErrorKind.TIMEOUT, retryable=True)
            with suppress(TimeoutError):
                await asyncio.wait_for(pending.started.wait(), min(self.tick, left))
            waited += self.tick
            if not pending.started.is_set():
                report_progress(waited, None, "waiting for the kernel: it is busy running a cell")

    def _cancel(self, call_id: str, pending: _Pending) -> None:
        """Cancel the call in the kernel; interrupt the kernel if it does not answer (busy in the tool's code)."""
        with suppress(ToolFailure):
            self._send({"op": "cancel", "call": call_id})
        if pending.started.is_set() and not pending.result.done():
            watch = asyncio.ensure_future(self._interrupt_unless_answered(call_id, pending))
            self._watches.add(watch)  # held until done: the loop keeps only weak references to tasks
            watch.add_done_callback(self._watches.discard)

    async def _interrupt_unless_answered(self, call_id: str, pending: _Pending) -> None:
        try:
            await asyncio.wait_for(asyncio.shield(pending.result), self.cancel_grace)
        except TimeoutError:
            # The kernel's loop is stuck in the tool's code (an async tool that blocks): the last resort.
            log.warning("kernel %s did not stop a cancelled call: interrupting it", self.kernel_id)
            interrupted = self.manager.interrupt_kernel()
            if inspect.isawaitable(interrupted):
                await interrupted
        except Exception:
            log.exception("kernel %s: cancelling a call", self.kernel_id)
        finally:
            self.pending.pop(call_id, None)
