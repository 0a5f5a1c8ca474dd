"""The docker runtime's base image, built locally: no container registry needs to be reachable.

Two layers, each rebuilt only when what goes into it changes (a content label on the image says what):

1. a root filesystem from Debian's own packages — ``debootstrap --variant=minbase`` with Python's
   interpreter and standard library — plus a non-root ``tool`` user, imported with ``docker import``;
2. on top of it, the in-container worker (:mod:`toolnexus.sandbox.docker_worker`) and the image's
   defaults (user, working directory, command), with a ``docker build`` that needs no pull.

Editing the worker therefore costs a one-second rebuild, not a new debootstrap. Building the root
filesystem needs root (debootstrap chroots) and Debian's package mirror.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from toolnexus.errors import SandboxError

DEFAULT_IMAGE = "toolnexus/python:3.11"
ROOTFS_REPOSITORY = "toolnexus/rootfs"
WORKER_PATH = "/opt/toolnexus/worker.py"
_WORKER_DIR = WORKER_PATH.rpartition("/")[0]
#: The image's command. The worker is imported as a module rather than run as a script, so that its
#: byte-compiled form (made at build time) is used: a script is compiled again at every start.
WORKER_COMMAND = [
    "python3",
    "-I",
    "-c",
    f"import sys; sys.path.insert(0, {_WORKER_DIR!r}); import worker; worker.main()",
]
TOOL_UID = 10001
SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
# python3-minimal is the interpreter; the standard library (json, subprocess, …) is libpython3.11-stdlib.
PACKAGES = ("python3-minimal", "libpython3.11-stdlib")
LABEL_CONTENT = "toolnexus.content"
LABEL_WORKER = "toolnexus.worker"
# Bump when the way the root filesystem is made changes, so old images are not taken for current.
_ROOTFS_RECIPE = 1
_TRIM = (
    "usr/share/doc",
    "usr/share/man",
    "usr/share/info",
    "usr/share/locale",
    "var/lib/apt/lists",
    "var/cache/apt/archives",
    "var/log",
)

Progress = Callable[[str], None]


class ImageBuildError(SandboxError):
    """The base image could not be built; the message says why and what to do."""


@dataclass(frozen=True)
class BuiltImage:
    """The result of :func:`build_base_image`."""

    tag: str
    id: str
    built: bool  # False when an image with the same content already existed
    seconds: float


def _stderr(message: str) -> None:
    print(f"[toolnexus image] {message}", file=sys.stderr, flush=True)


def worker_source() -> bytes:
    """The in-container worker program, as copied into the image."""
    return (Path(__file__).with_name("docker_worker.py")).read_bytes()


def rootfs_key(suite: str = SUITE, packages: Sequence[str] = PACKAGES) -> str:
    """A hash of the root filesystem's recipe: its tag and label, so a changed recipe means a rebuild."""
    recipe = {"recipe": _ROOTFS_RECIPE, "suite": suite, "packages": sorted(packages), "uid": TOOL_UID, "trim": _TRIM}
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()


def rootfs_tag(suite: str = SUITE, packages: Sequence[str] = PACKAGES) -> str:
    """The tag of the root filesystem layer: Debian and Python, without our worker."""
    return f"{ROOTFS_REPOSITORY}:{suite}-{rootfs_key(suite, packages)[:12]}"


def _dockerfile(base: str, content: str) -> str:
    return "\n".join(
        [
            f"FROM {base}",
            f"COPY worker.py {WORKER_PATH}",
            # Byte-compiled ahead: the root is read-only and Debian ships sources only for much of the
            # standard library, so every container's worker compiled json, shutil, … at each start.
            f"RUN python3 -m compileall -q -j 0 /usr/lib/python3.11 {_WORKER_DIR} > /dev/null",
            "ENV PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8 HOME=/tmp PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1",
            f"USER {TOOL_UID}:{TOOL_UID}",
            "WORKDIR /tmp",
            f'LABEL {LABEL_CONTENT}="{content}" {LABEL_WORKER}="{WORKER_PATH}" toolnexus.managed.image="1"',
            f"CMD {json.dumps(WORKER_COMMAND)}",
            "",
        ]
    )


def image_key(suite: str = SUITE, packages: Sequence[str] = PACKAGES) -> str:
    """What the base image holds, as a hash: the label an up-to-date image carries."""
    base = rootfs_key(suite, packages)
    digest = hashlib.sha256(base.encode())
    digest.update(_dockerfile(rootfs_tag(suite, packages), "").encode())
    digest.update(worker_source())
    return digest.hexdigest()


def _client(client: Any | None) -> Any:
    if client is not None:
        return client
    try:
        import docker
    except ImportError as exc:
        raise ImageBuildError("the docker runtime needs the `docker` package: pip install docker") from exc
    try:
        found = docker.from_env()
        found.ping()
    except Exception as exc:
        raise ImageBuildError(f"the Docker engine is not reachable ({exc}); start dockerd and try again") from exc
    return found


def _labelled(client: Any, tag: str, content: str) -> Any | None:
    """The image ``tag`` if it exists with content label ``content``."""
    import docker

    try:
        image = client.images.get(tag)
    except docker.errors.ImageNotFound:
        return None
    return image if (image.labels or {}).get(LABEL_CONTENT) == content else None


def image_ready(tag: str = DEFAULT_IMAGE, client: Any | None = None) -> bool:
    """Whether ``tag`` exists and holds what :func:`build_base_image` would build now."""
    return _labelled(_client(client), tag, image_key()) is not None


def build_base_image(
    tag: str = DEFAULT_IMAGE,
    *,
    suite: str = SUITE,
    mirror: str = MIRROR,
    packages: Sequence[str] = PACKAGES,
    client: Any | None = None,
    force: bool = False,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: Progress | None = _stderr,
) -> BuiltImage:
    """Build the base image ``tag`` locally (Debian packages + our worker); skip it when already current.

    ``cache_dir`` keeps the downloaded packages (default ``~/.cache/toolnexus/debootstrap``) so a
    rebuild needs no download. Raises :class:`ImageBuildError` with what to do when it cannot build.
    """
    say = progress or (lambda _message: None)
    started = time.perf_counter()
    client = _client(client)
    content = image_key(suite, packages)
    if not force:
        existing = _labelled(client, tag, content)
        if existing is not None:
            say(f"{tag} is up to date ({existing.short_id})")
            return BuiltImage(tag, existing.id, False, time.perf_counter() - started)
    base_content = rootfs_key(suite, packages)
    base_tag = rootfs_tag(suite, packages)
    if force or _labelled(client, base_tag, base_content) is None:
        _build_rootfs(client, base_tag, base_content, suite, mirror, packages, cache_dir, say)
    else:
        say(f"reusing the root filesystem {base_tag}")
    step = time.perf_counter()
    previous = _labelled_any(client, tag)
    image = _build_on_rootfs(client, tag, base_tag, content)
    if previous is not None and previous != image.id:
        with contextlib.suppress(Exception):  # still used by a container, or already gone: leave it
            client.images.remove(previous, noprune=False)
    seconds = time.perf_counter() - started
    say(f"added the worker in {time.perf_counter() - step:.1f}s; {tag} ({image.short_id}) built in {seconds:.1f}s")
    return BuiltImage(tag, image.id, True, seconds)


def _labelled_any(client: Any, tag: str) -> str | None:
    import docker

    try:
        return str(client.images.get(tag).id)
    except docker.errors.ImageNotFound:
        return None


def _build_on_rootfs(client: Any, tag: str, base: str, content: str) -> Any:
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        for name, data in (("Dockerfile", _dockerfile(base, content).encode()), ("worker.py", worker_source())):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    context.seek(0)
    problems = []
    for chunk in client.api.build(
        fileobj=context, custom_context=True, tag=tag, rm=True, forcerm=True, pull=False, decode=True
    ):
        if "error" in chunk:
            problems.append(str(chunk["error"]).strip())
    if problems:
        raise ImageBuildError(f"docker build of {tag} failed: {' | '.join(problems)}")
    return client.images.get(tag)


def _build_rootfs(
    client: Any,
    tag: str,
    content: str,
    suite: str,
    mirror: str,
    packages: Sequence[str],
    cache_dir: str | os.PathLike[str] | None,
    say: Progress,
) -> None:
    if os.geteuid() != 0:
        raise ImageBuildError(
            "building the root filesystem needs root (debootstrap chroots into it): "
            "run `sudo toolnexus sandbox build-image` once"
        )
    debootstrap = _debootstrap(say)
    cache = Path(cache_dir or Path.home() / ".cache" / "toolnexus" / "debootstrap").resolve()
    cache.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="toolnexus-rootfs-", dir="/var/tmp"))
    try:
        target = work / "rootfs"
        step = time.perf_counter()
        say(f"debootstrap --variant=minbase {suite} with {', '.join(packages)} from {mirror}")
        _run_debootstrap(
            [
                debootstrap,
                "--variant=minbase",
                f"--include={','.join(packages)}",
                f"--cache-dir={cache}",
                suite,
                str(target),
                mirror,
            ],
            work / "debootstrap.log",
            say,
        )
        say(f"debootstrap finished in {time.perf_counter() - step:.0f}s")
        _unmount_under(target)
        _finish_rootfs(target)
        step = time.perf_counter()
        archive = work / "rootfs.tar"
        subprocess.run(
            ["tar", "-C", str(target), "--numeric-owner", "-cf", str(archive), "."], check=True, capture_output=True
        )
        say(f"importing {archive.stat().st_size / 2**20:.0f} MiB as {tag}")
        client.api.import_image_from_file(
            str(archive),
            repository=tag.rpartition(":")[0],
            tag=tag.rpartition(":")[2],
            changes=[
                f'LABEL {LABEL_CONTENT}="{content}"',
                "ENV PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8",
                'CMD ["python3"]',
            ],
        )
        say(f"imported in {time.perf_counter() - step:.0f}s")
    except subprocess.CalledProcessError as exc:
        raise ImageBuildError(f"{exc.cmd[0]} failed: {(exc.stderr or b'').decode(errors='replace')[-500:]}") from None
    finally:
        _unmount_under(work)
        shutil.rmtree(work, ignore_errors=True)


def _debootstrap(say: Progress) -> str:
    found = shutil.which("debootstrap") or next(
        (p for p in ("/usr/sbin/debootstrap", "/sbin/debootstrap") if os.path.exists(p)), None
    )
    if found:
        return found
    if shutil.which("apt-get") is None:
        raise ImageBuildError("debootstrap is not installed and there is no apt-get to install it: install debootstrap")
    say("installing debootstrap with apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    done = subprocess.run(["apt-get", "install", "-y", "-q", "debootstrap"], capture_output=True, env=env)
    if done.returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], capture_output=True, env=env)
        done = subprocess.run(["apt-get", "install", "-y", "-q", "debootstrap"], capture_output=True, env=env)
    found = shutil.which("debootstrap") or next((p for p in ("/usr/sbin/debootstrap",) if os.path.exists(p)), None)
    if done.returncode != 0 or not found:
        raise ImageBuildError("could not install debootstrap: " + done.stderr.decode(errors="replace")[-300:])
    return found


def _run_debootstrap(argv: list[str], log: Path, say: Progress) -> None:
    """Run debootstrap, passing on the first line of each phase (Retrieving, Extracting, Configuring, …)."""
    seen: set[str] = set()
    with open(log, "wb") as sink:
        # debootstrap runs chroot, mount and friends from sbin, which a user's PATH may lack.
        path = os.environ.get("PATH", os.defpath)
        env = {**os.environ, "PATH": f"{path}:/usr/local/sbin:/usr/sbin:/sbin"}
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
        assert proc.stdout is not None
        for raw in proc.stdout:
            sink.write(raw)
            line = raw.decode(errors="replace").strip()
            phase = line[3:].split(" ", 1)[0] if line.startswith("I: ") else ""
            if phase and phase not in seen:
                seen.add(phase)
                say(f"  {line[3:]}")
        code = proc.wait()
    if code != 0:
        tail = " | ".join(log.read_text(errors="replace").strip().splitlines()[-5:])
        raise ImageBuildError(f"debootstrap failed (exit {code}): {tail} — is {argv[-1]} reachable?")


def _finish_rootfs(target: Path) -> None:
    """Drop what a tool never needs (docs, package lists, caches) and add the non-root ``tool`` user."""
    for rel in _TRIM:
        folder = target / rel
        if folder.is_dir():
            for child in folder.iterdir():
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child, ignore_errors=True)
                else:
                    child.unlink(missing_ok=True)
    for stale in (target / "var/cache/apt").glob("*.bin"):
        stale.unlink()
    with open(target / "etc/passwd", "a") as passwd:
        passwd.write(f"tool:x:{TOOL_UID}:{TOOL_UID}:toolnexus tool:/tmp:/usr/sbin/nologin\n")
    with open(target / "etc/group", "a") as group:
        group.write(f"tool:x:{TOOL_UID}:\n")
    (target / WORKER_PATH.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)


def _unmount_under(folder: Path) -> None:
    """Unmount anything a failed debootstrap left mounted inside ``folder`` (before deleting it)."""
    prefix = str(folder.resolve()) + "/"
    try:
        with open("/proc/mounts") as mounts:
            points = [line.split()[1] for line in mounts if line.split()[1].startswith(prefix)]
    except OSError:
        return
    for point in sorted(points, key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True)
