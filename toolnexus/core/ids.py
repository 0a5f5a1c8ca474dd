"""Identifiers: sortable by creation time, short enough to type."""

from __future__ import annotations

import os
import random
import time

# Ids need uniqueness, not secrecy: a generator seeded once from the OS beats a urandom syscall per id
# (every call and run gets one). A forked child reseeds, so parent and child never draw the same bits.
_rng = random.Random(os.urandom(16))


def _reseed() -> None:
    _rng.seed(os.urandom(16))


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reseed)


def new_id(prefix: str = "") -> str:
    """A time-ordered unique id such as ``run-0193f1c2ab-4f9e2c`` (ms timestamp, 24 random bits)."""
    return f"{prefix}{int(time.time() * 1000):x}-{_rng.getrandbits(24):06x}"
