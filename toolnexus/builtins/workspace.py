"""Paths inside the workspace: every built-in that touches the file system goes through here."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from toolnexus.core.context import current_context
from toolnexus.core.errors import ErrorKind, ToolFailure


def workspace_root() -> Path:
    """The resolved root folder of the current call's workspace."""
    return current_context().root


def resolve_in_workspace(path: str, root: Path | None = None) -> Path:
    """The real path of ``path`` (relative to the workspace root, or absolute inside it).

    Symlinks are followed before the check, so ``..``, absolute paths elsewhere and links that point
    out of the workspace are all refused with a ``denied`` error.
    """
    root = workspace_root() if root is None else root
    if "\x00" in path:
        raise ToolFailure(f"path {path!r} contains a NUL character", kind=ErrorKind.INVALID_ARGUMENTS)
    candidate = Path(path)
    if not candidate.is_absolute():
        candidate = root / candidate
    resolved = Path(os.path.realpath(candidate))
    if not resolved.is_relative_to(root):
        raise ToolFailure(
            f"path {path!r} leads outside the workspace ({root}); built-in tools may only use paths inside "
            "it — give a path relative to the workspace root",
            kind=ErrorKind.DENIED,
            details={"path": path, "workspace": str(root)},
        )
    return resolved


def relative_to_workspace(path: Path, root: Path | None = None) -> str:
    """``path`` (inside the workspace) as a POSIX path relative to its root; ``.`` for the root itself."""
    root = workspace_root() if root is None else root
    return path.relative_to(root).as_posix() or "."


def open_beneath(root: Path, target: Path, flags: int, *, make_dirs: bool = False) -> int:
    """A file descriptor for ``target`` (a resolved path inside ``root``), opened one folder at a time
    without following any symbolic link.

    :func:`resolve_in_workspace` checks a path; a sandboxed tool may swap a folder for a link between
    that check and the open. Walking from ``root`` with ``O_NOFOLLOW`` turns such a swap into an error
    instead of an open outside the workspace. ``make_dirs`` creates missing folders on the way.
    """
    parts = target.relative_to(root).parts
    if not parts:
        raise IsADirectoryError(21, "is the workspace folder", str(target))
    folder = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for part in parts[:-1]:
            try:
                inner = os.open(part, _FOLDER, dir_fd=folder)
            except FileNotFoundError:
                if not make_dirs:
                    raise
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, dir_fd=folder)
                inner = os.open(part, _FOLDER, dir_fd=folder)
            os.close(folder)
            folder = inner
        return os.open(parts[-1], flags | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666, dir_fd=folder)
    finally:
        os.close(folder)


_FOLDER = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def moved_away(path: str, exc: OSError) -> ToolFailure:
    """The error for a path that turned into a link (or a link's folder) while the call used it."""
    return ToolFailure(f"path {path!r} changed to a symbolic link while it was being used; nothing was read or "
                       "written", kind=ErrorKind.DENIED, details={"path": path, "errno": exc.errno})
