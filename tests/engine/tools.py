"""Tools for the engine tests, importable by worker processes and by a CLI child through
``[tools] modules = ["tests.engine.tools"]`` in a workspace's ``toolnexus.toml``."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import anyio

from toolnexus import ToolFailure, current_context, tool

# In-process bookkeeping for the concurrency probes, per group: how many calls are inside now, the
# most ever inside at once, each call's own peak, and an event per target count reached.
PROBES: dict[str, dict[str, Any]] = {}


def _in_workspace(name: str) -> Path:
    path = Path(name)
    return path if path.is_absolute() else Path(current_context().workspace) / path


@tool(name="eng.mark", register=False)
def mark(marker: str, value: str = "") -> str:
    """Count a call in a marker file of the workspace (so tests can tell how often a tool ran)."""
    path = _in_workspace(marker)
    seen = int(path.read_text()) if path.exists() else 0
    path.write_text(str(seen + 1))
    return value


@tool(name="eng.wait_file", register=False)
async def wait_file(path: str, timeout: float = 20.0) -> str:
    """Wait (cancellably) until a file exists and return its text; fail after ``timeout`` seconds."""
    target = _in_workspace(path)
    deadline = time.monotonic() + timeout
    while not target.exists():
        if time.monotonic() > deadline:
            raise ToolFailure(f"{path} did not appear within {timeout}s")
        await anyio.sleep(0.01)
    return target.read_text()


async def _probe(group: str, target: int, timeout: float) -> int:
    state = PROBES.setdefault(group, {"active": 0, "max": 0, "peaks": [], "reached": {}})
    mine = [0]
    state["active"] += 1
    state["peaks"].append(mine)
    for peak in state["peaks"]:  # every call inside now sees this many at once
        peak[0] = max(peak[0], state["active"])
    state["max"] = max(state["max"], state["active"])
    reached = state["reached"].setdefault(target, anyio.Event())
    if state["active"] >= target:
        reached.set()
    try:
        # Wait until `target` calls are inside at once (bounded, so a serial engine fails the test
        # rather than hanging it), then give any call that should not be here a chance to come in.
        with anyio.move_on_after(timeout):
            await reached.wait()
        for _ in range(20):
            await anyio.sleep(0)
        return mine[0]
    finally:
        state["active"] -= 1
        state["peaks"].remove(mine)


@tool(name="eng.probe", register=False)
async def probe(group: str, target: int = 1, timeout: float = 5.0) -> int:
    """Read-only: wait until ``target`` calls of ``group`` are inside at once; return the most this call saw."""
    return await _probe(group, target, timeout)


@tool(name="eng.probe_serial", register=False, tier="side_effecting")
async def probe_serial(group: str, target: int = 1, timeout: float = 5.0) -> int:
    """Side-effecting twin of eng.probe."""
    return await _probe(group, target, timeout)


@tool(name="eng.check", register=False)
def check(value: int) -> int:
    """Return a non-negative value; fail (not retryably) on a negative one."""
    if value < 0:
        raise ToolFailure(f"negative value {value}")
    return value


@tool(name="eng.greet", register=False, deterministic=True)
def greet(name: str) -> dict:
    """A deterministic tool with a structured output."""
    return {"text": f"hello {name}", "length": len(name)}


@tool(name="eng.wait_file_serial", register=False, tier="side_effecting")
async def wait_file_serial(path: str, timeout: float = 20.0) -> str:
    """Side-effecting twin of eng.wait_file."""
    return await wait_file(path, timeout)


@tool(name="eng.noop", register=False)
async def noop(after: Any = None) -> None:
    """Do nothing (``after``: upstream outputs, to express a dependency)."""
    return None
