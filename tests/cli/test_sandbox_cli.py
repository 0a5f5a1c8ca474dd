"""``toolnexus sandbox``: the doctor's report of this machine and building the docker runtime's base image,
through the real command line (a fresh interpreter, as a user runs it).

The doctor's fields are checked against the machine itself — probed here independently of toolnexus's
own code — and only the fields named below: the report may grow (caps, limits) without breaking these.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

from tests.sandbox import docker_engine as engine
from tests.sandbox.docker_engine import DockerEngine
from toolnexus.sandbox.images import LABEL_CONTENT, TOOL_UID, WORKER_PATH, image_key
from toolnexus.sandbox.users import workspace_uid

docker_engine = engine.docker_engine  # the shared session fixture: a real engine and the base image

CGROUP_ROOT = Path("/sys/fs/cgroup")
# The file each controller's cap is written to, on cgroup v2 and v1.
CAP_FILES = {"pids": ("pids.max", "pids.max"), "memory": ("memory.max", "memory.limit_in_bytes")}


def toolnexus(*args: str, cwd: Path, env: dict[str, str] | None = None,
              timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "toolnexus.cli", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=timeout)


def doctor(cwd: Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    done = toolnexus("sandbox", "doctor", "--json", cwd=cwd, env=env)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    report = json.loads(done.stdout)
    assert isinstance(report, dict)
    return report


def bwrap_runs() -> bool:
    """Whether bubblewrap is installed and can make the namespaces a sandbox needs (pid, network) here."""
    path = shutil.which("bwrap")
    if path is None:
        return False
    user = [] if os.geteuid() == 0 else ["--unshare-user"]
    probe = [path, *user, "--unshare-pid", "--unshare-net", "--ro-bind", "/", "/", "--proc", "/proc",
             "--dev", "/dev", "--", "true"]
    return subprocess.run(probe, capture_output=True, timeout=30).returncode == 0


def cgroup_can_cap(controller: str) -> bool:
    """Whether a cgroup of ``controller`` can be made here and given a cap (made and removed at once)."""
    v2 = (CGROUP_ROOT / "cgroup.controllers").exists()
    parent = CGROUP_ROOT if v2 else CGROUP_ROOT / controller
    probe = parent / f"toolnexus-doctor-test-{uuid.uuid4().hex[:8]}"
    cap = CAP_FILES[controller][0 if v2 else 1]
    try:
        if v2:  # a child may use only the controllers its parent hands down
            with contextlib.suppress(OSError):
                (parent / "cgroup.subtree_control").write_text(f"+{controller}")
        probe.mkdir()
        try:
            (probe / cap).write_text("64" if controller == "pids" else str(2**30))
        finally:
            probe.rmdir()
    except OSError:
        return False
    return True


def test_the_doctor_reports_what_this_machine_offers(workspace: Path) -> None:
    report = doctor(workspace)
    assert report["bubblewrap"] is bwrap_runs()
    assert report["pids_cgroup"] is cgroup_can_cap("pids")
    assert report["memory_cgroup"] is cgroup_can_cap("memory")
    assert report["wasmtime"] is (importlib.util.find_spec("wasmtime") is not None)
    # Root drops to the workspace's own uid; anyone else runs the sandbox as themselves (a user namespace).
    expected_uid = workspace_uid(str(workspace)) if os.geteuid() == 0 else os.geteuid()
    assert str(report["sandbox_user"]).startswith(f"{expected_uid}:")


def test_the_doctor_says_no_where_a_part_is_missing(workspace: Path, tmp_path: Path) -> None:
    # No bwrap on PATH and a Docker socket that does not exist: the same machine, seen without them.
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    report = doctor(workspace, env={"PATH": str(empty), "DOCKER_HOST": f"unix://{tmp_path}/absent.sock"})
    assert report["bubblewrap"] is False
    assert report["docker_engine"] is False


def test_the_doctor_sees_a_running_docker_engine(docker_engine: DockerEngine, workspace: Path) -> None:
    assert doctor(workspace)["docker_engine"] is True


def test_the_doctor_prints_a_yes_or_no_line_per_field(workspace: Path) -> None:
    report = doctor(workspace)
    done = toolnexus("sandbox", "doctor", cwd=workspace)
    assert done.returncode == 0, done.stderr
    lines = {line.split()[-1]: line.split()[0] for line in done.stdout.splitlines() if line.strip()}
    for name, value in report.items():
        if isinstance(value, bool):
            assert lines[name] == ("yes" if value else "no"), done.stdout


def test_build_image_builds_a_runnable_image_from_the_local_root_filesystem(
        docker_engine: DockerEngine, workspace: Path) -> None:
    # A new tag on the root filesystem the fixture built: only the worker layer is built, with no pull
    # and no download (no registry is reachable here).
    tag = f"toolnexus-test/python:cli-{uuid.uuid4().hex[:8]}"
    try:
        built = toolnexus("sandbox", "build-image", "--tag", tag, cwd=workspace, timeout=600)
        assert built.returncode == 0, built.stderr
        assert "Traceback" not in built.stderr and "reusing the root filesystem" in built.stderr
        image = docker_engine.client.images.get(tag)
        assert re.fullmatch(rf"{re.escape(tag)} {image.id[7:19]} \(built in \d+\.\ds\)", built.stdout.strip())
        assert image.labels[LABEL_CONTENT] == image_key()
        assert image.attrs["Config"]["User"] == f"{TOOL_UID}:{TOOL_UID}"
        ran = docker_engine.client.containers.run(
            tag, ["python3", "-c", f"import os; print(os.getuid(), os.path.isfile({WORKER_PATH!r}))"],
            remove=True, network_disabled=True)
        assert ran.decode().split() == [str(TOOL_UID), "True"]  # unprivileged, with our worker inside

        again = toolnexus("sandbox", "build-image", "--tag", tag, cwd=workspace, timeout=120)
        assert again.returncode == 0, again.stderr
        assert re.fullmatch(rf"{re.escape(tag)} {image.id[7:19]} \(up to date in \d+\.\ds\)", again.stdout.strip())
    finally:
        with contextlib.suppress(Exception):  # not built, or already gone
            docker_engine.client.images.remove(tag)


def test_build_image_without_an_engine_says_so_without_a_traceback(workspace: Path, tmp_path: Path) -> None:
    done = toolnexus("sandbox", "build-image", "--tag", "toolnexus-test/python:never", cwd=workspace,
                     env={"DOCKER_HOST": f"unix://{tmp_path}/absent.sock"})
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "error:" in done.stderr and "Docker engine is not reachable" in done.stderr
    assert "start dockerd" in done.stderr
