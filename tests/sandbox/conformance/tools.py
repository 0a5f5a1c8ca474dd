"""The conformance contract as Python tools: called directly by the in-process runtime and, imported as
``tests.sandbox.conformance.tools:…``, by the process runtime's workers.

The WAT modules beside this file and the command tools built in the test module do the same things;
the texts below are theirs too (the WAT modules carry copies, which the suite checks by the results).
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import anyio

from toolnexus import tool

# A GitHub-style token: a known credential format, so the secret scrubber must catch it anywhere.
TOKEN = "ghp_R4nd0mL00k1ngT0k3nV4lu3F0rT3sts0001"
FAIL_TEXT = f"something went wrong: disk on fire (retry with {TOKEN})"
# What the leak tool returns: a secret under a secret's name, a token inside a text, and plain data.
LEAK: dict[str, Any] = {
    "api_key": "correct-horse-battery",
    "log": f"authenticated with {TOKEN}",
    "count": 3,
    "note": "nothing to hide here",
}
LEAK_SCRUBBED: dict[str, Any] = {
    "api_key": "***",
    "log": "authenticated with ***",
    "count": 3,
    "note": "nothing to hide here",
}

# Ends the spinning tools that run in this process (an in-process runtime cannot stop their threads).
RELEASE = threading.Event()
SPIN_LIMIT = 60.0  # a safety net: a spinner nobody stops ends by itself after a minute


def stopped_marker(marker: str | os.PathLike[str]) -> Path:
    """Where a hanging tool notes that it ended (reached only by a tool that gets to run its ``finally``)."""
    return Path(f"{marker}.stopped")


def _started(marker: str) -> None:
    # Written whole or not at all: a reader polling for it never sees half a pid.
    partial = Path(f"{marker}.partial")
    partial.write_text(str(os.getpid()))
    partial.replace(marker)


@tool(name="conformance.echo", register=False)
def echo(value: Any) -> dict[str, Any]:
    """Give the arguments back.

    Args:
        value: any JSON value
    """
    return {"value": value}


@tool(name="conformance.fail", register=False)
def fail() -> None:
    """Fail the way tool code does: by raising."""
    raise ValueError(FAIL_TEXT)


@tool(name="conformance.leak", register=False)
def leak() -> dict[str, Any]:
    """Return data with credentials in it."""
    return dict(LEAK)


@tool(name="conformance.waits", register=False)
async def waits(marker: str) -> None:
    """Wait for an hour, cooperatively: only a cancellation ends it early.

    Args:
        marker: file to write this process's pid to once running
    """
    _started(marker)
    try:
        await anyio.sleep(3600)
    finally:
        stopped_marker(marker).write_text("stopped")


@tool(name="conformance.spins", register=False)
def spins(marker: str) -> None:
    """Spin on the CPU, never yielding, until :data:`RELEASE` is set (or a minute has passed).

    Args:
        marker: file to write this process's pid to once running
    """
    _started(marker)
    deadline = time.monotonic() + SPIN_LIMIT
    try:
        while not RELEASE.is_set() and time.monotonic() < deadline:
            pass
    finally:
        stopped_marker(marker).write_text("stopped")
