"""Paths inside the workspace: every built-in that touches the file system goes through here."""

from __future__ import annotations

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
