"""The wasm runtime: WASI command modules under wasmtime, each call in a fresh store.

A wasm tool is a WASI command module (``.wasm``, or ``.wat`` compiled at load): JSON arguments on stdin,
a JSON result on stdout, stderr captured. A call's store sees only the folders the tool declares
(read-only unless declared writable), only the environment it declares, and at most ``limits.memory``
bytes of linear memory. Guests run in worker threads and are stopped through wasmtime's epoch
interruption: a cancelled call (a timeout is one) makes its guest trap within a tick, and the call
returns only once the guest's thread has ended. Compiled modules are cached in memory and on disk
(:mod:`toolnexus.sandbox.wasm_cache`), so a warm call pays instantiation, not compilation.

``python.exec`` with ``runtime: wasm`` runs its snippet in CPython for WASI
(:mod:`toolnexus.sandbox.wasm_python`, the optional ``wasm-python`` extra).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio

from toolnexus.core.call import ToolCall
from toolnexus.core.context import ToolContext
from toolnexus.core.errors import ErrorKind, ToolError
from toolnexus.core.runtime import RuntimeOutcome
from toolnexus.core.spec import Limits, ToolSpec, is_python_exec
from toolnexus.errors import Refused
from toolnexus.sandbox import wasm_python
from toolnexus.sandbox.limits import DEFAULT_MEMORY, DEFAULT_TIMEOUT, DefaultCaps
from toolnexus.sandbox.wasm_cache import CompiledModule, ModuleCache, ModuleError, default_cache_dir
from toolnexus.sandbox.wasm_engine import Guest, GuestExit, Preopen, WasmEngine, shared_engine

__all__ = ["WasmRuntime", "default_cache_dir"]


@dataclass
class _Job:
    """What one call runs: which module, with what argv, stdin and preopens."""

    module: str
    argv: list[str]
    stdin: bytes
    env: dict[str, str]
    preopens: list[Preopen]
    sha256: str | None = None
    python: bool = False


class _GuestThread:
    """A call's work in its worker thread: load the module if the guest has none, then run the guest."""

    def __init__(self, guest: Guest, modules: ModuleCache, job: _Job) -> None:
        self.guest = guest
        self.modules = modules
        self.job = job
        self.started = False
        self.loading = False
        self.done = threading.Event()

    def waits_for(self) -> bool:
        """Whether a cancelled call must wait for this thread: it started, and is not loading the module.
        Asked after the guest was interrupted: a thread that starts later sees that and runs no guest code."""
        return self.started and not self.loading

    def run(self) -> GuestExit:
        self.started = True
        try:
            if self.guest.pre is None and self.guest.stopped is None:
                self.loading = True
                try:
                    self.guest.pre = self.modules.load(self.job.module, self.job.sha256).pre
                finally:
                    self.loading = False
            return self.guest.run()
        finally:
            self.done.set()


class WasmRuntime(DefaultCaps):
    """Runs WASI command modules (and ``python.exec`` snippets) in wasmtime, one fresh store per call.

    ``cache_dir`` holds compiled modules (default ``~/.cache/toolnexus/wasm``); ``persist=False`` keeps
    them in memory only. ``stop_grace`` bounds how long a cancelled call waits for its guest to stop;
    only a guest stuck in a host call for longer is left behind (its thread ends when the call does).
    """

    name = "wasm"

    def __init__(
        self,
        context: ToolContext | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        *,
        persist: bool = True,
        stop_grace: float = 5.0,
        memory: int | None = DEFAULT_MEMORY,
        timeout: float | None = DEFAULT_TIMEOUT,
    ) -> None:
        self.context = context or ToolContext()
        # Caps for calls whose limits set none: a guest's linear memory, and how long it may run.
        self.memory = memory
        self.timeout = timeout
        self.engine: WasmEngine = shared_engine()
        self.modules = ModuleCache(self.engine, (cache_dir or default_cache_dir()) if persist else None)
        self.stop_grace = stop_grace
        self._guests: set[Guest] = set()
        self._closed = False

    def default_timeout(self) -> float | None:
        """The ``[sandbox] timeout`` for calls that set none."""
        return self.timeout

    def default_memory(self) -> int | None:
        """The guest memory cap for calls that set none (passed to the engine through ``limits``)."""
        return self.memory

    async def _invoke(self, spec: ToolSpec, call: ToolCall, limits: Limits) -> RuntimeOutcome:
        if self._closed:
            return _error(ErrorKind.RUNTIME_ERROR, "the wasm runtime is closed")
        try:
            job = self._job(spec, call)
        except (Refused, wasm_python.PythonWasmUnavailable) as exc:
            return _error(ErrorKind.RUNTIME_ERROR, str(exc))
        # A module in memory is used as it is; any other is loaded (from disk, or compiled) in the same
        # worker thread that then runs the guest: one thread handoff per call instead of two.
        compiled = self.modules.peek(job.module) if job.sha256 is None else None
        scratch = tempfile.mkdtemp(prefix="toolnexus-wasm-") if job.python else None
        try:
            if scratch is not None:
                job.preopens.append(Preopen(scratch, wasm_python.SCRATCH, writable=True))
            result = await self._run(job, self._guest(job, compiled, limits))
        except ModuleError as exc:
            return _error(ErrorKind.RUNTIME_ERROR, str(exc))
        finally:
            if scratch is not None:
                shutil.rmtree(scratch, ignore_errors=True)
        return self._outcome(spec, job, result, limits)

    def _job(self, spec: ToolSpec, call: ToolCall) -> _Job:
        entry = spec.entry
        if is_python_exec(spec):
            return _Job(
                module=wasm_python.python_wasm_path(),
                argv=wasm_python.argv(),
                stdin=wasm_python.stdin(call.arguments),
                env={},
                preopens=[],
                sha256=wasm_python.PYTHON_WASM_SHA256,
                python=True,
            )
        if entry.kind != "wasm" or not entry.module:
            raise Refused(
                f"{spec.ref} is not a wasm tool ({entry.kind}); the wasm runtime runs WASI modules and python.exec"
            )
        workspace = Path(self.context.workspace)
        preopens = []
        for mount in entry.mounts:
            host = Path(mount.host) if os.path.isabs(mount.host) else workspace / mount.host
            if not host.is_dir():
                raise Refused(f"{spec.ref} mounts {host} at {mount.guest}, but that folder does not exist")
            preopens.append(Preopen(str(host), mount.guest, mount.writable))
        module = entry.module if os.path.isabs(entry.module) else str(workspace / entry.module)
        return _Job(
            module=module,
            argv=[Path(module).stem],
            stdin=json.dumps(call.arguments).encode(),
            env=dict(entry.env),
            preopens=preopens,
        )

    def _guest(self, job: _Job, compiled: CompiledModule | None, limits: Limits) -> Guest:
        return Guest(
            self.engine,
            compiled.pre if compiled is not None else None,
            argv=job.argv,
            stdin=job.stdin,
            env=job.env,
            preopens=job.preopens,
            memory=limits.memory,
            cpu_time=limits.cpu_time,
            max_output=limits.max_output,
        )

    async def _run(self, job: _Job, guest: Guest) -> GuestExit:
        """Load the module if ``guest`` has none yet, then run ``guest``, in one worker thread.

        When the caller is cancelled, the guest is interrupted and the call waits (shielded, at most
        ``stop_grace``) for its thread to end before the cancellation propagates. A thread still loading the
        module is not waited for: compiling cannot be interrupted, so it is left to finish (and be cached),
        and the guest, already interrupted, never starts; nor is one that has not started (waiting for a
        free worker thread): if it starts, it finds the guest interrupted and returns at once. Raises
        ModuleError for a module that cannot be used.
        """
        thread = _GuestThread(guest, self.modules, job)
        self._guests.add(guest)
        if self._closed:  # closed since invoke() checked: close() may have missed this guest
            guest.interrupt("cancelled")
        try:
            # Cancellation is caught rather than watched by a helper task: this path runs on every call.
            return await anyio.to_thread.run_sync(thread.run, abandon_on_cancel=True)
        except anyio.get_cancelled_exc_class():
            guest.interrupt("cancelled")
            if thread.waits_for():
                with anyio.CancelScope(shield=True):
                    # A limiter of its own: when every default worker thread is taken (by guests, say),
                    # waiting for one would hold this wait past stop_grace.
                    await anyio.to_thread.run_sync(thread.done.wait, self.stop_grace, limiter=anyio.CapacityLimiter(1))
            raise
        finally:
            self._guests.discard(guest)

    def _outcome(self, spec: ToolSpec, job: _Job, result: GuestExit, limits: Limits) -> RuntimeOutcome:
        """The call's outcome from how the guest ended: stopped, over a limit, failed, or its JSON output."""
        stopped = _stopped(spec, result, limits)
        if stopped is not None:
            return stopped
        assert result is not None
        stderr = result.stderr or None
        if not result.started:
            return _not_started(spec, job, result, limits, stderr)
        if result.trap is not None or result.code != 0:
            return _failed(result, limits, stderr)
        text = result.stdout.decode("utf-8", "replace").strip()
        try:
            output = json.loads(text) if text else None
        except json.JSONDecodeError as exc:
            return _error(
                ErrorKind.OUTPUT_INVALID,
                f"the module printed no valid JSON on stdout ({exc.msg} at char {exc.pos})",
                stderr,
            )
        if job.python:
            return wasm_python.outcome(output, stderr)
        return RuntimeOutcome(output=output, stderr=stderr)

    async def aclose(self) -> None:
        """Close the runtime (see :meth:`close`)."""
        self.close()

    def close(self) -> None:
        """Refuse new calls and stop running guests (their calls end with a ``cancelled`` error)."""
        self._closed = True
        for guest in list(self._guests):
            guest.interrupt("cancelled")


def _stopped(spec: ToolSpec, result: GuestExit | None, limits: Limits) -> RuntimeOutcome | None:
    """The error of a guest the host stopped (closing, internal failure, CPU or output cap); None if not stopped."""
    if result is None or result.stopped == "cancelled":
        return _error(ErrorKind.CANCELLED, f"{spec.ref} was stopped (the wasm runtime is closing)")
    if result.stopped == "internal":
        return _error(ErrorKind.RUNTIME_ERROR, f"{spec.ref} was stopped: the runtime could not watch its output")
    stderr = result.stderr or None
    cap = limits.max_output
    if result.stopped == "cpu_time":
        return _error(ErrorKind.LIMIT_EXCEEDED, f"CPU time limit of {limits.cpu_time:g}s reached", stderr)
    if result.stopped in ("stdout", "stderr") or (cap is not None and result.stdout_size > cap):
        stream = result.stopped or "stdout"
        return _error(ErrorKind.LIMIT_EXCEEDED, f"output on {stream} went over the {cap}-byte cap", stderr)
    return None


def _not_started(spec: ToolSpec, job: _Job, result: GuestExit, limits: Limits, stderr: str | None) -> RuntimeOutcome:
    """The error of a module that could not start (its memory over the limit, or another trap)."""
    if limits.memory is not None and "memory" in (result.trap or "") and "limit" in (result.trap or ""):
        return _error(
            ErrorKind.LIMIT_EXCEEDED,
            f"{spec.ref} needs more memory than its limit of {limits.memory} bytes",
            stderr,
        )
    return _error(ErrorKind.RUNTIME_ERROR, f"cannot start {job.module}: {result.trap}", stderr)


def _failed(result: GuestExit, limits: Limits, stderr: str | None) -> RuntimeOutcome:
    """The error of a module that trapped or exited non-zero (at its memory cap, or the tool's own failure)."""
    if _at_memory_cap(result, limits.memory):
        return _error(
            ErrorKind.LIMIT_EXCEEDED,
            f"memory limit of {limits.memory} bytes reached (the module failed with "
            f"{result.memory} bytes of memory)",
            stderr,
            details={"memory": result.memory, "limit": limits.memory},
        )
    tail = " | ".join(result.stderr.strip().splitlines()[-5:])
    how = f"trapped: {result.trap}" if result.trap is not None else f"exited with status {result.code}"
    return _error(
        ErrorKind.TOOL_ERROR,
        f"the module {how}" + (f": {tail}" if tail else ""),
        stderr,
        details={"exit_code": result.code} if result.trap is None else {"trap": result.trap},
    )


def _at_memory_cap(result: GuestExit, limit: int | None) -> bool:
    """Whether a failed guest failed at its memory cap. wasmtime answers a refused ``memory.grow`` with -1
    and tells the host nothing, so this is inferred: the memory stood within an eighth of the cap."""
    if limit is None or result.memory is None:
        return False
    return result.memory + max(65536, limit // 8) > limit


def _error(
    kind: ErrorKind,
    message: str,
    stderr: str | None = None,
    details: dict[str, Any] | None = None,
) -> RuntimeOutcome:
    return RuntimeOutcome(error=ToolError(kind=kind, message=message, details=details or {}), stderr=stderr)
