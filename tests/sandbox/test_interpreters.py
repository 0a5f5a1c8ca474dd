"""``python.exec`` works wherever toolnexus's interpreter lives and whoever calls it: from a plain script
run by a virtual environment under /tmp (hidden by the sandbox's private /tmp unless bound back), from a
project folder that only its owner may enter, and from a Jupyter kernel."""

from __future__ import annotations

import json
import os
import site
import subprocess
import sys
import textwrap
import venv
from pathlib import Path

import pytest
from jupyter_client.manager import start_new_kernel

from toolnexus.sandbox.isolation import bwrap_path

SCRIPT = textwrap.dedent("""
    import json, os, sys
    import toolnexus as tn
    nexus = tn.Nexus(os.getcwd(), overrides={"tracking": {"enabled": False}})
    result = nexus.call("python.exec", {"code": "import os, sys\\nresult = [os.getuid(), sys.version_info[0]]"})
    print(json.dumps({"error": result.error.message if result.error else None, "output": result.output}))
""")

pytestmark = pytest.mark.skipif(bwrap_path() is None, reason="bubblewrap is not available: no sandbox to test")


def _check(stdout: str) -> None:
    found = json.loads(stdout.strip().splitlines()[-1])
    assert found["error"] is None, found["error"]
    uid, major = found["output"]["result"]
    assert major == 3
    assert uid != 0


@pytest.fixture
def tmp_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtual environment under /tmp whose interpreter links to ours and which sees our packages."""
    folder = Path(tmp_path_factory.mktemp("venv", numbered=True))
    assert str(folder).startswith("/tmp/")
    venv.EnvBuilder(symlinks=True, with_pip=False).create(folder)
    python = folder / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    ours = [p for p in [*site.getsitepackages(), *sys.path] if p and os.path.isdir(p) and "site-packages" in p]
    # addsitedir, not a bare path: our site folders' own .pth files (an editable install) count too.
    lines = [f"import site; site.addsitedir({path!r})" for path in dict.fromkeys(ours)]
    Path(purelib, "ours.pth").write_text("\n".join(lines) + "\n")
    # pytest's temporary folders are private to root: a venv is readable by all, as `python -m venv` makes it.
    for part in (folder, *folder.parents):
        if str(part) in ("/", "/tmp"):
            break
        part.chmod(0o755)
    return python


def test_python_exec_from_a_plain_script_of_a_venv_under_tmp(tmp_venv: Path, tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir(mode=0o700)  # only its owner may enter it
    (project / "script.py").write_text(SCRIPT)
    done = subprocess.run([str(tmp_venv), "script.py"], cwd=project, capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})  # the venv is not activated
    assert done.returncode == 0, done.stderr[-2000:]
    _check(done.stdout)


def test_python_exec_from_a_jupyter_kernel(tmp_path: Path) -> None:
    project = tmp_path / "notebook"
    project.mkdir(mode=0o700)
    manager, client = start_new_kernel(kernel_name="python3", cwd=str(project),
                                       env={**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)})
    try:
        outputs: list[str] = []

        def keep(message: dict) -> None:
            if message["header"]["msg_type"] == "stream":
                outputs.append(message["content"]["text"])

        reply = client.execute_interactive(SCRIPT, timeout=120, output_hook=keep)
        assert reply["content"]["status"] == "ok", reply["content"]
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    _check("".join(outputs))


def test_the_folder_of_the_calling_script_is_not_shown(tmp_path: Path) -> None:
    # A script beside several projects calls a tool in one of them: the others stay out of its view.
    tmp_path.chmod(0o755)  # open to anyone: only the view keeps the other project out
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "notes.txt").write_text("b's notes")
    (tmp_path / "caller.py").write_text(textwrap.dedent(f"""
        import json, toolnexus as tn
        nexus = tn.Nexus({str(tmp_path / "a")!r}, overrides={{"tracking": {{"enabled": False}}}})
        code = "import os\\nresult = [os.path.exists({str(tmp_path / "b" / "notes.txt")!r}), os.getcwd()]"
        result = nexus.call("python.exec", {{"code": code}})
        print(json.dumps(result.output["result"]))
    """))
    done = subprocess.run([sys.executable, "caller.py"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    sees_b, cwd = json.loads(done.stdout.strip().splitlines()[-1])
    assert cwd == str(tmp_path / "a")  # the control: the tool ran, in its workspace
    assert sees_b is False
