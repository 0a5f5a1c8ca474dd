"""Run a command and measure its own peak memory, wherever the test process itself stands.

Linux counts a child's peak RSS from the moment it was forked, so a child of a test process that has
grown (a long pytest session) reports at least that size, whatever it used after ``exec``. The command
is therefore started from a small launcher: the launcher forks it while it is itself small, waits for
it, and reports the command's own peak from ``wait4``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import IO, Any

_LAUNCHER = r"""
import json, os, resource, sys
report, caps, argv = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3:]
pid = os.fork()
if pid == 0:
    for name, value in caps.items():
        resource.setrlimit(getattr(resource, name), (value, value))
    os.execv(argv[0], argv)
_, status, usage = os.wait4(pid, 0)
with open(report, "w") as out:
    json.dump({"returncode": os.waitstatus_to_exitcode(status), "peak_kib": usage.ru_maxrss}, out)
"""


@dataclass
class Measured:
    returncode: int
    peak_bytes: int
    seconds: float


def run_measured(argv: list[str], *, cwd: Any, stdout: IO[bytes] | int | None = None,
                 stderr: IO[bytes] | int | None = None, caps: dict[str, int] | None = None,
                 timeout: float = 300) -> Measured:
    """Run ``argv`` (its first item an absolute path) and return its exit code, its own peak RSS and its
    wall time. ``caps`` are resource limits set in the command before it starts (``{"RLIMIT_AS": …}``)."""
    with tempfile.TemporaryDirectory() as folder:
        report = os.path.join(folder, "report.json")
        started = time.monotonic()
        subprocess.run([sys.executable, "-I", "-S", "-c", _LAUNCHER, report, json.dumps(caps or {}), *argv],
                       cwd=cwd, stdout=stdout, stderr=stderr, timeout=timeout, check=False)
        seconds = time.monotonic() - started
        with open(report) as found:
            measured = json.load(found)
    return Measured(measured["returncode"], measured["peak_kib"] * 1024, seconds)
