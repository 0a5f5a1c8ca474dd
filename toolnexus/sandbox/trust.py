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
import stat
from pathlib import Path

from toolnexus.errors import SandboxError
from toolnexus.sandbox.acl import sandbox_may_write
from toolnexus.sandbox.isolation import TRUSTED_FILES
from toolnexus.sandbox.users import SANDBOX_UIDS, SandboxUser

__all__ = ["TRUSTED_FILES", "UntrustedFile", "check_trusted"]


class UntrustedFile(SandboxError):
    """A file the host would trust was written by a sandboxed tool."""


def check_trusted(path: str | Path, user: str | None = None) -> None:
    """Raise :class:`UntrustedFile` when we run as root and a sandboxed tool wrote, or could write, ``path``:
    a sandbox user owns it or a link on its way, it has other hard links (one may be the sandbox's), or
    an ACL entry lets a sandbox user write it."""
    if os.geteuid() != 0:
        return
    try:
        configured = SandboxUser.resolve(user).uid if user is not None else None
    except ValueError:
        configured = None
    current = Path(path)
    for _ in range(40):  # a chain of links, each checked, to its end
        problem = _problem(current, configured)
        if problem:
            raise UntrustedFile(f"{path} {problem}, so toolnexus does not load it. Check it; then make it "
                                f"root's own, with no other links and no ACL entry for a sandbox "
                                f"(`chown root FILE; setfacl -b FILE`), to trust it.")
        if not current.is_symlink():
            return
        current = current.parent / os.readlink(current)
    raise UntrustedFile(f"{path}: too many symbolic links")


def _problem(path: Path, configured: int | None) -> str:
    try:
        info = os.lstat(path)
    except OSError:
        return ""
    if info.st_uid in SANDBOX_UIDS or info.st_uid == configured:
        return f"belongs to a sandbox's user (uid {info.st_uid}): a sandboxed tool wrote it"
    if stat.S_ISLNK(info.st_mode):
        return ""
    if info.st_nlink > 1 and not stat.S_ISDIR(info.st_mode):
        return f"has {info.st_nlink} hard links: one may be a sandboxed tool's"
    if sandbox_may_write(str(path), SANDBOX_UIDS) or (configured is not None and
                                                       sandbox_may_write(str(path), (configured,))):
        return "can be written by a sandbox's user (an ACL entry)"
    return ""
