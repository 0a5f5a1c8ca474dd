"""Granting the sandbox's unprivileged user access to a workspace it does not own, with POSIX ACLs.

When toolnexus runs as root, sandboxed tools run as an unprivileged uid (``nobody`` by default). The
workspace belongs to root, so that uid gets an ACL entry ``u:UID:rwx`` on the workspace and everything in
it, and a default entry on every folder so that files created later (by root or by a tool) inherit it.
Owners, groups and mode bits stay as they were: ``getfacl`` shows the one added entry.

The ACL is written as the kernel's extended attribute (``system.posix_acl_access``/``_default``, format
of ``linux/posix_acl_xattr.h``), so no ``setfacl`` binary is needed on the host.
"""

from __future__ import annotations

import contextlib
import os
import stat
import struct
import threading
from collections.abc import Container
from pathlib import Path

from toolnexus.errors import SandboxError

_VERSION = 2
_USER_OBJ, _USER, _GROUP_OBJ, _GROUP, _MASK, _OTHER = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20
_UNDEFINED = 0xFFFFFFFF
_ACCESS = "system.posix_acl_access"
_DEFAULT = "system.posix_acl_default"

_lock = threading.Lock()
_looked: dict[tuple[str, int], int] = {}  # (workspace, uid) -> the top folder's mtime when last opened


class AclUnsupported(SandboxError, OSError):
    """The file system does not store POSIX ACLs."""


def _parse(blob: bytes) -> list[tuple[int, int, int]]:
    if len(blob) < 4 or struct.unpack_from("<I", blob)[0] != _VERSION:
        return []
    return [struct.unpack_from("<HHI", blob, offset) for offset in range(4, len(blob) - 7, 8)]


def _entries_with(mode: int, existing: list[tuple[int, int, int]], uid: int, perm: int) -> bytes:
    """An ACL that keeps ``existing`` (or the mode bits) and gives ``uid`` the permissions ``perm``."""
    entries = {(tag, ident): p for tag, p, ident in existing}
    if not entries:
        entries = {(_USER_OBJ, _UNDEFINED): (mode >> 6) & 7, (_GROUP_OBJ, _UNDEFINED): (mode >> 3) & 7,
                   (_OTHER, _UNDEFINED): mode & 7}
    entries[(_USER, uid)] = entries.get((_USER, uid), 0) | perm
    # The mask caps every named entry and the owning group: it must let ours through and keep the group's.
    group = entries.get((_GROUP_OBJ, _UNDEFINED), 0)
    named = [p for (tag, _), p in entries.items() if tag in (_USER, _GROUP)]
    entries[(_MASK, _UNDEFINED)] = entries.get((_MASK, _UNDEFINED), 0) | group | perm | (max(named) if named else 0)
    ordered = sorted(entries.items(), key=lambda item: (item[0][0], item[0][1]))
    return struct.pack("<I", _VERSION) + b"".join(struct.pack("<HHI", tag, p, ident) for (tag, ident), p in ordered)


def _has(blob: bytes, uid: int, perm: int) -> bool:
    return any(tag == _USER and ident == uid and p & perm == perm for tag, p, ident in _parse(blob))


def _set(path: str, name: str, blob: bytes) -> None:
    try:
        os.setxattr(path, name, blob, follow_symlinks=False)
    except OSError as exc:
        if exc.errno in (95, 22):  # EOPNOTSUPP, EINVAL: no ACLs on this file system
            raise AclUnsupported(exc.errno, f"{path}: the file system does not support ACLs") from None
        raise


def _get(path: str, name: str) -> bytes:
    try:
        return os.getxattr(path, name, follow_symlinks=False)
    except OSError:
        return b""


def _grant_one(path: str, uid: int, *, folder: bool, inherit: int = 7) -> None:
    """``uid`` may read and write ``path``; a folder also hands ``inherit`` down to what is made in it."""
    perm = 7 if folder else 6
    current = _get(path, _ACCESS)
    if not _has(current, uid, perm):
        _set(path, _ACCESS, _entries_with(os.lstat(path).st_mode, _parse(current), uid, perm))
    if folder:
        default = _get(path, _DEFAULT)
        if not _has(default, uid, inherit) or (inherit != 7 and _has(default, uid, 7)):
            entries = [e for e in _parse(default) if not (e[0] == _USER and e[2] == uid)]
            _set(path, _DEFAULT, _entries_with(0o755, entries, uid, inherit))


def revoke(path: str, uids: Container[int]) -> None:
    """Take every entry of ``uids`` off ``path``'s ACLs (a path the host trusts: no sandbox may write it)."""
    for name in (_ACCESS, _DEFAULT):
        entries = _parse(_get(path, name))
        kept = [e for e in entries if not (e[0] == _USER and e[2] in uids)]
        if len(kept) != len(entries):
            blob = struct.pack("<I", _VERSION) + b"".join(struct.pack("<HHI", t, p, i) for t, p, i in kept)
            _set(path, name, blob)


def sandbox_may_write(path: str, uids: Container[int]) -> bool:
    """Whether an ACL entry of ``path`` lets one of ``uids`` write it."""
    return any(tag == _USER and ident in uids and perm & 2 for tag, perm, ident in _parse(_get(path, _ACCESS)))


def _grant_tree(top: str, uid: int, skip: tuple[str, ...]) -> None:
    if os.path.islink(top):
        return
    if not os.path.isdir(top):
        with contextlib.suppress(FileNotFoundError):
            if stat.S_ISREG(os.lstat(top).st_mode):
                _grant_one(top, uid, folder=False)
        return
    _grant_one(top, uid, folder=True)
    for folder, dirs, files in os.walk(top):
        dirs[:] = [d for d in dirs if d not in skip and not os.path.islink(os.path.join(folder, d))]
        for name in dirs:
            _grant_one(os.path.join(folder, name), uid, folder=True)
        for name in files:
            path = os.path.join(folder, name)
            with contextlib.suppress(FileNotFoundError):
                if stat.S_ISREG(os.lstat(path).st_mode):
                    _grant_one(path, uid, folder=False)


def grant_workspace(root: str | Path, uid: int, *, trusted: tuple[str, ...] = (), sandbox_uids: range | None = None,
                    skip: tuple[str, ...] = (".git", ".toolnexus")) -> None:
    """Give ``uid`` read and write access to the workspace ``root``: everything in it but the ``trusted``
    names at its top (what the host reads and trusts: configuration, manifests, the repository).

    The top folder hands only *read* access down, so what the host creates there later (a new
    ``toolnexus.toml``, ``git init``'s ``.git``) is not the sandbox's to write; a new top-level folder of
    the host's is granted when the next worker starts. Trusted names lose any entry of ``sandbox_uids``.
    Folders under the top hand read and write down. Symbolic links are left alone; ``skip`` folders are
    not entered. Raises :class:`AclUnsupported` where the file system has no ACLs.
    """
    top = str(root)
    with _lock:
        # Entries at the top come and go only with a change of the folder's mtime: look again only then.
        seen = os.stat(top).st_mtime_ns
        if _looked.get((top, uid)) == seen:
            return
        _grant_one(top, uid, folder=True, inherit=5)
        for entry in os.scandir(top):
            if entry.name in trusted:
                _revoke_tree(entry.path, sandbox_uids or (uid,))
            elif entry.name not in skip and not _has(_get(entry.path, _ACCESS), uid, 6):
                _grant_tree(entry.path, uid, skip)
        _looked[(top, uid)] = seen


def _revoke_tree(top: str, uids: Container[int]) -> None:
    if os.path.islink(top):
        return
    revoke(top, uids)
    if os.path.isdir(top) and os.path.basename(top) != ".git":  # git's objects are many; .git is never granted
        for folder, dirs, files in os.walk(top):
            for name in [*dirs, *files]:
                path = os.path.join(folder, name)
                if not os.path.islink(path):
                    revoke(path, uids)
