"""``binder/``: what Binder (repo2docker) does with this repository, done in a fresh virtual environment.

From a copy of the repository: ``pip install -r binder/requirements.txt``, then ``binder/postBuild`` with the
environment's ``bin`` first on ``PATH`` (as in Binder's image). Then the server extension must be enabled in
that environment, the quick start must be the default page, and the quick-start notebook must run top to
bottom on a kernel of that environment's Python — importing the toolnexus installed there, not this checkout.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.notebooks.kernel import REPO, execute, kernel_env

INSTALL_TIMEOUT = 600  # pip resolving and installing everything from the local index: one to two minutes


def copy_of_the_repository(target: Path) -> Path:
    """The files git knows (committed or not, minus the ignored), as a Binder checkout would have them."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = REPO / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


def run(command: list[str], *, cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=INSTALL_TIMEOUT)
    assert done.returncode == 0, f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


@pytest.mark.slow
def test_postbuild_in_a_fresh_venv_then_the_quickstart_runs(tmp_path: Path) -> None:
    repo = copy_of_the_repository(tmp_path / "repo")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    bin_dir = venv / "bin"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TOOLNEXUS_", "MLFLOW_", "JUPYTER_", "PYTHON"))}
    env.update(PATH=os.pathsep.join([str(bin_dir), env.get("PATH", "")]), VIRTUAL_ENV=str(venv),
               PIP_NO_COMPILE="1")  # no byte-compiling all of MLflow up front; the kernel compiles what it imports

    run([str(bin_dir / "python"), "-m", "pip", "install", "-q", "-r", "binder/requirements.txt"], cwd=repo, env=env)
    run(["binder/postBuild"], cwd=repo, env=env)

    python = str(bin_dir / "python")
    where = run([python, "-c", "import toolnexus; print(toolnexus.__file__)"], cwd=tmp_path, env=env)
    assert Path(where.strip()).is_relative_to(repo)  # the environment's toolnexus is the checkout's, editable
    extensions = run([str(bin_dir / "jupyter"), "server", "extension", "list"], cwd=repo, env=env)
    assert "toolnexus.jupyter enabled" in extensions.replace("\x1b[32m", "").replace("\x1b[0m", "")
    default = json.loads((venv / "etc/jupyter/jupyter_server_config.d/toolnexus-binder.json").read_text())
    assert default["ServerApp"]["default_url"] == "/lab/tree/notebooks/01-quickstart.ipynb"
    assert (repo / "notebooks/01-quickstart.ipynb").is_file()

    executed = execute(repo / "notebooks/01-quickstart.ipynb", tmp_path / "kernel", python=python, env=kernel_env() | {
        "PATH": env["PATH"], "VIRTUAL_ENV": str(venv)})
    printed = "".join(output.get("text", "") for cell in executed.cells if cell.cell_type == "code"
                      for output in cell.outputs)
    assert "toolnexus " in printed
