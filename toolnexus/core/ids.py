"""Identifiers: sortable by creation time, short enough to type."""

from __future__ import annotations

import os
import time


def new_id(prefix: str = "") -> str:
    """A time-ordered unique id such as ``run-0193f1c2ab-4f9e2c`` (ms timestamp, 24 random bits)."""
    stamp = format(int(time.time() * 1000), "x")
    return f"{prefix}{stamp}-{os.urandom(3).hex()}"
