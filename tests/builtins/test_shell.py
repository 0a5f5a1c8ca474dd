"""shell.run: allow-listed programs, argv only, and no process outliving a timeout or a cancellation."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import anyio
import psutil
import pytest
from pydantic import ValidationError

from toolnexus.builtins.shell import OUTPUT_CAP, run_command
from toolnexus.core.context import DEFAULT_SHELL_ALLOW
from toolnexus.core.errors import ErrorKind, ToolFailure
from toolnexus.registry.decorator import spec_of

pytestmark = pytest.mark.anyio

run = spec_of(run_command).callable.acall

# Starts a background sleep and a foreground one, each with an argument no other process has (pids inside
# the sandbox are its own namespace's, so the host finds them by their arguments), and notes that it did.
BG, FG = "31.4159", "31.4158"
SPAWN_TWO = f"sleep {BG} & sleep 0 > started; sleep {FG}"


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def assert_sleeps_gone(ws: Path, *markers: str, within: float = 5.0) -> None:
    """The program started (it left its note) and no process with any of ``markers`` is left."""
    assert (ws / "started").exists(), "the program never started"
    deadline = time.monotonic() + within
    while left := [p for m in markers for p in _processes_with_arg(m)]:
        if time.monotonic() > deadline:
            pytest.fail(f"processes still running: {[p.pid for p in left]}")
        time.sleep(0.01)


def _processes_with_arg(arg: str) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        if arg in (proc.info["cmdline"] or []) and _alive(proc.pid):
            found.append(proc)
    return found


async def test_runs_a_program_and_captures_output(in_workspace):
    with in_workspace():
        assert await run({"argv": ["echo", "hello", "world"]}) == {
            "exit_code": 0, "stdout": "hello world\n", "stderr": "", "truncated": False}


async def test_stdin_is_sent_and_absent_stdin_does_not_block(in_workspace):
    with in_workspace():
        assert (await run({"argv": ["cat"], "stdin": "line 1\nline 2\n"}))["stdout"] == "line 1\nline 2\n"
        assert (await run({"argv": ["cat"], "timeout": 10}))["stdout"] == ""


async def test_nonzero_exit_is_a_result_not_an_error(in_workspace):
    with in_workspace():
        result = await run({"argv": ["ls", "does-not-exist"]})
    assert result["exit_code"] != 0
    assert "does-not-exist" in result["stderr"]


async def test_cwd_is_relative_to_the_workspace_and_confined(in_workspace):
    with in_workspace() as ws:
        (ws / "sub").mkdir()
        (ws / "sub" / "marker.txt").write_text("")
        assert (await run({"argv": ["ls"], "cwd": "sub"}))["stdout"] == "marker.txt\n"
        with pytest.raises(ToolFailure) as failure:
            await run({"argv": ["ls"], "cwd": ".."})
        assert failure.value.error.kind is ErrorKind.DENIED


async def test_program_not_allowed_is_denied_with_the_allow_list(in_workspace):
    with in_workspace() as ws:
        (ws / "keep.txt").write_text("x")
        with pytest.raises(ToolFailure) as failure:
            await run({"argv": ["rm", "keep.txt"]})
        assert (ws / "keep.txt").exists()
    error = failure.value.error
    assert error.kind is ErrorKind.DENIED
    assert "'rm' is not allowed" in error.message
    assert all(name in error.message for name in DEFAULT_SHELL_ALLOW)
    assert "shell_allow" in error.message


async def test_a_shell_string_is_refused(in_workspace):
    with in_workspace() as ws:
        with pytest.raises(ValidationError):
            await run({"argv": "echo hi > pwned.txt"})
        with pytest.raises(ValidationError):
            await run({"argv": []})
        with pytest.raises(ToolFailure) as failure:
            await run_command("echo hi > pwned.txt")  # type: ignore[arg-type]
        assert failure.value.error.kind is ErrorKind.INVALID_ARGUMENTS
        assert not (ws / "pwned.txt").exists()


async def test_an_allowed_name_at_another_path_is_denied(in_workspace):
    with in_workspace() as ws:
        impostor = ws / "ls"
        impostor.write_text("#!/bin/sh\ntouch ran.txt\n")
        impostor.chmod(0o755)
        with pytest.raises(ToolFailure) as failure:
            await run({"argv": ["./ls"]})
        assert failure.value.error.kind is ErrorKind.DENIED
        assert not (ws / "ran.txt").exists()
        # The real program, named by its full path, is the same program and may run.
        assert (await run({"argv": [shutil.which("echo"), "ok"]}))["stdout"] == "ok\n"


async def test_environment_is_reduced(in_workspace, monkeypatch):
    monkeypatch.setenv("TOOLNEXUS_TEST_SECRET", "hunter2")
    with in_workspace(shell_allow=["printenv"]):
        leaked = await run({"argv": ["printenv", "TOOLNEXUS_TEST_SECRET"]})
        path = await run({"argv": ["printenv", "PATH"]})
    assert leaked["exit_code"] == 1 and leaked["stdout"] == ""
    assert path["exit_code"] == 0 and path["stdout"].strip()


async def test_output_is_capped_with_a_flag(in_workspace):
    with in_workspace():
        result = await run({"argv": ["head", "-c", str(OUTPUT_CAP + 1000), "/dev/zero"]})
    assert result["exit_code"] == 0
    assert len(result["stdout"]) == OUTPUT_CAP
    assert result["truncated"] is True


async def test_timeout_kills_the_program(in_workspace):
    marker = "30.4711"  # an argument no other process has, to find ours
    with in_workspace(), pytest.raises(ToolFailure) as failure:
        await run({"argv": ["sleep", marker], "timeout": 0.5})
    assert failure.value.error.kind is ErrorKind.TIMEOUT
    assert failure.value.error.retryable is True
    # The sandbox's processes die with it; the kernel delivers that asynchronously, so poll (bounded).
    deadline = time.monotonic() + 5
    while _processes_with_arg(marker) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _processes_with_arg(marker) == []


async def test_timeout_kills_the_whole_process_group(in_workspace):
    with in_workspace(shell_allow=["sh", "sleep"]) as ws:
        started = time.monotonic()
        with pytest.raises(ToolFailure) as failure:
            await run({"argv": ["sh", "-c", SPAWN_TWO], "timeout": 1})
        assert time.monotonic() - started < 10
        assert failure.value.error.kind is ErrorKind.TIMEOUT
        assert_sleeps_gone(ws, BG, FG)


async def test_cancellation_kills_the_whole_process_group(in_workspace):
    with in_workspace(shell_allow=["sh", "sleep"]) as ws:
        with anyio.move_on_after(1) as scope:
            await run({"argv": ["sh", "-c", SPAWN_TWO], "timeout": 60})
        assert scope.cancelled_caught
        assert_sleeps_gone(ws, BG, FG)


async def test_processes_left_behind_by_a_finished_program_are_killed(in_workspace):
    with in_workspace(shell_allow=["sh", "sleep"]) as ws:
        # Without the group kill the background sleep would hold stdout open until the timeout.
        result = await run({"argv": ["sh", "-c", f"sleep {BG} & sleep 0 > started"], "timeout": 10})
        assert result["exit_code"] == 0
        assert_sleeps_gone(ws, BG)


# -- the sandbox: an allowed program's own flags cannot reach beyond the workspace -----------------------


async def test_an_allowed_program_cannot_read_host_secrets(in_workspace, tmp_path):
    planted = tmp_path.parent / f"{tmp_path.name}-secret.txt"  # beside the workspace, readable by all
    planted.write_text("host-secret-5Kq")
    planted.chmod(0o644)
    try:
        with in_workspace():
            shadow = await run({"argv": ["cat", "/etc/shadow"]})
            beside = await run({"argv": ["cat", str(planted)]})
            parent = await run({"argv": ["cat", f"/proc/{os.getpid()}/environ"]})
            climbing = await run({"argv": ["cat", f"../{planted.name}"]})
    finally:
        planted.unlink()
    for result in (shadow, beside, parent, climbing):
        assert result["exit_code"] != 0 and result["stdout"] == "", result
    assert "host-secret-5Kq" not in str([beside, climbing])


async def test_an_allowed_program_cannot_write_outside_the_workspace(in_workspace, tmp_path):
    outside = tmp_path.parent / f"{tmp_path.name}-escaped.txt"
    with in_workspace() as ws:
        (ws / "data.txt").write_text("b\na\n")
        result = await run({"argv": ["sort", "-o", str(outside), "data.txt"]})
        inside = await run({"argv": ["sort", "-o", "sorted.txt", "data.txt"]})  # the control
        assert (ws / "sorted.txt").read_text() == "a\nb\n"
    assert result["exit_code"] != 0, result
    assert not outside.exists()
    assert inside["exit_code"] == 0, inside


async def test_an_allowed_program_cannot_start_another_through_its_flags(in_workspace):
    with in_workspace() as ws:
        # Enough lines that sort spills to temporary files and starts its "compressor": a shell that would
        # run each line as a command. In the sandbox there is no shell to start.
        (ws / "lines.txt").write_text("touch pwned\n" * 200_000)
        result = await run({"argv": ["sort", "-S", "64K", "--compress-program=sh", "lines.txt"]})
        assert not (ws / "pwned").exists()
    assert result["exit_code"] != 0, result
    assert "compress" in result["stderr"] or "sh" in result["stderr"], result["stderr"]


async def test_the_program_runs_as_an_unprivileged_user(in_workspace):
    with in_workspace(shell_allow=["sh"]) as ws:
        result = await run({"argv": ["sh", "-c", "echo $$ > note.txt"]})
        owner = (ws / "note.txt").stat().st_uid
    assert result["exit_code"] == 0, result
    assert owner == os.geteuid() if os.geteuid() != 0 else owner != 0
