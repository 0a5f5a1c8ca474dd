"""The process runtime: calls run in warm worker processes, with limits, killed on cancel or timeout.

Workers are plain ``subprocess.Popen`` children with blocking pipes driven from a thread, which keeps
them usable from any event loop (a notebook, the CLI and a server each run their own) and from any
thread. Each worker leads its own process group, so killing the group also kills whatever the tool
started.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
from collections import defaultdict
from collections.abc import Callable
from functools import partial
from typing import IO, Any

from pydantic import BaseModel, Field

from toolnexus.core.call import ToolCall
from toolnexus.core.context import CallChannel, ToolContext, current_channel
from toolnexus.core.errors import ErrorKind, ToolError
from toolnexus.core.runtime import RuntimeOutcome
from toolnexus.core.spec import Limits, ToolSpec
from toolnexus.errors import Refused, SandboxError
from toolnexus.sandbox.acl import grant_workspace
from toolnexus.sandbox.cgroups import WorkerCgroup, cgroup_available
from toolnexus.sandbox.isolation import (
    SandboxView,
    bwrap_path,
    trusted_names,
    unreadable_python_paths,
)
from toolnexus.sandbox.limits import DefaultCaps
from toolnexus.sandbox.pooled import call_pooled
from toolnexus.sandbox.protocol import read_frame, write_frame
from toolnexus.sandbox.users import SANDBOX_UIDS, SandboxUser

PoolKey = tuple[int | None, int | None]


class ProcessIsolation(BaseModel):
    """How strongly worker processes are isolated beyond resource limits and a scrubbed environment."""

    # A bare runtime is unconfined unless asked; a Nexus asks for "where available" (settings default).
    # Inside a pid namespace a tool sees its own pids, not the host's.
    namespaces: bool | None = Field(False, description="bubblewrap namespaces: True, False, or None for "
                                    "'where available'")
    network: bool = Field(False, description="let workers use the network (only with namespaces is it cut)")
    pids_max: int | None = Field(256, description="processes a worker and its children may have (a pids cgroup)")
    memory: int | None = Field(None, description="default memory cap of a worker and its children, in bytes, "
                               "for calls whose limits set none (a memory cgroup, else an address-space limit)")
    timeout: float | None = Field(None, description="default time limit of a call whose limits set none, seconds")
    user: str | int | None = Field(None, description="when we run as root: the unprivileged user sandboxed "
                                   "workers run as (default: a uid of the workspace's own)")
    readable: list[str] = Field(default_factory=list, description="more host folders workers may read")
    hidden: list[str] = Field(default_factory=list, description="folders in the workspace workers see empty "
                              "(toolnexus's state folder always)")
    read_only: list[str] = Field(default_factory=list, description="paths in the workspace workers see "
                                 "read-only (the configuration, tools/ and .git always)")

    def use_namespaces(self) -> bool:
        """Whether workers start in bubblewrap namespaces; raises when they are required but unavailable."""
        if self.namespaces is False:
            return False
        available = bwrap_path() is not None
        if self.namespaces and not available:
            raise RuntimeError("process isolation asks for namespaces, but bubblewrap is not available here")
        return available

    def open_workspace(self, workspace: str) -> None:
        """As root: let the sandbox user write ``workspace`` (what the host made there since, too), but
        nothing there that the host trusts. Cheap when nothing is new: one look at the top folder."""
        if os.geteuid() != 0 or not self.use_namespaces():
            return
        user = SandboxUser.resolve(self.user, workspace)
        grant_workspace(workspace, user.uid, trusted=trusted_names(workspace, self.read_only),
                        sandbox_uids=SANDBOX_UIDS)

    def view(self, workspace: str) -> SandboxView | None:
        """The sandbox workers run in, or None when they run without namespaces."""
        if not self.use_namespaces():
            return None
        user = SandboxUser.resolve(self.user, workspace)
        unreadable = unreadable_python_paths(user, workspace)
        if unreadable:
            raise OSError(f"the sandbox user (uid {user.uid}) cannot read the Python environment at "
                          f"{', '.join(unreadable)}: make it readable to all (chmod o+rx), or set [sandbox] user "
                          "to a user that can read it")
        return SandboxView(workspace, network=self.network, readable=list(self.readable), user=user,
                           hidden=list(self.hidden), read_only=list(self.read_only))


_SAFE_ENV = ("PATH", "LANG", "LC_ALL", "TZ", "SYSTEMROOT")


def scrubbed_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """A minimal environment: no credentials or tokens of ours reach a tool unless declared."""
    env = {k: os.environ[k] for k in _SAFE_ENV if k in os.environ}
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    env.setdefault("LANG", "C.UTF-8")
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


def _import_path(workspace: str) -> list[str]:
    """Our import path for a worker, with the folders in the workspace (which tools may write) last, so
    that nothing a tool wrote there can stand in for our own modules or the libraries'."""
    entries = [p for p in dict.fromkeys(sys.path) if p and os.path.isdir(p)]
    inside = [p for p in entries if os.path.realpath(p) == workspace or
              os.path.realpath(p).startswith(workspace.rstrip("/") + "/")]
    return [p for p in entries if p not in inside] + inside


class WorkerDied(SandboxError):
    """The worker process ended while a call was running in it."""

    def __init__(self, returncode: int | None, stderr_tail: str) -> None:
        self.returncode = returncode
        self.stderr_tail = stderr_tail
        self.out_of_memory = False
        super().__init__(f"worker exited ({returncode})")


class _NoWorker(SandboxError):
    """No worker could take a call: the workspace could not be opened to the sandbox, or none could start."""


class Worker:
    """One warm worker process."""

    def __init__(self, key: PoolKey, workspace: str, isolation: ProcessIsolation | None = None) -> None:
        self.key = key
        self._stderr: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 - closed by discard()
        memory, open_files = key
        isolation = isolation or ProcessIsolation(namespaces=False, pids_max=None)
        cgroup_memory = memory if memory and cgroup_available("memory") else None
        # An address-space limit where no memory cgroup holds the cap (or where the call asked for one:
        # the tool then gets a MemoryError it can handle instead of a kill).
        rlimit_memory = memory if memory and (cgroup_memory is None or memory != isolation.memory) else None
        env = scrubbed_env({
            "PYTHONPATH": os.pathsep.join(_import_path(workspace)),
            "TOOLNEXUS_WORKER_LIMITS": json.dumps({"memory": rlimit_memory, "open_files": open_files}),
        })
        # -P: the working folder (the workspace, which tools write) is not put first on the import path.
        argv = [sys.executable, "-P", "-m", "toolnexus.sandbox.worker"]
        view = isolation.view(workspace)
        if view is not None:
            env["HOME"] = "/tmp"
            env["TOOLNEXUS_SANDBOXED"] = "1"  # the worker ends what a call leaves running (see worker.py)
            isolation.open_workspace(workspace)
            argv = view.argv(argv)
        self.cgroup = WorkerCgroup.create(isolation.pids_max, cgroup_memory) if (
            isolation.pids_max or cgroup_memory) else None
        if self.cgroup is not None:
            # Join the cgroups before anything forks: a shell adds itself, then becomes the worker.
            joins = " && ".join(f"echo $$ > {shlex.quote(str(f))}" for f in self.cgroup.procs_files())
            argv = ["/bin/sh", "-c", f'{joins} && exec "$@"', "toolnexus-worker", *argv]
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self._stderr, cwd=workspace, env=env, start_new_session=True,
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self._in = self.proc.stdin
        self._out = self.proc.stdout
        self.ready = False

    def out_of_memory(self) -> bool:
        """Whether the kernel killed something of this worker for going over its memory cgroup's cap."""
        return self.cgroup is not None and self.cgroup.memory is not None and self.cgroup.out_of_memory()

    @property
    def pid(self) -> int:
        """The id of the process we started (bubblewrap, when sandboxed), which leads the worker's session."""
        return self.proc.pid

    def roundtrip(self, request: dict[str, Any],
                  on_event: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
        """Send one request and wait for its answer (blocking; run it in a thread). Events the tool sends
        meanwhile (progress, log records: frames with an ``event`` key) go to ``on_event``."""
        try:
            if not self.ready:
                hello = read_frame(self._out)
                if hello is None:
                    raise self._died()
                self.ready = True
            write_frame(self._in, request)
            response = read_frame(self._out)
            while isinstance(response, dict) and "event" in response:
                if on_event is not None:
                    on_event(response["event"])
                response = read_frame(self._out)
        except (BrokenPipeError, ValueError, OSError):
            raise self._died() from None
        if response is None:
            raise self._died()
        return response

    def _died(self) -> WorkerDied:
        try:
            code = self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.kill()
            code = self.proc.returncode
        try:
            self._stderr.seek(0, os.SEEK_END)
            size = self._stderr.tell()
            self._stderr.seek(max(0, size - 4096))
            tail = self._stderr.read().decode("utf-8", "replace")
        except (OSError, ValueError):
            tail = ""
        died = WorkerDied(code, tail)
        died.out_of_memory = self.out_of_memory()
        return died

    def kill(self) -> None:
        """Kill the worker and everything in its process group, and reap it.

        Safe from any thread, even while another one is blocked in :meth:`roundtrip` (which then
        sees the worker die); the pipes stay open until :meth:`discard`, when nobody uses them.
        """
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)

    def discard(self) -> None:
        """Kill the worker and close its pipes; only for a worker no thread is using."""
        self.kill()
        for stream in (self._in, self._out, self._stderr):
            with contextlib.suppress(OSError):
                stream.close()
        if self.cgroup is not None:
            self.cgroup.remove()

    @property
    def alive(self) -> bool:
        """Whether the worker process is still running."""
        return self.proc.poll() is None


class WorkerPool:
    """Warm workers keyed by their hard limits; at most ``max_workers`` alive at once."""

    def __init__(self, workspace: str, max_workers: int = 4, isolation: ProcessIsolation | None = None) -> None:
        self.isolation = isolation
        self.workspace = workspace
        self.max_workers = max_workers
        self._idle: dict[PoolKey, list[Worker]] = defaultdict(list)
        self._busy: set[Worker] = set()
        self._lock = threading.Condition()
        self._closed = False

    def acquire(self, key: PoolKey) -> Worker:
        """A worker with the hard limits ``key`` for one caller: an idle one, else a new one.

        At the cap, an idle worker of other limits is stopped to make room, or the caller waits for one
        in use to come back (blocking; run it in a thread).
        """
        with self._lock:
            while True:
                if self._closed:
                    raise RuntimeError("the process runtime is closed")
                idle = self._idle.get(key)
                while idle:
                    worker = idle.pop()
                    if worker.alive:
                        self._busy.add(worker)
                        return worker
                    worker.discard()
                live = len(self._busy) + sum(len(v) for v in self._idle.values())
                if live >= self.max_workers:
                    victim = next((ws.pop(0) for ws in self._idle.values() if ws), None)
                    if victim is None:
                        self._lock.wait()
                        continue
                    victim.discard()
                worker = Worker(key, self.workspace, self.isolation)
                self._busy.add(worker)
                return worker

    def release(self, worker: Worker, *, healthy: bool) -> None:
        """Give back a worker from :meth:`acquire`: kept warm if ``healthy`` and alive, discarded otherwise."""
        with self._lock:
            self._busy.discard(worker)
            if healthy and worker.alive and not self._closed:
                self._idle[worker.key].append(worker)
            else:
                worker.discard()
            self._lock.notify()

    def warm(self, key: PoolKey = (None, None), count: int = 1) -> None:
        """Start ``count`` workers now so the first calls pay no interpreter start-up."""
        workers = [self.acquire(key) for _ in range(count)]
        for worker in workers:
            with contextlib.suppress(WorkerDied):
                worker.roundtrip({"kind": "ping"})
            self.release(worker, healthy=True)

    def prespawn(self, key: PoolKey = (None, None), count: int = 1) -> int:
        """Start up to ``count`` idle workers without waiting for them: their interpreters boot while the
        caller goes on, and the first call waits only for what is left of start-up. Returns how many."""
        started = 0
        with self._lock:
            while not self._closed and len(self._idle.get(key, ())) < count:
                live = len(self._busy) + sum(len(v) for v in self._idle.values())
                if live >= self.max_workers:
                    break
                self._idle[key].append(Worker(key, self.workspace, self.isolation))
                started += 1
        return started

    def close(self) -> None:
        """Refuse new workers, discard the idle ones and kill those in use (their callers see them die)."""
        with self._lock:
            self._closed = True
            idle = [w for ws in self._idle.values() for w in ws]
            busy = list(self._busy)
            self._idle.clear()
            self._lock.notify_all()
        for worker in idle:
            worker.discard()
        for worker in busy:
            worker.kill()  # its caller sees it die and discards it on release

    def pids(self) -> list[int]:
        """The process ids of every worker alive, idle or busy."""
        with self._lock:
            return [w.pid for ws in self._idle.values() for w in ws] + [w.pid for w in self._busy]


class ProcessRuntime(DefaultCaps):
    """Runs Python tools (by ``module:qualname``) and command tools in warm worker processes."""

    name = "process"

    def __init__(self, context: ToolContext | None = None, max_workers: int = 4,
                 isolation: ProcessIsolation | None = None) -> None:
        self.context = context or ToolContext()
        self.isolation = isolation or ProcessIsolation()
        self.pool = WorkerPool(self.context.workspace, max_workers, self.isolation)

    def _request(self, spec: ToolSpec, call: ToolCall, limits: Limits) -> dict[str, Any]:
        context = self.context.model_copy(update={"run_id": call.run_id, "step_id": call.step_id})
        request: dict[str, Any] = {
            "arguments": call.arguments,
            "limits": limits.model_dump(mode="json"),
            "context": context.model_dump(mode="json"),
        }
        if spec.entry.kind == "command":
            request.update(kind="command", entry=spec.entry.model_dump(mode="json"), env=scrubbed_env())
        else:
            if not spec.entry.target or spec.entry.target.startswith("__main__:"):
                raise Refused(f"{spec.ref} has no importable implementation for a worker process "
                               "(tools defined in a notebook or __main__ run in-process; put it in a module)")
            request.update(kind="python", target=spec.entry.target)
        return request

    def default_timeout(self) -> float | None:
        """The ``[sandbox] timeout`` for calls that set none."""
        return self.isolation.timeout

    def default_memory(self) -> int | None:
        """The worker memory cap for calls that set none."""
        return self.isolation.memory

    async def _invoke(self, spec: ToolSpec, call: ToolCall, limits: Limits) -> RuntimeOutcome:
        try:
            request = self._request(spec, call, limits)
        except Refused as exc:
            return RuntimeOutcome(error=ToolError(kind=ErrorKind.RUNTIME_ERROR, message=str(exc)))
        key: PoolKey = (limits.memory, limits.open_files)
        channel = current_channel()
        if channel.wants_progress or channel.log_level is not None:
            # The caller wants the tool's progress or logs: the worker sends them back as events.
            request["relay"] = {"progress": channel.wants_progress, "log_level": channel.log_level}
        on_event = partial(_relay, channel)

        def acquire() -> Worker:
            try:
                # Folders the host made since the worker started (an earlier step's output) are the tool's
                # too; in this thread, since a new folder's walk is file-system work the loop must not wait on.
                self.isolation.open_workspace(self.context.workspace)
            except OSError as exc:
                raise _NoWorker(f"cannot open the workspace to the sandbox: {exc}") from exc
            try:
                return self.pool.acquire(key)
            except (RuntimeError, OSError) as exc:  # closed, or no worker process could start
                raise _NoWorker(f"no worker process: {exc}") from exc

        def talk(worker: Worker) -> dict[str, Any]:
            try:
                return worker.roundtrip(request, on_event)
            except WorkerDied as died:
                return {"died": True, "returncode": died.returncode, "stderr": died.stderr_tail,
                        "out_of_memory": died.out_of_memory}

        async def kill(worker: Worker) -> None:
            # Cancelled (or timed out): the worker and its process group die before we let go. Right here,
            # not in a thread: a kill must not wait for a thread that the calls in flight may all hold.
            worker.kill()

        try:
            response = await call_pooled(self.pool, talk, kill, acquire=acquire)
        except _NoWorker as exc:
            return RuntimeOutcome(error=ToolError(kind=ErrorKind.RUNTIME_ERROR, message=str(exc), retryable=False))
        return _outcome(response, limits)

    def prewarm(self, count: int = 1) -> int:
        """Have ``count`` default-limit workers booting now, for calls expected soon (a mission's steps)."""
        try:
            return self.pool.prespawn((self.isolation.memory, None), count)
        except OSError:
            return 0  # a failed spawn shows up, with its reason, when a call needs the worker

    async def aclose(self) -> None:
        """Close the worker pool (see :meth:`close`)."""
        self.pool.close()

    def close(self) -> None:
        """Stop every worker: idle ones now, busy ones killed under their calls, which end as failures."""
        self.pool.close()


def _relay(channel: CallChannel, event: dict[str, Any]) -> None:
    """An event a worker sent during a call, handed to the call's channel (from the waiting thread)."""
    if "progress" in event:
        progress, total, message = event["progress"]
        channel.progress(float(progress), None if total is None else float(total), message)
    elif "log" in event:
        channel.log(logging.makeLogRecord(event["log"]))


def _outcome(response: dict[str, Any], limits: Limits) -> RuntimeOutcome:
    if response.get("died"):
        code = response.get("returncode")
        if code == -signal.SIGXCPU:
            error = ToolError(kind=ErrorKind.LIMIT_EXCEEDED, message=f"CPU time limit of {limits.cpu_time}s reached")
        elif response.get("out_of_memory"):
            error = ToolError(kind=ErrorKind.LIMIT_EXCEEDED,
                              message=f"memory limit of {_size(limits.memory)} reached: the tool was killed",
                              details={"memory": limits.memory})
        elif code == -signal.SIGKILL and limits.memory:
            error = ToolError(kind=ErrorKind.LIMIT_EXCEEDED, message="the worker was killed (memory limit reached?)")
        else:
            tail = " | ".join(str(response.get("stderr", "")).strip().splitlines()[-3:])
            error = ToolError(kind=ErrorKind.RUNTIME_ERROR,
                              message=f"the worker process died (exit {code})" + (f": {tail}" if tail else ""),
                              retryable=True)
        return RuntimeOutcome(error=error, stderr=response.get("stderr"))
    if response.get("ok"):
        return RuntimeOutcome(output=response.get("output"), stderr=response.get("stderr"))
    return RuntimeOutcome(error=ToolError.model_validate(response["error"]), stderr=response.get("stderr"))


def _size(amount: int | None) -> str:
    if amount is None:
        return "the sandbox's default"
    for unit, factor in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if amount >= factor:
            return f"{amount / factor:g} {unit}"
    return f"{amount} bytes"
