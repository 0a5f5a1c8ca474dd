"""Probe tools for the process runtime's OS isolation, imported by workers as ``tests.sandbox.isolation_tools``."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

from toolnexus import current_context, tool


@tool(name="iso.fork_bomb", register=False)
def fork_bomb(children: int = 1000) -> dict:
    """Fork up to ``children`` sleeping children; report how many forks succeeded before one failed."""
    started: list[int] = []
    error = None
    try:
        for _ in range(children):
            pid = os.fork()
            if pid == 0:
                time.sleep(60)
                os._exit(0)
            started.append(pid)
    except OSError as exc:
        error = f"{type(exc).__name__}: {exc.strerror}"
    for pid in started:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
    return {"forked": len(started), "error": error}


@tool(name="iso.probe", register=False)
def probe(host_file: str, port: int) -> dict:
    """What this process can see and do: uid, network, host /tmp, system and workspace writes."""
    result: dict = {"uid": os.getuid(), "sees_host_file": Path(host_file).exists()}
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        result["network"] = "reached"
    except OSError as exc:
        result["network"] = f"{type(exc).__name__}: {exc.strerror}"
    system_file = Path(f"/usr/toolnexus-probe-{os.getpid()}")
    try:
        system_file.write_text("x")
        system_file.unlink()  # only reachable without isolation: leave the host as it was
        result["system_write"] = "allowed"
    except OSError as exc:
        result["system_write"] = exc.strerror
    target = Path(current_context().workspace) / "probe.txt"
    target.write_text("written")
    result["workspace_write"] = target.read_text()
    return result


@tool(name="iso.daemon", register=False)
def daemon(mark: str) -> int:
    """Start a detached ``sleep`` (its own session, not waited for) and return at once."""
    import subprocess

    return subprocess.Popen(["sleep", mark], start_new_session=True).pid
