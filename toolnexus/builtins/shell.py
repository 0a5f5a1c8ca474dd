"""``shell.run``: run one allowed program with an argument list — never a shell string.

The program runs in the same sandbox as ``python.exec`` (see :mod:`toolnexus.sandbox.isolation`): it sees
the system's programs, its workspace and a private /tmp, runs as an unprivileged user, in its own pid
namespace (no other process's ``/proc``) and without network. So an allowed program's own flags
(``sort -o /elsewhere``, ``sort --compress-program=sh``, reading ``/etc/shadow``) cannot reach beyond it.
A timeout or a cancellation kills the sandbox and everything in it, so nothing outlives the call.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
from pathlib import Path
from subprocess import DEVNULL, PIPE
from typing import Annotated

import anyio
from anyio.abc import ByteReceiveStream, ByteSendStream, Process
from pydantic import Field
from typing_extensions import TypedDict

from toolnexus.builtins.workspace import resolve_in_workspace, workspace_root
from toolnexus.core.context import current_context
from toolnexus.core.errors import ErrorKind, ToolFailure
from toolnexus.registry.decorator import tool
from toolnexus.sandbox.acl import grant_workspace
from toolnexus.sandbox.isolation import SandboxView, bwrap_path, trusted_names
from toolnexus.sandbox.users import SANDBOX_UIDS, SandboxUser

OUTPUT_CAP = 2**20
# The child gets these variables of ours and no others (no tokens or keys leak into commands).
ENV_KEEP = ("PATH", "HOME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "TERM", "USER", "LOGNAME")


class ShellResult(TypedDict):
    """The exit status (negative: killed by that signal) and the decoded output, capped at 1 MiB each."""

    exit_code: int
    stdout: str
    stderr: str
    truncated: bool


class _Capture:
    """Collects a stream up to :data:`OUTPUT_CAP` bytes and drops (but still drains) the rest."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.truncated = False

    def add(self, chunk: bytes) -> None:
        room = OUTPUT_CAP - len(self.data)
        if len(chunk) > room:
            self.truncated = True
        self.data += chunk[:room]

    def text(self) -> str:
        return self.data.decode("utf-8", errors="replace")


def _child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in ENV_KEEP or k.startswith("LC_")}
    # Inside the sandbox the host's home and temporary folder do not exist; its private /tmp does.
    env.update(HOME="/tmp", TMPDIR="/tmp")
    return env


def sandboxed(argv: list[str], workspace: Path, workdir: Path, allow: list[str]) -> list[str]:
    """``argv`` wrapped in the command sandbox, or a ``denied`` failure where none can be had here."""
    if bwrap_path() is None:
        raise ToolFailure("shell.run needs a sandbox, and bubblewrap is not available here (install the "
                          "`bubblewrap` package; `toolnexus sandbox doctor` shows what is missing)",
                          kind=ErrorKind.DENIED)
    user = SandboxUser.resolve(current_context().sandbox_user, str(workspace))
    if user.switch:
        grant_workspace(workspace, user.uid, trusted=trusted_names(str(workspace)), sandbox_uids=SANDBOX_UIDS)
    # Only the allowed programs are there to run: no flag of one can start a program that is not allowed.
    programs = {argv[0], *(found for name in allow if (found := shutil.which(name, path=_search_path())))}
    return SandboxView(str(workspace), user=user, programs=sorted(programs)).argv(argv, cwd=str(workdir))


def _search_path() -> str:
    # Only absolute PATH entries: a "." entry would let a script in the workspace pose as an allowed program.
    entries = os.environ.get("PATH", os.defpath).split(os.pathsep)
    return os.pathsep.join(e for e in entries if os.path.isabs(e))


def resolve_program(program: str, allow: list[str], cwd: str) -> str:
    """The executable ``shell.run`` starts for ``program``, or a ``denied``/``not_found`` failure.

    ``program`` is allowed when its base name (or, for an absolute path, the path itself) is in
    ``allow``. A name is found on PATH; an explicit path must be that same program, so a file called
    ``ls`` in the workspace is not ``ls``.
    """
    name = os.path.basename(program)
    if program in allow and os.path.isabs(program):
        return program
    if not name or name not in allow:
        allowed = ", ".join(sorted(allow)) or "(nothing)"
        raise ToolFailure(
            f"program {program!r} is not allowed; shell.run may run: {allowed}. "
            "Add it to the context's shell_allow to allow it.",
            kind=ErrorKind.DENIED, details={"program": program, "allowed": sorted(allow)})
    found = shutil.which(name, path=_search_path())
    if found is None:
        raise ToolFailure(f"program {name!r} is allowed but not found on PATH", kind=ErrorKind.NOT_FOUND,
                          details={"program": program})
    if "/" in program:
        explicit = os.path.join(cwd, program)
        if not (os.path.exists(explicit) and os.path.samefile(explicit, found)):
            raise ToolFailure(
                f"{program!r} is not the allowed program {name!r} ({found}); call it by its name",
                kind=ErrorKind.DENIED, details={"program": program, "allowed": sorted(allow)})
    return found


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):  # the group is already gone
        os.killpg(pid, signal.SIGKILL)


async def _drain(stream: ByteReceiveStream | None, capture: _Capture) -> None:
    if stream is None:
        return
    async for chunk in stream:
        capture.add(chunk)


async def _feed(stream: ByteSendStream | None, data: bytes) -> None:
    if stream is None:
        return
    try:
        await stream.send(data)
        await stream.aclose()
    except (anyio.BrokenResourceError, anyio.ClosedResourceError):
        pass  # the program exited without reading all of its input


async def _reap(process: Process) -> None:
    """Kill what is left of the process group and wait for the leader; cannot be cancelled."""
    with anyio.CancelScope(shield=True):
        # The group id outlives a leader that exited while members remain, so this reaches them too.
        _kill_group(process.pid)
        await process.wait()
        await process.aclose()


@tool(name="shell.run", version="1.0.0", tier="side_effecting", tags=["shell", "process"], register=False,
      examples=[{"arguments": {"argv": ["wc", "-l", "data/emea.csv"]},
                 "result": {"exit_code": 0, "stdout": "42 data/emea.csv\n", "stderr": "",
                            "truncated": False}}])
async def run_command(argv: Annotated[list[str], Field(min_length=1)], cwd: str = ".",
                      timeout: Annotated[float, Field(gt=0)] = 60, stdin: str | None = None) -> ShellResult:
    """Run an allowed program with an argument list (no shell) and capture its output.

    A non-zero exit status is reported in ``exit_code``, not as an error.

    Args:
        argv: Program name and its arguments, e.g. ``["wc", "-l", "data.csv"]``; never a shell string.
        cwd: Working folder, relative to the workspace root.
        timeout: Seconds before the program and everything it started are killed.
        stdin: Text to send to the program's standard input (none when omitted).
    """
    if isinstance(argv, str) or not argv or not all(isinstance(a, str) for a in argv):
        raise ToolFailure("argv must be a non-empty list of strings, e.g. [\"ls\", \"-l\"]; shell strings "
                          "are not accepted", kind=ErrorKind.INVALID_ARGUMENTS)
    root = workspace_root()
    workdir = resolve_in_workspace(cwd, root)
    if not workdir.is_dir():
        raise ToolFailure(f"working folder {cwd!r} does not exist in the workspace", kind=ErrorKind.NOT_FOUND,
                          details={"cwd": cwd})
    allow = list(current_context().shell_allow)
    program = resolve_program(argv[0], allow, str(workdir))
    # Off the loop: opening the workspace to the sandbox may walk a folder the host just made.
    command = await anyio.to_thread.run_sync(sandboxed, [program, *argv[1:]], root, workdir, allow)

    # Shielded so a cancellation cannot land between the fork and our holding the process.
    with anyio.CancelScope(shield=True):
        try:
            process = await anyio.open_process(
                command, cwd=workdir, env=_child_env(), start_new_session=True,
                stdin=PIPE if stdin is not None else DEVNULL, stdout=PIPE, stderr=PIPE)
        except PermissionError as exc:
            raise ToolFailure(f"cannot run {program!r}: {exc.strerror}", kind=ErrorKind.DENIED) from None
        except FileNotFoundError:
            raise ToolFailure(f"program {program!r} not found", kind=ErrorKind.NOT_FOUND) from None

    stdout, stderr = _Capture(), _Capture()
    try:
        with anyio.move_on_after(timeout) as deadline:
            async with anyio.create_task_group() as group:
                group.start_soon(_drain, process.stdout, stdout)
                group.start_soon(_drain, process.stderr, stderr)
                if stdin is not None:
                    group.start_soon(_feed, process.stdin, stdin.encode("utf-8"))
                await process.wait()
                # Whatever the program left running would hold its pipes open; it goes with it.
                _kill_group(process.pid)
    finally:
        await _reap(process)

    if deadline.cancelled_caught:
        raise ToolFailure(
            f"{argv[0]!r} did not finish within {timeout:g}s; it and every process it started were killed",
            kind=ErrorKind.TIMEOUT, retryable=True,
            details={"timeout": timeout, "stdout": stdout.text()[-4000:], "stderr": stderr.text()[-4000:]})
    returncode = process.returncode
    return {"exit_code": returncode if returncode is not None else -1, "stdout": stdout.text(),
            "stderr": stderr.text(), "truncated": stdout.truncated or stderr.truncated}
