"""The worker process of the process runtime: runs calls sent over stdin, answers over stdout.

Started once and kept warm; hard resource limits are applied at start (so a tool cannot raise them),
CPU time per call through the soft limit. Python-level prints of a tool are captured per call; the
protocol uses a private copy of the original stdout so nothing a tool writes can corrupt it.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import logging
import os
import resource
import select
import signal
import subprocess
import sys
import threading
import traceback
from typing import IO, Any

from toolnexus.sandbox.protocol import read_frame, write_frame


def _apply_hard_limits(limits: dict[str, Any]) -> None:
    if limits.get("memory"):
        resource.setrlimit(resource.RLIMIT_AS, (int(limits["memory"]), int(limits["memory"])))
    if limits.get("open_files"):
        resource.setrlimit(resource.RLIMIT_NOFILE, (int(limits["open_files"]), int(limits["open_files"])))


def _error(kind: str, message: str, retryable: bool = False, **details: Any) -> dict[str, Any]:
    return {"ok": False, "error": {"kind": kind, "message": message, "retryable": retryable, "details": details}}


def _resolve(target: str) -> Any:
    module_name, _, qualname = target.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    spec = getattr(obj, "__toolnexus_spec__", None)
    return spec.callable if spec is not None and spec.callable is not None else obj


def _run_python(request: dict[str, Any]) -> Any:
    from toolnexus.core.bounds import capping_output

    fn = _resolve(request["target"])
    # The call's own output cap, which a @tool measures its result against before converting it.
    with capping_output((request.get("limits") or {}).get("max_output")):
        if getattr(fn, "is_async", False):
            import asyncio

            return asyncio.run(fn.acall(request["arguments"]))
        if hasattr(fn, "bind_arguments"):
            return fn(request["arguments"])
        return fn(**request["arguments"])


def _child_limits(limits: dict[str, Any]) -> Any:
    def apply() -> None:
        if limits.get("cpu_time"):
            seconds = int(limits["cpu_time"]) + 1
            # A soft limit below the hard one: the kernel sends SIGXCPU (which says why) rather
            # than the SIGKILL it sends at the hard limit.
            resource.setrlimit(resource.RLIMIT_CPU, (seconds, seconds + 1))
    return apply


def _children_cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def _run_command(request: dict[str, Any]) -> dict[str, Any]:
    entry = request["entry"]
    max_output = int(request["limits"].get("max_output") or 16 * 2**20)
    env = dict(request.get("env") or {})
    env.update(entry.get("env") or {})
    # The command stays in the worker's process group, so killing the group on cancel kills it too.
    cpu_before = _children_cpu()
    proc = subprocess.Popen(entry["argv"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            cwd=entry.get("cwd") or None, env=env, preexec_fn=_child_limits(request["limits"]))
    stdout, stderr = proc.communicate(json.dumps(request["arguments"]).encode())
    err_text = stderr[-65536:].decode("utf-8", "replace")
    cpu_limit = request["limits"].get("cpu_time")
    if cpu_limit and (proc.returncode == -signal.SIGXCPU or (
            proc.returncode == -signal.SIGKILL and _children_cpu() - cpu_before >= float(cpu_limit))):
        return {**_error("limit_exceeded", f"CPU time limit of {cpu_limit}s reached"), "stderr": err_text}
    if len(stdout) > max_output:
        return _error("limit_exceeded", f"output of {len(stdout)} bytes is over the {max_output}-byte cap")
    if proc.returncode != 0:
        how = f"killed by signal {-proc.returncode}" if proc.returncode < 0 else f"exited with status {proc.returncode}"
        tail = err_text.strip().splitlines()[-5:]
        return {**_error("tool_error", f"command {how}" + (": " + " | ".join(tail) if tail else ""),
                         exit_code=proc.returncode), "stderr": err_text}
    text = stdout.decode("utf-8", "replace").strip()
    try:
        output = json.loads(text) if text else None
    except json.JSONDecodeError as exc:
        return {**_error("output_invalid", f"command printed no valid JSON on stdout ({exc.msg} at char {exc.pos})"),
                "stderr": err_text}
    return {"ok": True, "output": output, "stderr": err_text}


def handle(request: dict[str, Any]) -> dict[str, Any]:
    """Answer one request: a ping, or a command or Python tool run under the call's CPU limit and context.

    A tool's failure, and a limit it hits, are answers (``ok: False``), not exceptions.
    """
    if request.get("kind") == "ping":
        return {"ok": True, "output": os.getpid()}
    limits = request.get("limits") or {}
    cpu = limits.get("cpu_time")
    hard = resource.getrlimit(resource.RLIMIT_CPU)[1]
    if cpu:
        used = resource.getrusage(resource.RUSAGE_SELF)
        spent = used.ru_utime + used.ru_stime
        soft = int(spent + float(cpu)) + 1
        resource.setrlimit(resource.RLIMIT_CPU, (soft if hard == resource.RLIM_INFINITY else min(soft, hard), hard))
    else:
        # A warm worker serves many calls: lift the soft limit an earlier call may have set.
        resource.setrlimit(resource.RLIMIT_CPU, (hard, hard))
    context = request.get("context") or {}
    if context.get("workspace"):
        os.chdir(context["workspace"])
    if request.get("kind") == "command":
        return _run_command(request)
    from toolnexus.core.context import ToolContext, reset_context, use_context
    from toolnexus.core.errors import error_from_exception

    token = use_context(ToolContext(**context))
    relay = _Relay.start(request.get("relay"))
    captured = io.StringIO()
    try:
        with contextlib.redirect_stdout(captured), contextlib.redirect_stderr(captured):
            output = _run_python(request)
        body = json.dumps(output, default=str)
    except MemoryError:
        return {**_error("limit_exceeded", "the tool ran out of memory (memory limit reached)"), "recycle": True}
    except ImportError as exc:
        return _error("runtime_error", f"cannot import tool {request.get('target')}: {exc}")
    except Exception as exc:
        error = error_from_exception(exc)
        frames = traceback.extract_tb(exc.__traceback__)
        details = dict(error.details)
        if frames:
            details["where"] = f"{os.path.basename(frames[-1].filename)}:{frames[-1].lineno}"
        return {"ok": False, "error": {**error.model_dump(mode="json"), "details": details},
                "stderr": captured.getvalue()[-65536:]}
    finally:
        reset_context(token)
        if relay is not None:
            relay.stop()
    max_output = int(limits.get("max_output") or 16 * 2**20)
    if len(body) > max_output:
        return _error("limit_exceeded", f"output of {len(body)} bytes is over the {max_output}-byte cap")
    return {"ok": True, "output": json.loads(body), "stderr": captured.getvalue()[-65536:] or None}


_outbox: IO[bytes] | None = None  # the protocol stream to the parent (set by main)
_outbox_lock = threading.Lock()  # a tool's threads may report while the main thread answers


def _send_event(event: dict[str, Any]) -> None:
    if _outbox is None:
        return
    with _outbox_lock:
        write_frame(_outbox, {"event": event})


class _Relay(logging.Handler):
    """During one call, sends the tool's progress and log records back to the parent as events: the
    parent hands them to its caller's channel (an MCP client's progress and log notifications)."""

    def __init__(self, progress: bool, log_level: int | None) -> None:
        super().__init__(level=log_level or logging.CRITICAL + 1)
        self.wants_progress = progress
        self.log_level = log_level
        self._root_level = logging.getLogger().level

    @classmethod
    def start(cls, relay: dict[str, Any] | None) -> _Relay | None:
        if not relay:
            return None
        from toolnexus.core.context import CallChannel, use_channel

        handler = cls(bool(relay.get("progress")), relay.get("log_level"))

        class WorkerChannel(CallChannel):  # defined here: core.context (pydantic) loads with the first call
            wants_progress = handler.wants_progress
            log_level = handler.log_level

            def progress(self, progress: float, total: float | None = None, message: str | None = None) -> None:
                handler.send_progress(progress, total, message)

        handler._token = use_channel(WorkerChannel())
        if handler.log_level is not None:
            root = logging.getLogger()
            root.addHandler(handler)
            root.setLevel(min(root.getEffectiveLevel(), handler.log_level))  # this process is ours alone
        return handler

    def send_progress(self, progress: float, total: float | None, message: str | None) -> None:
        if self.wants_progress:
            _send_event({"progress": [progress, total, message]})

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:  # arguments that do not fit the format: send the format
            text = str(record.msg)
        _send_event({"log": {"name": record.name, "levelno": record.levelno, "levelname": record.levelname,
                             "msg": text}})

    def stop(self) -> None:
        from toolnexus.core.context import reset_channel

        reset_channel(self._token)
        root = logging.getLogger()
        root.removeHandler(self)
        root.setLevel(self._root_level)


def _die_with_parent() -> None:
    """Kill our process group when the parent dies (a SIGKILLed kernel or CLI), so no worker or tool
    process outlives it. The parent holds the only write end of our stdin pipe: when it dies, the
    pipe hangs up. A thread, because the main thread may be busy in a tool for a long time."""

    def watch() -> None:
        poller = select.poll()
        poller.register(0, 0)  # hang-ups are always reported; we ask for nothing else
        while True:
            for _, flags in poller.poll():
                if flags & (select.POLLHUP | select.POLLERR | select.POLLNVAL):
                    os.killpg(0, signal.SIGKILL)

    threading.Thread(target=watch, name="toolnexus-parent-watch", daemon=True).start()


def main() -> None:
    """Apply the hard limits, then serve the parent's requests one at a time until it closes our stdin."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when we stop
    _die_with_parent()
    alone = _alone_in_a_sandbox()
    _apply_hard_limits(json.loads(os.environ.pop("TOOLNEXUS_WORKER_LIMITS", "{}")))
    inbox = sys.stdin.buffer
    global _outbox
    outbox = _outbox = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything written to fd 1 from here on lands in our stderr, not in the protocol
    write_frame(outbox, {"ready": os.getpid()})
    while True:
        request = read_frame(inbox)
        if request is None:
            return
        try:
            response = handle(request)
        except MemoryError:
            response = {**_error("limit_exceeded", "the tool ran out of memory (memory limit reached)"),
                        "recycle": True}
        except Exception as exc:  # our own failure: report it as data, keep serving
            response = _error("runtime_error", f"worker failed: {type(exc).__name__}: {exc}")
        with _outbox_lock:
            write_frame(outbox, response)
        if alone:
            _end_leftovers()


def _alone_in_a_sandbox() -> bool:
    """Whether we run in a pid namespace of our own made by our sandbox (bubblewrap is its init), where
    every other process is something a call started."""
    if os.environ.pop("TOOLNEXUS_SANDBOXED", "") != "1":
        return False
    try:
        with open("/proc/1/cmdline", "rb") as init:
            return os.path.basename(init.read().split(b"\0", 1)[0]) == b"bwrap"
    except OSError:
        return False


def _end_leftovers() -> None:
    """Kill whatever a call left running (a daemonised child would otherwise outlive it into the next
    call), and reap it. In our own pid namespace, -1 reaches only its processes, never the host's."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(-1, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG) != (0, 0):
            pass


if __name__ == "__main__":
    main()
