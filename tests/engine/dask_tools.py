"""Tools the Dask executor's tests run on the workers: importable there by module (the workers' sys.path is
the test process's), each telling which process ran it and waiting, where a test needs it, on a file."""

from __future__ import annotations

import os
import time
from pathlib import Path

from toolnexus import tool


@tool(name="dask.where", register=False)
def where(label: str = "") -> dict:
    """The pid of the process that ran the call (a Dask worker's, for an in-process tool on Dask)."""
    return {"pid": os.getpid(), "label": label}


@tool(name="dask.burn", register=False)
def burn(seconds: float = 0.2) -> int:
    """Spin the CPU for ``seconds`` (the scaling benchmark's step); how many rounds it made."""
    rounds, end = 0, time.thread_time() + seconds
    while time.thread_time() < end:
        rounds += 1
    return rounds


def _hold(folder: str, name: str, seconds: float) -> int:
    """Note this process's pid in ``folder/name.pids`` (one line per start), then wait until ``folder/release``
    exists (or ``seconds`` pass); this pid."""
    base = Path(folder)
    with (base / f"{name}.pids").open("a") as out:
        out.write(f"{os.getpid()}\n")
    end = time.monotonic() + seconds
    while not (base / "release").exists() and time.monotonic() < end:
        time.sleep(0.02)  # the tool's own wait for the test's signal, not the test's synchronisation
    return os.getpid()


@tool(name="dask.hold", register=False)
def hold(folder: str, seconds: float = 60) -> int:
    """A read-only (so idempotent) call that waits for the test's release file."""
    return _hold(folder, "hold", seconds)


@tool(name="dask.charge", register=False, tier="side_effecting")
def charge(folder: str, seconds: float = 60) -> int:
    """A side-effecting call, not declared idempotent, that waits for the test's release file."""
    return _hold(folder, "charge", seconds)


@tool(name="dask.big", register=False)
def big(n: int) -> list[str]:
    """``n`` rows of 20 characters each (a large output, for a small ``large_output``)."""
    return [f"row {i:016d}" for i in range(n)]


@tool(name="dask.measure", register=False)
def measure(rows: list[str]) -> dict:
    """How many rows it got, their last, and which process counted them."""
    return {"count": len(rows), "last": rows[-1], "pid": os.getpid()}


ALL = [where, burn, hold, charge, big, measure]
