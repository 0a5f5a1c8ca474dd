"""Operating-system isolation for worker processes: Linux namespaces through bubblewrap, and a pids
cgroup so a fork bomb stays contained (``RLIMIT_NPROC`` does nothing for root, and we often are).

Both are optional: where bubblewrap or a writable cgroup is missing, workers run with resource limits
and a scrubbed environment only, and :func:`isolation_report` says so.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

NOBODY = 65534
_CGROUP_V1 = Path("/sys/fs/cgroup/pids")
_CGROUP_V2 = Path("/sys/fs/cgroup")


@functools.lru_cache(maxsize=1)
def bwrap_path() -> str | None:
    """The bubblewrap binary, if it is installed and can create namespaces here."""
    path = shutil.which("bwrap")
    if path is None:
        return None
    probe = [path, "--unshare-user", "--uid", str(NOBODY), "--gid", str(NOBODY), "--unshare-pid", "--unshare-net",
             "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", "--", "true"]
    try:
        done = subprocess.run(probe, capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return path if done.returncode == 0 else None


def bwrap_prefix(workspace: str, *, network: bool = False, writable: list[str] | None = None) -> list[str]:
    """argv prefix that runs a command in fresh namespaces: a read-only system, the workspace (and any
    other ``writable`` folder) writable, a private /tmp, its own pid namespace (when its first process
    dies every process in it dies), no network unless asked, and uid ``nobody``."""
    path = bwrap_path()
    if path is None:
        raise RuntimeError("bubblewrap is not available")
    argv = [path, "--unshare-user", "--uid", str(NOBODY), "--gid", str(NOBODY), "--unshare-pid", "--unshare-ipc",
            "--unshare-uts", "--unshare-cgroup-try", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
            "--tmpfs", "/tmp", "--bind", workspace, workspace, "--chdir", workspace]
    for folder in writable or []:
        argv += ["--bind", folder, folder]
    # Our own code (and a project checked out under /tmp) must stay importable under the private /tmp.
    for folder in sorted({p for p in sys.path if p.startswith("/tmp/") and os.path.isdir(p)}):
        if folder != workspace and not folder.startswith(workspace + "/"):
            argv += ["--ro-bind", folder, folder]
    if not network:
        argv.append("--unshare-net")
    return [*argv, "--"]


class PidsCgroup:
    """A pids cgroup capping how many processes a worker and everything it starts may have."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def create(cls, limit: int) -> PidsCgroup | None:
        """A new cgroup with ``pids.max = limit``, or None where cgroups cannot be written."""
        _sweep_once()
        for base in (_CGROUP_V1 / "toolnexus", _CGROUP_V2 / "toolnexus"):
            try:
                if base.parent == _CGROUP_V2 and not (_CGROUP_V2 / "cgroup.controllers").exists():
                    continue
                base.mkdir(exist_ok=True)
                if base.parent == _CGROUP_V2:
                    (base / "cgroup.subtree_control").write_text("+pids")
                path = base / f"w-{os.getpid()}-{uuid.uuid4().hex[:8]}"
                path.mkdir()
                (path / "pids.max").write_text(str(limit))
                return cls(path)
            except OSError:
                continue
        return None

    def add(self, pid: int) -> None:
        (self.path / "cgroup.procs").write_text(str(pid))

    def remove(self) -> None:
        # A cgroup can be removed once empty; its processes are gone when the worker was killed.
        with contextlib.suppress(OSError):
            self.path.rmdir()


@functools.lru_cache(maxsize=1)
def _sweep_once() -> None:
    """Remove cgroups left by toolnexus processes that are gone (killed before they could clean up)."""
    for base in (_CGROUP_V1 / "toolnexus", _CGROUP_V2 / "toolnexus"):
        if not base.is_dir():
            continue
        for group in base.glob("w-*"):
            owner = group.name.split("-")[1]
            if owner.isdigit() and not Path(f"/proc/{owner}").exists():
                with contextlib.suppress(OSError):
                    group.rmdir()


@functools.lru_cache(maxsize=1)
def cgroups_writable() -> bool:
    group = PidsCgroup.create(64)
    if group is None:
        return False
    group.remove()
    return True


def isolation_report() -> dict[str, bool]:
    """What this machine offers the process runtime, for `toolnexus sandbox doctor` and tests."""
    return {"bubblewrap": bwrap_path() is not None, "pids_cgroup": cgroups_writable()}
