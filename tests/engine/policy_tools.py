"""Tools for the runtime-policy tests, importable by worker processes."""

from __future__ import annotations

import os

from toolnexus import tool


@tool(name="policy.whoami", tier="privileged", register=False)
def whoami() -> int:
    """A privileged tool: reports the pid of the process it ran in."""
    return os.getpid()


@tool(name="policy.reader", register=False)
def reader() -> int:
    """A read-only tool: reports the pid of the process it ran in."""
    return os.getpid()
