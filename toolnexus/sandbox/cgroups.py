"""A cgroup per worker process: a pids cap (a fork bomb stays contained; ``RLIMIT_NPROC`` does nothing
for root) and a memory cap (the kernel kills the worker's processes, not the host's, when they exceed it).

cgroup v2 (one hierarchy) and v1 (one hierarchy per controller) are both handled. Where no cgroup can be
written, :meth:`WorkerCgroup.create` returns None and callers fall back to resource limits.
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
import uuid
from pathlib import Path

_ROOT = Path("/sys/fs/cgroup")


def _v2() -> bool:
    return (_ROOT / "cgroup.controllers").exists()


def _base(controller: str) -> Path:
    """Where toolnexus's cgroups of ``controller`` live."""
    return _ROOT / "toolnexus" if _v2() else _ROOT / controller / "toolnexus"


def _make_base(controller: str) -> Path:
    base = _base(controller)
    base.mkdir(exist_ok=True)
    if _v2():
        # Our children may only use a controller that our cgroup hands down.
        with contextlib.suppress(OSError):
            (base.parent / "cgroup.subtree_control").write_text(f"+{controller}")
        (base / "cgroup.subtree_control").write_text(f"+{controller}")
    return base


class WorkerCgroup:
    """The cgroup folders (one on v2, one per controller on v1) that hold one worker and its children."""

    def __init__(self, paths: list[Path], memory: int | None) -> None:
        self.paths = paths
        self.memory = memory

    @classmethod
    def create(cls, pids_max: int | None, memory: int | None = None) -> WorkerCgroup | None:
        """New cgroups capping processes at ``pids_max`` and memory at ``memory`` bytes, or None where
        cgroups cannot be written here. A cap that is None is not set."""
        _sweep_once()
        _remove_pending()
        name = f"w-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        wanted = [c for c, v in (("pids", pids_max), ("memory", memory)) if v]
        paths: list[Path] = []
        try:
            for controller in wanted:
                path = _make_base(controller) / name
                if path not in paths:
                    path.mkdir()
                    paths.append(path)
                if controller == "pids":
                    (path / "pids.max").write_text(str(pids_max))
                else:
                    _write_memory(path, int(memory or 0))
        except OSError:
            cls(paths, memory).remove()
            return None
        return cls(paths, memory) if paths else None

    def procs_files(self) -> list[Path]:
        """The files a process writes its pid to, to join every one of these cgroups."""
        return [path / "cgroup.procs" for path in self.paths]

    def out_of_memory(self) -> bool:
        """Whether the kernel's out-of-memory killer acted in this cgroup."""
        for path in self.paths:
            events = path / "memory.events"
            with contextlib.suppress(OSError):
                if events.exists():
                    counts = dict(line.split() for line in events.read_text().splitlines())
                    return int(counts.get("oom_kill", 0)) > 0
            control = path / "memory.oom_control"
            with contextlib.suppress(OSError):
                if control.exists():
                    counts = dict(line.split() for line in control.read_text().splitlines())
                    return int(counts.get("oom_kill", 0)) > 0
            with contextlib.suppress(OSError):
                if (path / "memory.failcnt").exists():
                    return int((path / "memory.failcnt").read_text()) > 0
        return False

    def remove(self) -> None:
        """Delete these cgroup folders; any still busy are left for the next :meth:`create` to retry."""
        # A cgroup can be removed once empty. A killed worker's processes may still be on their way out:
        # what cannot go now is tried again when the next cgroup is made.
        for path in self.paths:
            try:
                path.rmdir()
            except FileNotFoundError:
                pass
            except OSError:
                with _pending_lock:
                    _pending.add(path)


_pending: set[Path] = set()
_pending_lock = threading.Lock()


def _remove_pending() -> None:
    with _pending_lock:
        for path in list(_pending):
            try:
                path.rmdir()
            except FileNotFoundError:
                _pending.discard(path)
            except OSError:
                continue
            _pending.discard(path)


def _write_memory(path: Path, limit: int) -> None:
    if (path / "memory.max").exists():  # v2
        (path / "memory.max").write_text(str(limit))
        with contextlib.suppress(OSError):
            (path / "memory.swap.max").write_text("0")
        return
    (path / "memory.limit_in_bytes").write_text(str(limit))
    with contextlib.suppress(OSError):  # only where swap accounting is on
        (path / "memory.memsw.limit_in_bytes").write_text(str(limit))


@functools.lru_cache(maxsize=1)
def _sweep_once() -> None:
    """Remove cgroups left by toolnexus processes that are gone (killed before they could clean up)."""
    bases = {_ROOT / "toolnexus", _ROOT / "pids" / "toolnexus", _ROOT / "memory" / "toolnexus"}
    for base in bases:
        if not base.is_dir():
            continue
        for group in base.glob("w-*"):
            owner = group.name.split("-")[1]
            if owner.isdigit() and not Path(f"/proc/{owner}").exists():
                with contextlib.suppress(OSError):
                    group.rmdir()


@functools.lru_cache(maxsize=2)
def cgroup_available(controller: str) -> bool:
    """Whether a worker cgroup with ``controller`` ("pids" or "memory") can be made here."""
    group = WorkerCgroup.create(64 if controller == "pids" else None, 2**30 if controller == "memory" else None)
    if group is None:
        return False
    group.remove()
    return True


def cgroups_writable() -> bool:
    """Whether a pids cgroup can be made here (the fork-bomb cap)."""
    return cgroup_available("pids")
