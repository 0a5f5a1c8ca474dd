"""Helpers for the engine and sandbox tests: an event recorder and bounded waits on conditions."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import anyio
import psutil
import pytest

from toolnexus.core.events import Event


class Recorder:
    """An event sink keeping every event, in order."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.hooks: list[Callable[[Event], None]] = []

    def __call__(self, event: Event) -> None:
        self.events.append(event)
        for hook in self.hooks:
            hook(event)

    def of(self, kind: str, **match: object) -> list[Event]:
        return [e for e in self.events if e.type == kind
                and all(getattr(e, k, None) == v for k, v in match.items())]

    def index(self, kind: str, **match: object) -> int:
        for i, e in enumerate(self.events):
            if e.type == kind and all(getattr(e, k, None) == v for k, v in match.items()):
                return i
        raise AssertionError(f"no {kind} event matching {match}")

    def finished(self, step_id: str) -> int:
        for i, e in enumerate(self.events):
            if e.type == "step_finished" and e.record.step_id == step_id:  # type: ignore[attr-defined]
                return i
        raise AssertionError(f"step {step_id} never finished")


def alive(pid: int) -> bool:
    """Running (a zombie waiting for its reaper counts as gone)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def wait_until(condition: Callable[[], object], within: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.01)


def assert_gone(pids: list[int], within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while still := [pid for pid in pids if alive(pid)]:
        if time.monotonic() > deadline:
            pytest.fail(f"processes still running: {still}")
        time.sleep(0.01)


def read_pids(pidfile: Path) -> list[int] | None:
    """The "workerpid childpid" a spawn_and_wait call wrote, or None while it is not (fully) written."""
    try:
        parts = pidfile.read_text().split()
    except FileNotFoundError:
        return None
    return [int(p) for p in parts] if len(parts) == 2 else None


async def await_until(condition: Callable[[], object], within: float = 10.0, what: str = "condition") -> None:
    """Poll ``condition`` from async code without blocking the loop, failing after ``within`` seconds."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await anyio.sleep(0.01)


def descendants(root: int | None = None) -> set[int]:
    """Host pids of every process under ``root`` (default: this one). Unlike the pids a tool writes,
    these are right whatever pid namespace the worker and its children live in."""
    try:
        return {p.pid for p in psutil.Process(root or os.getpid()).children(recursive=True)}
    except psutil.NoSuchProcess:
        return set()
