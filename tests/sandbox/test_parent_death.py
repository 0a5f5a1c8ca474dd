"""A worker (and what its tool started) does not outlive a parent killed with SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psutil

from tests.conftest import REPO

PARENT = """
import sys, anyio
from toolnexus.core import ToolCall, ToolContext
from toolnexus.registry import spec_of
from toolnexus.sandbox import ProcessRuntime
from tests.fixtures.tools import spawn_and_wait

runtime = ProcessRuntime(ToolContext(workspace=sys.argv[1]))
spec = spec_of(spawn_and_wait)
call = ToolCall(tool=spec.name, arguments={"pidfile": sys.argv[2], "seconds": 120})
anyio.run(runtime.invoke, spec, call, spec.limits)
"""


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _wait_until(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)  # polling a condition with a deadline, not synchronising on time
    return condition()


def test_worker_and_its_children_die_when_the_parent_is_killed(tmp_path: Path) -> None:
    pidfile = tmp_path / "pids"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    parent = subprocess.Popen([sys.executable, "-c", PARENT, str(tmp_path), str(pidfile)], env=env)
    try:
        assert _wait_until(lambda: pidfile.exists() and len(pidfile.read_text().split()) == 2, 30), \
            "the tool never started"
        worker_pid, child_pid = map(int, pidfile.read_text().split())
        assert not _gone(worker_pid) and not _gone(child_pid)
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=10)
        both_gone = _wait_until(lambda: _gone(worker_pid) and _gone(child_pid), 10)
        assert both_gone, "the worker or its child outlived the parent"
    finally:
        if parent.poll() is None:
            parent.kill()
