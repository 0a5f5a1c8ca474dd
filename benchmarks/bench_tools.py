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
