"""Helpers for the MCP client tests: a Nexus on configured servers, and a Streamable HTTP server process."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from toolnexus.api import Nexus
from toolnexus.config import Settings

TOOLBOX = Path(__file__).with_name("toolbox.py")


def toolbox(**extra: Any) -> dict[str, Any]:
    """Settings of the toolbox test server over stdio."""
    return {"command": sys.executable, "args": [str(TOOLBOX)], **extra}


def make_nexus(workspace: Path, servers: dict[str, dict[str, Any]]) -> Nexus:
    settings = Settings.model_validate({"workspace": str(workspace), "tracking": {"enabled": False},
                                        "mcp": {"servers": servers}})
    return Nexus(settings=settings, store=False)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def http_toolbox() -> Iterator[str]:
    """The toolbox served over Streamable HTTP by the SDK's own uvicorn app; yields its URL."""
    port = free_port()
    process = subprocess.Popen([sys.executable, str(TOOLBOX), "--http", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:  # ready when it accepts connections; a dead process fails at once
            if process.poll() is not None:
                raise RuntimeError(f"the HTTP toolbox exited with {process.returncode}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        process.wait(10)
