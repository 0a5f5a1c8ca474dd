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
from pathlib import Path

_VERSION = 2
_USER_OBJ, _USER, _GROUP_OBJ, _GROUP, _MASK, _OTHER = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20
_UNDEFINED = 0xFFFFFFFF
_ACCESS = "system.posix_acl_access"
_DEFAULT = "system.posix_acl_default"

_granted: set[tuple[str, int]] = set()
_lock = threading.Lock()


class AclUnsupported(OSError):
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


def _grant_one(path: str, uid: int, *, folder: bool) -> None:
    perm = 7 if folder else 6
    try:
        current = os.getxattr(path, _ACCESS, follow_symlinks=False)
    except OSError:
        current = b""
    if not _has(current, uid, perm):
        mode = os.lstat(path).st_mode
        try:
            os.setxattr(path, _ACCESS, _entries_with(mode, _parse(current), uid, perm), follow_symlinks=False)
        except OSError as exc:
            if exc.errno in (95, 22):  # EOPNOTSUPP, EINVAL: no ACLs on this file system
                raise AclUnsupported(exc.errno, f"{path}: the file system does not support ACLs") from None
            raise
    if folder:
        try:
            default = os.getxattr(path, _DEFAULT, follow_symlinks=False)
        except OSError:
            default = b""
        if not _has(default, uid, 7):
            os.setxattr(path, _DEFAULT, _entries_with(0o755, _parse(default), uid, 7), follow_symlinks=False)


def _granted_before(root: str, uid: int) -> bool:
    """Whether ``root`` already hands ``uid`` down to what is created in it (a default entry): then the
    tree was granted before, and everything made since inherited the entry."""
    try:
        return _has(os.getxattr(root, _DEFAULT), uid, 7) and _has(os.getxattr(root, _ACCESS), uid, 7)
    except OSError:
        return False


def grant_workspace(root: str | Path, uid: int, *, skip: tuple[str, ...] = (".git", ".toolnexus")) -> None:
    """Give ``uid`` read and write access to ``root`` and everything under it (once per process, and the
    walk only once per workspace: later files inherit the folder's default entry).

    Symbolic links are left alone (their targets may be anywhere); folders named in ``skip`` (the
    repository, toolnexus's own state) are not entered. Raises :class:`AclUnsupported` where the file
    system has no ACLs.
    """
    key = (str(root), uid)
    with _lock:
        if key in _granted:
            return
        if _granted_before(str(root), uid):
            _granted.add(key)
            return
        _grant_one(str(root), uid, folder=True)
        for folder, dirs, files in os.walk(root):
            dirs[:] = [d for d in dirs if d not in skip]
            for name in dirs:
                path = os.path.join(folder, name)
                if not os.path.islink(path):
                    _grant_one(path, uid, folder=True)
            for name in files:
                path = os.path.join(folder, name)
                with contextlib.suppress(FileNotFoundError):
                    if stat.S_ISREG(os.lstat(path).st_mode):
                        _grant_one(path, uid, folder=False)
        _granted.add(key)


def can_write(path: str | Path, uid: int, gid: int) -> bool:
    """Whether ``uid``/``gid`` may create files in the folder ``path`` by its mode bits or an ACL entry."""
    info = os.stat(path)
    if info.st_uid == uid:
        return bool(info.st_mode & stat.S_IWUSR and info.st_mode & stat.S_IXUSR)
    try:
        if _has(os.getxattr(path, _ACCESS), uid, 3):
            return True
    except OSError:
        pass
    if info.st_gid == gid:
        return bool(info.st_mode & stat.S_IWGRP and info.st_mode & stat.S_IXGRP)
    return bool(info.st_mode & stat.S_IWOTH and info.st_mode & stat.S_IXOTH)
