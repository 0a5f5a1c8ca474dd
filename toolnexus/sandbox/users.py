"""Who a sandboxed process runs as on the host.

As a normal user, bubblewrap maps the sandbox onto that user through a user namespace. As root, the
sandbox switches to an unprivileged uid before the tool starts: by default one of the workspace's own,
derived from its path in a range no account uses, so no two workspaces' tools (and no service running as
``nobody``) reach each other's files or keyrings.
"""

from __future__ import annotations

import functools
import hashlib
import os
import pwd
import shutil
import sys
from dataclasses import dataclass

NOBODY = 65534
# The uids of workspaces' sandboxes (as root): high, below 2**31 (some programs keep uids signed).
WORKSPACE_UIDS = range(2_000_000_000, 2_100_000_000)
SBIN = "/usr/bin:/bin:/usr/sbin:/sbin"  # where setpriv is looked for


@dataclass(frozen=True)
class SandboxUser:
    """The host uid and gid a sandboxed process runs as, and whether we must switch to them ourselves
    (we are root) or bubblewrap's user namespace maps the sandbox onto our own unprivileged user."""

    uid: int
    gid: int
    switch: bool

    @classmethod
    def resolve(cls, user: str | int | None = None, workspace: str | None = None) -> SandboxUser:
        """The sandbox user for ``user`` (a name or a uid). When None: a uid of the workspace's own (so
        two workspaces' tools, or any other process running as ``nobody``, cannot reach each other's
        files or keyrings), or ``nobody`` when no workspace is named."""
        if os.geteuid() != 0:
            return cls(os.geteuid(), os.getegid(), switch=False)
        if user is None:
            uid = workspace_uid(workspace) if workspace is not None else NOBODY
            return cls(uid, uid, switch=True)
        try:
            entry = pwd.getpwuid(int(user)) if str(user).isdigit() else pwd.getpwnam(str(user))
        except KeyError:
            if str(user).isdigit():
                return cls(int(user), int(user), switch=True)
            if user == "nobody":
                return cls(NOBODY, NOBODY, switch=True)
            raise ValueError(f"sandbox user {user!r} does not exist on this host (set [sandbox] user to a "
                             "user name or uid)") from None
        if entry.pw_uid == 0:
            raise ValueError("the sandbox user must not be root (set [sandbox] user to an unprivileged user)")
        return cls(entry.pw_uid, entry.pw_gid, switch=True)


@functools.lru_cache(maxsize=256)
def workspace_uid(workspace: str) -> int:
    """The uid (and gid) sandboxed tools of ``workspace`` run as when we are root: derived from its path,
    in a range no account uses (one that exists is skipped)."""
    digest = int.from_bytes(hashlib.sha256(os.path.realpath(workspace).encode()).digest()[:8], "big")
    uid = WORKSPACE_UIDS.start + digest % len(WORKSPACE_UIDS)
    while _account_exists(uid):
        uid = WORKSPACE_UIDS.start + (uid + 1 - WORKSPACE_UIDS.start) % len(WORKSPACE_UIDS)
    return uid


def _account_exists(uid: int) -> bool:
    try:
        pwd.getpwuid(uid)
    except KeyError:
        return False
    return True


class _SandboxUids:
    """The uids sandboxed tools run as by default: the workspaces' own range and ``nobody``."""

    def __contains__(self, uid: object) -> bool:
        return uid in WORKSPACE_UIDS or uid == NOBODY


SANDBOX_UIDS = _SandboxUids()



def switch_user_argv(user: SandboxUser) -> list[str]:
    """A prefix that makes the rest of the command run as ``user``, with no groups and no capabilities."""
    setpriv = shutil.which("setpriv", path=SBIN)
    if setpriv is not None:
        return [setpriv, f"--reuid={user.uid}", f"--regid={user.gid}", "--clear-groups", "--inh-caps=-all",
                "--bounding-set=-all", "--"]
    code = ("import os,sys;os.setgroups([]);os.setresgid(*[int(sys.argv[2])]*3);os.setresuid(*[int(sys.argv[1])]*3);"
            "os.execvp(sys.argv[3],sys.argv[3:])")
    # -I -S: nothing of the workspace, the environment or site-packages is imported while still root.
    return [os.path.realpath(sys.executable), "-I", "-S", "-c", code, str(user.uid), str(user.gid)]
