"""The worker inside a toolnexus container: runs calls sent over stdin, answers over stdout.

Standard library only — it runs on the image's own Python, where toolnexus is not installed — and
copied into the base image (see :mod:`toolnexus.sandbox.images`). Framing is the process runtime's
(:mod:`toolnexus.sandbox.protocol`): a 4-byte big-endian length, then UTF-8 JSON.

Every call runs in a child (a command's process, or a fork for a ``python.exec`` snippet) with its own
scratch folder under /tmp, so a call can neither corrupt the worker nor leave state for the next one:
afterwards every other process of ours in the container is killed and the scratch folder removed.
The container's cgroup counters tell a memory kill and a fork bomb hitting the pids limit apart from
an ordinary failure.
"""

from __future__ import annotations

import builtins
import contextlib
import io
import json
import os
import resource
import selectors
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time

# `typing` only for the annotations, which are never evaluated: importing it costs every container's start.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import IO, Any

_HEADER = struct.Struct(">I")
MAX_FRAME = 1 << 30
STDERR_CAP = 65536
# Standard library only: this file runs inside the image, where toolnexus is not installed, so it
# keeps its own copy of python.exec's snippet runner (toolnexus/builtins/pyexec.py) and of this name.
PYEXEC_TARGET = "toolnexus.builtins.pyexec:exec_python"
SNIPPET_FILENAME = "<python.exec>"
_TRANSIENT = (ConnectionError, TimeoutError, BlockingIOError, InterruptedError)
# cgroup v2 path first, then v1; the engine mounts the container's own cgroup at /sys/fs/cgroup.
_OOM_FILES = ("/sys/fs/cgroup/memory.events", "/sys/fs/cgroup/memory/memory.oom_control")
_PIDS_FILES = ("/sys/fs/cgroup/pids.events", "/sys/fs/cgroup/pids/pids.events")
_PIDS_MAX_FILES = ("/sys/fs/cgroup/pids.max", "/sys/fs/cgroup/pids/pids.max")


def write_frame(stream: IO[bytes], message: Any) -> None:
    """Send ``message`` to the host as one frame (a copy of :func:`toolnexus.sandbox.protocol.write_frame`)."""
    body = json.dumps(message, separators=(",", ":"), default=str).encode("utf-8")
    stream.write(_HEADER.pack(len(body)) + body)
    stream.flush()


def read_frame(stream: IO[bytes]) -> Any | None:
    """The host's next message, or ``None`` when its stream ends (the host closed it or died)."""
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        return None
    (size,) = _HEADER.unpack(header)
    if size > MAX_FRAME:
        raise ValueError(f"frame of {size} bytes is over the limit")
    body = stream.read(size)
    return json.loads(body) if len(body) == size else None


def _error(kind: str, message: str, retryable: bool = False, **details: Any) -> dict[str, Any]:
    return {"ok": False, "error": {"kind": kind, "message": message, "retryable": retryable, "details": details}}


def _counter(paths: tuple[str, ...], key: str) -> int:
    for path in paths:
        try:
            with open(path) as handle:
                for line in handle:
                    name, _, value = line.partition(" ")
                    if name == key:
                        return int(value)
        except (OSError, ValueError):
            continue
    return 0


def _counters() -> tuple[int, int]:
    """(OOM kills, refused forks) so far in this container."""
    return _counter(_OOM_FILES, "oom_kill"), _counter(_PIDS_FILES, "max")


def _pids_max() -> str:
    for path in _PIDS_MAX_FILES:
        with contextlib.suppress(OSError), open(path) as handle:
            return handle.read().strip()
    return "?"


def _kill_strays(reap: bool = True) -> None:
    """Kill every process of ours but this worker (and the container's init), and reap our children.

    ``kill(-1)`` reaches all of them at once, so a fork bomb cannot outrun it for long.
    """
    me = os.getpid()
    for _ in range(200):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(-1, signal.SIGKILL)
        if reap:
            with contextlib.suppress(ChildProcessError):
                while os.waitpid(-1, os.WNOHANG)[0]:
                    pass
        if not _others(me):
            return
        time.sleep(0.005)  # let the kernel finish the kills before looking again


def _others(me: int) -> bool:
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) in (1, me):
            continue
        try:
            with open(f"/proc/{name}/stat") as handle:
                state = handle.read().rpartition(")")[2].split()[0]
        except (OSError, IndexError):
            continue
        if state not in ("Z", "X"):
            return True
    return False


def _cpu_limit(limits: dict[str, Any]) -> None:
    if limits.get("cpu_time"):
        seconds = int(float(limits["cpu_time"])) + 1
        # A soft limit below the hard one: the kernel sends SIGXCPU (which says why) rather than SIGKILL.
        resource.setrlimit(resource.RLIMIT_CPU, (seconds, seconds + 1))


class _Outcome:
    __slots__ = ("err", "out", "status", "verdict")

    def __init__(self) -> None:
        self.out = bytearray()
        self.err = bytearray()
        self.status = 0
        self.verdict: str | None = None


def _supervise(
    pid: int, stdin_fd: int | None, data: bytes, out_fd: int, err_fd: int, max_out: int, refused_before: int
) -> _Outcome:
    """Feed ``data`` to the child, collect its output under the cap, watch for a fork bomb; reap it."""
    outcome = _Outcome()
    selector = selectors.DefaultSelector()
    selector.register(out_fd, selectors.EVENT_READ)
    selector.register(err_fd, selectors.EVENT_READ)
    if stdin_fd is not None:
        os.set_blocking(stdin_fd, False)
        selector.register(stdin_fd, selectors.EVENT_WRITE)
    view = memoryview(data)
    while selector.get_map():
        for key, _ in selector.select(timeout=0.05):
            fd = key.fd
            if fd == stdin_fd:
                try:
                    view = view[os.write(fd, view[:65536]) :]
                except BlockingIOError:
                    continue
                except OSError:  # the tool closed its stdin without reading it all
                    view = view[:0]
                if not view:
                    selector.unregister(fd)
                    os.close(fd)
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                selector.unregister(fd)
                continue
            if fd == out_fd:
                outcome.out += chunk
                if len(outcome.out) > max_out and outcome.verdict is None:
                    outcome.verdict = "output"
                    _kill_strays(reap=False)
            else:
                outcome.err += chunk
                del outcome.err[:-STDERR_CAP]
        if outcome.verdict is None and _counters()[1] > refused_before:
            outcome.verdict = "pids"
            _kill_strays(reap=False)
    for fd in selector.get_map():
        with contextlib.suppress(OSError):
            os.close(fd)
    selector.close()
    _, status = os.waitpid(pid, 0)
    outcome.status = os.waitstatus_to_exitcode(status)
    return outcome


def _limit_error(outcome: _Outcome, limits: dict[str, Any], oom_before: int) -> dict[str, Any] | None:
    if outcome.verdict == "pids":
        return _error("limit_exceeded", f"the tool hit the container's process limit ({_pids_max()} processes)")
    if outcome.status == -signal.SIGKILL and _counters()[0] > oom_before:
        return _error("limit_exceeded", "the tool was killed for using more memory than the container's limit")
    if outcome.status == -signal.SIGXCPU and limits.get("cpu_time"):
        return _error("limit_exceeded", f"CPU time limit of {limits['cpu_time']}s reached")
    return None


def run_command(request: dict[str, Any], scratch: str) -> dict[str, Any]:
    """Run a command tool: JSON arguments on stdin, supervised under the call's limits, JSON output on stdout."""
    entry = request["entry"]
    limits = request.get("limits") or {}
    max_out = int(limits.get("max_output") or 16 * 2**20)
    env = {**(request.get("env") or {}), "HOME": scratch, "TMPDIR": scratch, **(entry.get("env") or {})}
    cwd = entry.get("cwd") or scratch
    if not os.path.isdir(cwd):
        return _error("runtime_error", f"the working directory {cwd!r} does not exist in the container")
    oom_before, refused_before = _counters()
    try:
        proc = subprocess.Popen(
            entry["argv"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=cwd,
            env=env,
            start_new_session=True,
            # Only when there is a limit to set: without a preexec_fn, subprocess can use vfork.
            preexec_fn=(lambda: _cpu_limit(limits)) if limits.get("cpu_time") else None,
        )
    except OSError as exc:
        return _error("runtime_error", f"cannot start {entry['argv'][0]!r} in the container: {exc.strerror or exc}")
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    data = json.dumps(request.get("arguments") or {}).encode()
    outcome = _supervise(
        proc.pid, proc.stdin.fileno(), data, proc.stdout.fileno(), proc.stderr.fileno(), max_out, refused_before
    )
    proc.returncode = outcome.status
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        with contextlib.suppress(OSError):
            stream.close()
    return _command_result(outcome, limits, oom_before, max_out)


def _command_result(outcome: _Outcome, limits: dict[str, Any], oom_before: int, max_out: int) -> dict[str, Any]:
    """The response for a finished command: a limit it hit, its failure, or its JSON output."""
    err_text = outcome.err.decode("utf-8", "replace")
    failed = _limit_error(outcome, limits, oom_before)
    if failed is None and outcome.verdict == "output":
        failed = _error("limit_exceeded", f"output of more than {max_out} bytes is over the {max_out}-byte cap")
    if failed is not None:
        return {**failed, "stderr": err_text}
    if outcome.status != 0:
        how = f"killed by signal {-outcome.status}" if outcome.status < 0 else f"exited with status {outcome.status}"
        tail = err_text.strip().splitlines()[-5:]
        return {
            **_error(
                "tool_error", f"command {how}" + (": " + " | ".join(tail) if tail else ""), exit_code=outcome.status
            ),
            "stderr": err_text,
        }
    text = outcome.out.decode("utf-8", "replace").strip()
    try:
        output = json.loads(text) if text else None
    except json.JSONDecodeError as exc:
        return {
            **_error("output_invalid", f"command printed no valid JSON on stdout ({exc.msg} at char {exc.pos})"),
            "stderr": err_text,
        }
    return {"ok": True, "output": output, "stderr": err_text or None}


def _snippet_line(tb: Any) -> int | None:
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == SNIPPET_FILENAME:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def exec_snippet(code: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """``python.exec``'s semantics (toolnexus/builtins/pyexec.py), with errors as response dicts."""
    try:
        compiled = compile(code, SNIPPET_FILENAME, "exec")
    except SyntaxError as exc:
        return _error(
            "invalid_arguments", f"SyntaxError: {exc.msg} (line {exc.lineno})", exception="SyntaxError", line=exc.lineno
        )
    namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": builtins, "inputs": inputs}
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            exec(compiled, namespace)
    except (Exception, SystemExit) as exc:
        line = _snippet_line(exc.__traceback__)
        where = f" (line {line})" if line is not None else ""
        message = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return _error(
            "tool_error",
            f"{message}{where}",
            isinstance(exc, _TRANSIENT),
            exception=type(exc).__name__,
            line=line,
            stdout=printed.getvalue(),
        )
    try:
        result = json.loads(json.dumps(namespace.get("result"), allow_nan=False))
    except (TypeError, ValueError) as exc:
        return _error(
            "output_invalid",
            f"`result` must be JSON-compatible (dict, list, str, number, bool or None): {exc}",
            type=type(namespace.get("result")).__name__,
        )
    return {"ok": True, "output": {"result": result, "stdout": printed.getvalue()}}


def run_snippet(request: dict[str, Any], scratch: str) -> dict[str, Any]:
    """Run a ``python.exec`` request in a forked child working in ``scratch``, under the call's limits.

    The response says why the child failed when it did: a limit it hit, or its death, with its stderr.
    """
    arguments = request.get("arguments") or {}
    limits = request.get("limits") or {}
    max_out = int(limits.get("max_output") or 16 * 2**20)
    oom_before, refused_before = _counters()
    result_r, result_w = os.pipe()
    err_r, err_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: run the snippet, send its response down the pipe, never return
        try:
            os.setsid()
            # Only the two pipes stay open: the protocol's stdin and stdout are the worker's alone.
            os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
            os.dup2(err_w, 1)
            os.dup2(err_w, 2)
            os.closerange(3, result_w)
            os.closerange(result_w + 1, 65536)
            os.chdir(scratch)
            os.environ.update(HOME=scratch, TMPDIR=scratch)
            tempfile.tempdir = scratch
            _cpu_limit(limits)
            response = exec_snippet(str(arguments.get("code", "")), arguments.get("inputs") or {})
            with os.fdopen(result_w, "wb") as sink:
                sink.write(json.dumps(response).encode())
        except BaseException:
            import traceback  # here only: importing it costs every container's start a few ms

            traceback.print_exc()
        finally:
            os._exit(0)
    os.close(result_w)
    os.close(err_w)
    try:
        outcome = _supervise(pid, None, b"", result_r, err_r, max_out + 65536, refused_before)
    finally:
        os.close(result_r)
        os.close(err_r)
    err_text = outcome.err.decode("utf-8", "replace")
    failed = _limit_error(outcome, limits, oom_before)
    if failed is None and outcome.verdict == "output":
        failed = _error("limit_exceeded", f"output over the {max_out}-byte cap")
    if failed is not None:
        return {**failed, "stderr": err_text}
    try:
        response = json.loads(bytes(outcome.out))
    except ValueError:
        tail = " | ".join(err_text.strip().splitlines()[-3:])
        return {
            **_error(
                "runtime_error",
                f"the snippet's process died (exit {outcome.status})" + (f": {tail}" if tail else ""),
                True,
            ),
            "stderr": err_text,
        }
    if response.get("ok") and len(json.dumps(response["output"])) > max_out:
        return _error("limit_exceeded", f"output over the {max_out}-byte cap")
    return {**response, "stderr": err_text or None}


def handle(request: dict[str, Any]) -> dict[str, Any]:
    """Answer one request: a ping, or a command or snippet run in a fresh scratch folder, cleared up after."""
    kind = request.get("kind")
    if kind == "ping":
        return {"ok": True, "output": os.getpid()}
    if kind == "python" and request.get("target") != PYEXEC_TARGET:
        return _error("runtime_error", f"this container runs only python.exec snippets, not {request.get('target')}")
    if kind not in ("command", "python"):
        return _error("runtime_error", f"unknown request kind {kind!r}")
    scratch = tempfile.mkdtemp(prefix="call-", dir="/tmp")
    try:
        return run_command(request, scratch) if kind == "command" else run_snippet(request, scratch)
    finally:
        _kill_strays()
        shutil.rmtree(scratch, ignore_errors=True)


def main() -> None:
    """Serve the host's requests, one at a time, until it closes our stdin."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the host decides when we stop
    inbox = sys.stdin.buffer
    outbox = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything written to fd 1 from here on lands in our stderr, not in the protocol
    write_frame(outbox, {"ready": os.getpid(), "python": sys.version.split()[0]})
    while True:
        request = read_frame(inbox)
        if request is None:
            return
        try:
            response = handle(request)
        except Exception as exc:  # our own failure: report it as data, keep serving
            response = _error("runtime_error", f"worker failed: {type(exc).__name__}: {exc}")
        write_frame(outbox, response)


if __name__ == "__main__":
    main()
