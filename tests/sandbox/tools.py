"""Tools for the sandbox tests, imported by worker processes as ``tests.sandbox.tools:…``."""

from __future__ import annotations

import os
import resource
import sys
import time

from toolnexus import ToolFailure, tool
from toolnexus.core.errors import ErrorKind


@tool(name="sb.pid", register=False)
def pid() -> int:
    """The worker's pid."""
    return os.getpid()


@tool(name="sb.apid", register=False)
async def apid(x: int = 0) -> dict:
    """An async tool: the worker's pid and twice x."""
    return {"pid": os.getpid(), "double": 2 * x}


@tool(name="sb.memory_bomb", register=False)
def memory_bomb(megabytes: int = 2048) -> int:
    """Allocate (and touch) ``megabytes`` of memory in 32 MB pieces."""
    hoard = []
    for _ in range(megabytes // 32):
        hoard.append(bytearray(32 * 2**20))
    return len(hoard)


@tool(name="sb.busy", register=False)
def busy(seconds: float = 30.0) -> float:
    """Burn CPU for up to ``seconds`` of wall time."""
    deadline = time.monotonic() + seconds
    n = 0
    while time.monotonic() < deadline:
        n += 1
    return seconds


@tool(name="sb.cpu_soft_limit", register=False)
def cpu_soft_limit() -> int:
    """The worker's soft RLIMIT_CPU (-1 when unlimited)."""
    soft = resource.getrlimit(resource.RLIMIT_CPU)[0]
    return -1 if soft == resource.RLIM_INFINITY else soft


@tool(name="sb.big", register=False)
def big(size: int) -> str:
    """A string of ``size`` characters."""
    return "x" * size


@tool(name="sb.env", register=False)
def env(name: str) -> str | None:
    """The value of an environment variable in the worker."""
    return os.environ.get(name)


@tool(name="sb.noisy", register=False)
def noisy(value: str) -> str:
    """Print to stdout every way a tool might, then return ``value``."""
    print("x" * 100_000)
    print("printed with print()")
    sys.stdout.flush()
    sys.__stdout__.write("written to sys.__stdout__\n")
    sys.__stdout__.flush()
    os.write(1, b"\x00\x00\x00\x10written to fd 1 directly\n")
    os.system("echo from a child process")
    return value


@tool(name="sb.crash", register=False)
def crash(code: int = 3) -> None:
    """Kill the worker outright."""
    os.write(2, b"about to crash\n")
    os._exit(code)


@tool(name="sb.fail", register=False)
def fail(kind: str = "") -> None:
    """Raise: a ToolFailure of ``kind`` if given, else a KeyError."""
    if kind:
        raise ToolFailure("structured failure", kind=ErrorKind(kind), retryable=True, details={"k": 1})
    raise KeyError("missing")


@tool(name="sb.rows", register=False)
def rows(count: int, width: int) -> list:
    """``count`` rows, each a list of one string of ``width`` characters (a result that holds containers)."""
    return [["x" * width] for _ in range(count)]
