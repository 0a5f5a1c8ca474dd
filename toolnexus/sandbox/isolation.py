"""Operating-system isolation for sandboxed processes (process-runtime workers, command tools, ``shell.run``).

A sandboxed process runs through bubblewrap in fresh pid, ipc, uts and (unless asked) network namespaces,
and sees only what it needs: the system's programs and libraries read-only, the Python interpreter and the
libraries on ``sys.path`` read-only, a few harmless files of ``/etc``, its workspace read-write, a private
``/tmp`` and its own ``/proc`` (so no other process's environment). Not the host's ``/root``, ``/home``,
``/etc/shadow`` or other projects.

It runs as a real unprivileged uid on the host: when toolnexus itself runs as a normal user, bubblewrap
maps the sandbox's ``nobody`` onto that user (an unprivileged user namespace); when toolnexus runs as
root, the sandbox drops to the configured user (``nobody`` by default) before the tool starts, and that
user is granted access to the workspace by an ACL (see :mod:`toolnexus.sandbox.acl`).

Where bubblewrap is missing, processes run with resource limits and a scrubbed environment only, and
:func:`isolation_report` (``toolnexus sandbox doctor``) says so.
"""

from __future__ import annotations

import functools
import os
import pwd
import shutil
import site
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from toolnexus.sandbox.cgroups import cgroup_available, cgroups_writable
from toolnexus.sandbox.users import NOBODY, SBIN, SandboxUser, switch_user_argv

STATE_DIR = ".toolnexus"  # toolnexus's state folder in a workspace (settings' default state path)
# What the host reads from a workspace and trusts (configuration, the default tool manifest folder, the
# repository whose hooks git runs): shown read-only inside the sandbox.
TRUSTED_FILES = ("toolnexus.toml", "pyproject.toml", "tools", ".git", ".mcp.json")
# Programs and libraries every sandboxed process may run and load.
_SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
# Where programs live: a view limited to some programs shows none of these folders, only those programs.
_PROGRAM_DIRS = ("bin", "sbin", "games", "libexec", "local/bin", "local/sbin", "local/games")
# Files of /etc that programs read and that hold nothing private: the dynamic loader's cache, time zones,
# CA certificates, name-service and MIME tables. Not passwd/shadow/group, sudoers, ssh, or anything else.
_ETC = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "timezone", "alternatives", "ssl",
        "ca-certificates", "ca-certificates.conf", "pki", "crypto-policies", "nsswitch.conf", "hosts",
        "host.conf", "gai.conf", "resolv.conf", "mime.types", "os-release", "debian_version", "protocols",
        "services", "magic", "mailcap")
# A sys.path entry that is one of these is a whole home or the root, not a library folder: never shown.
_NEVER = ("/", "/root", "/home", "/tmp", "/etc", "/var", "/proc", "/sys", "/dev", "/run", "/srv", "/mnt", "/media")


@functools.lru_cache(maxsize=1)
def bwrap_path() -> str | None:
    """The bubblewrap binary, if it is installed and can create namespaces here."""
    path = shutil.which("bwrap")
    if path is None:
        return None
    user = [] if os.geteuid() == 0 else ["--unshare-user", "--uid", str(NOBODY), "--gid", str(NOBODY)]
    probe = [path, *user, "--unshare-pid", "--unshare-net", "--ro-bind", "/", "/", "--proc", "/proc",
             "--dev", "/dev", "--", "true"]
    try:
        done = subprocess.run(probe, capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return path if done.returncode == 0 else None


def trusted_names(workspace: str, read_only: list[str] | tuple[str, ...] = ()) -> tuple[str, ...]:
    """The names at the top of ``workspace`` the host trusts: :data:`TRUSTED_FILES`, toolnexus's state
    folder, and the first folder of each ``read_only`` path inside it (configured manifest folders, an
    MCP config file)."""
    names = [*TRUSTED_FILES, STATE_DIR]
    for path in read_only:
        absolute = path if os.path.isabs(path) else os.path.join(workspace, path)
        if _inside(absolute, workspace) and absolute.rstrip("/") != workspace.rstrip("/"):
            names.append(os.path.relpath(absolute, workspace).split(os.sep)[0])
    return tuple(dict.fromkeys(names))


def python_paths() -> list[str]:
    """Folders the Python interpreter and our libraries live in, to show read-only in a sandbox."""
    found: list[str] = []
    for prefix in {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}:
        found.append(prefix)
    real = os.path.realpath(sys.executable)
    found.append(os.path.dirname(real))
    found.append(os.path.dirname(os.path.abspath(sys.executable)))
    found += [p for p in site.getsitepackages() if os.path.isdir(p)]
    user_site = site.getusersitepackages()
    if isinstance(user_site, str) and os.path.isdir(user_site):
        found.append(user_site)
    toolnexus_root = Path(__file__).resolve().parents[2]
    found.append(str(toolnexus_root))
    # Library folders on sys.path (an editable install's source, a tool module's folder), never a whole home,
    # nor the folder of the script that started us (it may hold other projects: `[sandbox] read_paths`
    # shows it where tools are imported from there).
    homes = {os.path.expanduser("~"), *(_home_of(uid) for uid in {os.getuid(), os.geteuid()})}
    script = _script_folder(found)
    never = homes | set(_NEVER)
    for entry in sys.path:
        if entry and os.path.isabs(entry) and os.path.isdir(entry) and entry.rstrip("/") not in never \
                and os.path.realpath(entry) != script:
            found.append(os.path.realpath(entry))
    return _outermost(p for p in found if os.path.isdir(p) and p.rstrip("/") not in _NEVER)


def _script_folder(libraries: list[str]) -> str | None:
    """The folder of the script this process runs, unless it is one of the ``libraries`` (a launcher such
    as ipykernel's lives in site-packages)."""
    main = sys.argv[0] if sys.argv else ""
    if not main or main in ("-c", "-m") or not os.path.isfile(main):
        return None
    folder = os.path.dirname(os.path.realpath(main))
    return None if any(_inside(folder, os.path.realpath(lib)) for lib in libraries) else folder


def _home_of(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_dir.rstrip("/")
    except KeyError:
        return ""


def _outermost(paths: object) -> list[str]:
    """The paths, without any that lies inside another one of them."""
    kept: list[str] = []
    for path in sorted({str(p).rstrip("/") or "/" for p in paths}):  # type: ignore[attr-defined]
        if not any(path == k or path.startswith(k + "/") for k in kept):
            kept.append(path)
    return kept


def _without_programs(root: str) -> list[str]:
    """The folders of ``root`` (``/usr``) that hold libraries and data but no programs."""
    kept: list[str] = []
    for name in sorted(os.listdir(root)):
        path = os.path.join(root, name)
        if name == "local" and os.path.isdir(path):
            kept += [p for p in _without_programs(path) if os.path.relpath(p, root) not in _PROGRAM_DIRS]
        elif name not in _PROGRAM_DIRS and os.path.isdir(path) and not os.path.islink(path):
            kept.append(path)
    return kept


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


class _Mounts:
    """bubblewrap arguments that mount things, making each missing parent folder first."""

    def __init__(self) -> None:
        self.argv: list[str] = []
        self._made: set[str] = {"/", "/tmp", "/dev", "/proc"}
        self._mounted: set[str] = set()

    def add(self, option: str, source: str, target: str) -> None:
        # bubblewrap makes missing parents private (0700) when it runs as root: make them 0755 first, so
        # the unprivileged user can walk down to what is mounted there.
        for parent in (str(p) for p in reversed(Path(target).parents)):
            if parent not in self._made and not any(_inside(parent, m) for m in self._mounted):
                self.argv += ["--perms", "0755", "--dir", parent]
                self._made.add(parent)
        self.argv += [option, source, target]
        self._made.add(target)
        self._mounted.add(target)


@dataclass
class SandboxView:
    """What a sandboxed process sees and may do; :meth:`argv` wraps a command in it."""

    workspace: str
    network: bool = False
    writable: list[str] = field(default_factory=list)
    readable: list[str] = field(default_factory=list)
    user: SandboxUser | None = None  # None: the workspace's own (see SandboxUser.resolve)
    # None: every program of the system. A list: only these programs (absolute paths) can be run, so a
    # program's flags that start another (``sort --compress-program=sh``) find nothing to start.
    programs: list[str] | None = None
    # Folders inside the workspace the sandbox shows empty and read-only (besides toolnexus's state).
    hidden: list[str] = field(default_factory=list)
    # Existing paths inside the workspace the sandbox shows read-only: what the host trusts (configuration,
    # tool manifests, the repository), which a tool must not rewrite for the next unsandboxed run.
    read_only: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.user is None:
            self.user = SandboxUser.resolve(workspace=self.workspace)

    @property
    def _user(self) -> SandboxUser:
        assert self.user is not None  # set in __post_init__
        return self.user

    def _binds(self) -> list[str]:
        mounts = _Mounts()
        self._system(mounts)
        for name in _ETC:
            path = f"/etc/{name}"
            if os.path.lexists(path):
                mounts.add("--ro-bind-try", path, path)
        workspaces = [self.workspace, *self.writable]
        for path in self._libraries():
            if not any(_inside(path, w) for w in workspaces):
                mounts.add("--ro-bind", path, path)
        for folder in workspaces:
            mounts.add("--bind", folder, folder)
        trusted = [os.path.join(self.workspace, name) for name in TRUSTED_FILES]
        for path in dict.fromkeys([*trusted, *self.read_only]):
            if os.path.lexists(path) and not os.path.islink(path) and _inside(path, self.workspace):
                mounts.argv += ["--ro-bind", path, path]
        for path in self._hidden():
            # toolnexus's own state (runs, audit, tracking) is not the tool's to read or rewrite.
            mounts.argv += ["--perms", "0555", "--tmpfs", path, "--remount-ro", path]
        return mounts.argv

    def _system(self, mounts: _Mounts) -> None:
        """The system's programs and libraries: all of them, or the libraries and only ``programs``."""
        for path in _SYSTEM:
            if os.path.islink(path):  # a merged /usr: /bin -> usr/bin
                mounts.argv += ["--symlink", os.readlink(path), path]
            elif self.programs is None and os.path.isdir(path):
                mounts.add("--ro-bind", path, path)
            elif path == "/usr":
                for sub in _without_programs("/usr"):
                    mounts.add("--ro-bind", sub, sub)
            elif path not in ("/bin", "/sbin") and os.path.isdir(path):
                mounts.add("--ro-bind", path, path)
        if self.programs is None:
            return
        programs = list(self.programs)
        if self._user.switch:
            programs.append(switch_user_argv(self._user)[0])  # what switches to the sandbox user must be there
        for program in programs:
            mounts.add("--ro-bind", os.path.realpath(program), program)

    def _libraries(self) -> list[str]:
        # A view limited to some programs has no interpreter to run (unless it is our fallback switcher).
        wants_python = self.programs is None or (self._user.switch and shutil.which("setpriv", path=SBIN) is None)
        return _outermost([*(python_paths() if wants_python else []), *self.readable])

    def _hidden(self) -> list[str]:
        return [p for p in [os.path.join(self.workspace, STATE_DIR), *self.hidden] if os.path.isdir(p)]

    def argv(self, command: list[str], *, cwd: str | None = None) -> list[str]:
        """``command`` run inside this view, as the sandbox user from its very first instruction."""
        path = bwrap_path()
        if path is None:
            raise RuntimeError("bubblewrap is not available")
        argv = [path]
        if self._user.switch:
            # We are root: no user namespace (it would map the sandbox onto root). bubblewrap keeps every
            # capability of root unless told otherwise: drop them all, keep only what switching to the
            # unprivileged user takes, and switch before anything of the command runs.
            argv += ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID",
                     "--cap-add", "CAP_SETPCAP"]
        else:
            argv += ["--unshare-user", "--uid", str(NOBODY), "--gid", str(NOBODY)]
        # No --die-with-parent: its signal follows the *thread* that started us, and workers are started
        # from short-lived threads. No --new-session: the sandbox stays in the caller's process group (which
        # has no terminal), so killing that group kills bubblewrap's init and with it the whole namespace.
        argv += ["--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
        if not self.network:
            argv.append("--unshare-net")
        argv += ["--dev", "/dev", "--proc", "/proc", "--perms", "1777", "--tmpfs", "/tmp", *self._binds(),
                 "--chdir", cwd or self.workspace, "--"]
        if self._user.switch:
            command = [*switch_user_argv(self._user), *command]
        return [*argv, *command]


def unreadable_python_paths(user: SandboxUser, workspace: str | None = None) -> list[str]:
    """Folders of the interpreter and its libraries that ``user`` could not read in a sandbox (their
    parents are recreated open there, so only the folder's own mode counts). Folders in ``workspace``
    do not count: the workspace is opened to the user by an ACL."""
    if not user.switch:
        return []
    bad = []
    for path in python_paths():
        if workspace is not None and (_inside(path, workspace) or _inside(workspace, path)):
            continue
        info = os.stat(path)
        if info.st_uid != user.uid and not info.st_mode & 0o005 and not (info.st_gid == user.gid and
                                                                        info.st_mode & 0o050):
            bad.append(path)
    return bad


def isolation_report(sandbox_user: str | None = None, workspace: str | None = None) -> dict[str, object]:
    """What this machine offers the process runtime, for `toolnexus sandbox doctor` and tests."""
    report: dict[str, object] = {"bubblewrap": bwrap_path() is not None, "pids_cgroup": cgroups_writable(),
                                 "memory_cgroup": cgroup_available("memory")}
    try:
        user = SandboxUser.resolve(sandbox_user, workspace)
    except ValueError as exc:
        report["sandbox_user"] = str(exc)
        return report
    report["sandbox_user"] = f"{user.uid}:{user.gid}" + (" (switched to from root)" if user.switch else " (ours)")
    report["python_readable"] = not unreadable_python_paths(user)
    return report
