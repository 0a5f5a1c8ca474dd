"""Files the host trusts must not be ones a sandboxed tool wrote.

toolnexus reads its configuration (``toolnexus.toml``, ``pyproject.toml``) and tool manifests from the
workspace, and runs what they name outside any sandbox (an MCP server's command, a module's tools). A
sandboxed tool may write the workspace, so two guards keep it from planting those files:

- the sandbox shows them read-only (see :class:`toolnexus.sandbox.isolation.SandboxView`), and
- when toolnexus runs as root, where sandboxed tools run as their own unprivileged user, a trusted file
  that this user owns (it created it) is refused, as git refuses a repository another user owns.
"""

from __future__ import annotations

import os
from pathlib import Path

from toolnexus.sandbox.isolation import TRUSTED_FILES, SandboxUser, is_sandbox_uid

__all__ = ["TRUSTED_FILES", "UntrustedFile", "check_trusted"]


class UntrustedFile(Exception):
    """A file the host would trust was written by a sandboxed tool."""


def check_trusted(path: str | Path, user: str | None = None) -> None:
    """Raise :class:`UntrustedFile` when ``path`` belongs to the sandbox user (we run as root)."""
    if os.geteuid() != 0:
        return
    try:
        owner = os.stat(path).st_uid
        configured = SandboxUser.resolve(user).uid if user is not None else None
    except (OSError, ValueError):
        return
    if is_sandbox_uid(owner) or owner == configured:
        raise UntrustedFile(
            f"{path} belongs to a sandbox's user (uid {owner}): a sandboxed tool wrote it, so toolnexus does "
            f"not load it. Check its content, then `chown root {path}` to trust it.")

