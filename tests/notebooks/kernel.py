"""Running the tutorial notebooks (``notebooks/``) on a real kernel of a chosen Python, the way a reader would.

The kernel is started from a kernelspec written into a temporary folder for that interpreter — the test
venv's (``sys.executable``) or a freshly built one (the Binder test) — so no kernelspec installed on the
machine is used by accident.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import nbformat
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"
KERNEL_NAME = "toolnexus-tutorial"
CELL_TIMEOUT = 120  # seconds for any one cell; the slowest (MLflow, an MCP server) take a few
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def tutorial_notebooks() -> list[Path]:
    """The tutorials, in reading order."""
    return sorted(NOTEBOOKS.glob("*.ipynb"))


def kernel_manager(python: str, folder: Path) -> KernelManager:
    """A kernel manager whose only kernelspec runs ``python -m ipykernel_launcher``."""
    spec_dir = folder / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True, exist_ok=True)
    spec = {"argv": [python, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "toolnexus tutorial", "language": "python"}
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    specs = KernelSpecManager(kernel_dirs=[str(folder / "kernels")], ensure_native_kernel=False)
    return KernelManager(kernel_name=KERNEL_NAME, kernel_spec_manager=specs)


OFFLINE = "http://127.0.0.1:9"  # the discard port: nothing listens, so any web request fails at once


def kernel_env(extra_path: str | None = None) -> dict[str, str]:
    """This process's environment without toolnexus or MLflow settings (which would leak into the notebook),
    offline: every HTTP client that honours the proxy variables (httpx, urllib, requests) is sent to a closed
    port, so a tutorial that reached for the network would fail here rather than on Binder or a plane."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TOOLNEXUS_", "MLFLOW_", "JUPYTER_")) and not k.lower().endswith("_proxy")}
    for name in ("http_proxy", "https_proxy", "all_proxy"):
        env[name] = env[name.upper()] = OFFLINE
    env["no_proxy"] = env["NO_PROXY"] = "127.0.0.1,localhost"  # the kernel's own channels and local servers
    env["PYTHONPATH"] = extra_path or ""
    return env


def execute(notebook: Path, folder: Path, *, python: str = sys.executable, env: dict[str, str] | None = None,
            ) -> nbformat.NotebookNode:
    """Execute ``notebook`` top to bottom on a kernel of ``python``; the executed notebook.

    Everything goes under ``folder``: the kernel starts in ``folder/cwd`` with ``TMPDIR`` at ``folder/tmp``
    (where the tutorials make their scratch workspaces), and its kernelspec is in ``folder/kernelspec``.
    A failing or stuck cell fails the calling test with the cell's source and the error (no ANSI colours).
    """
    cwd, tmp = folder / "cwd", folder / "tmp"
    cwd.mkdir(parents=True, exist_ok=True)
    tmp.mkdir(exist_ok=True)
    nb = nbformat.read(notebook, as_version=4)
    manager = kernel_manager(python, folder / "kernelspec")
    client = NotebookClient(nb, km=manager, kernel_name=KERNEL_NAME, timeout=CELL_TIMEOUT,
                            resources={"metadata": {"path": str(cwd)}})
    env = (env if env is not None else kernel_env(str(REPO))) | {"TMPDIR": str(tmp)}
    try:
        return client.execute(env=env)
    except (CellExecutionError, CellTimeoutError) as exc:
        raise NotebookFailed(f"{notebook.name}: {ANSI.sub('', str(exc))}") from None


class NotebookFailed(AssertionError):
    """A tutorial cell raised or timed out; the message has the cell's source and the error."""
