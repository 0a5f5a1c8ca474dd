"""The no-op tool the benchmarks run; a module of its own so that worker processes can import it
(``bench_tools:noop``) when ``benchmarks/`` is on ``sys.path``."""

from __future__ import annotations

from typing import Any

from toolnexus import tool


@tool(name="bench.noop", register=False)
async def noop(after: Any = None) -> None:
    """Do nothing: any time a run of it takes is the engine's overhead.

    Args:
        after: upstream outputs, referenced only to express a dependency.
    """
    return None


@tool(name="bench.burn", register=False)
def burn(seconds: float = 0.2, after: Any = None) -> int:
    """Spin the CPU for ``seconds`` of this thread's CPU time (the Dask scaling benchmark's step).

    Args:
        seconds: CPU seconds to spend.
        after: upstream outputs, referenced only to express a dependency.
    """
    import time

    rounds, end = 0, time.thread_time() + seconds
    while time.thread_time() < end:
        rounds += 1
    return rounds
