"""A real ``jupyter lab`` process on a scratch workspace and Debian's Chromium driven by Playwright.

The server is started as a user would start it (``python -m jupyter lab``), with a random token on a free port,
its root a scratch workspace holding a copy of the repository's ``notebooks/`` and a ``toolnexus.toml`` (no
MLflow tracking; ``sleep`` allowed to ``shell.run`` for the long mission; a policy that makes ``json.query``
wait for a person's approval). Chromium is the system's (``/usr/bin/chromium``, installed by
``.ci/system-deps``): Playwright's own browser download is not used. Screenshots go to ``$TOOLNEXUS_ARTIFACTS``
(default: the test's ``tmp_path``).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.sandbox.docker_engine import unavailable  # skip on a developer's machine, fail in CI

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
REPO = Path(__file__).resolve().parents[2]
STARTUP = 120.0  # seconds JupyterLab may take to answer /api/status (a deadline, not a wait)

TOML = """
[tracking]
enabled = false

[shell]
allow = ["sleep"]

[governance]
policies = ["policies/*.yaml"]
"""
POLICY = """
mode: enforce
rules:
  - id: queries-need-a-person
    effect: approve
    tools: json.query
    reason: a person looks at each query an agent runs
"""


@dataclass(frozen=True)
class Lab:
    """A running JupyterLab: its base URL (ending in ``/``), token, workspace and process."""

    url: str
    token: str
    root: Path
    process: subprocess.Popen[bytes]

    def api(self, path: str) -> str:
        """The URL of a REST path (``api/contents/x.ipynb``) on this server."""
        return f"{self.url}{path}"

    @property
    def headers(self) -> dict[str, str]:
        """Headers that authenticate with the server's token."""
        return {"Authorization": f"token {self.token}"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _workspace(root: Path) -> None:
    if (REPO / "notebooks").is_dir():
        shutil.copytree(REPO / "notebooks", root / "notebooks")
    (root / "toolnexus.toml").write_text(TOML)
    (root / "policies").mkdir()
    (root / "policies" / "review.yaml").write_text(POLICY)


NO_NEWS = '{"fetchNews": "false", "checkForUpdates": false}'


def _env(home: Path) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith(("TOOLNEXUS_", "MLFLOW_"))}
    # The user's JupyterLab settings and saved layouts would change what the page shows; kernels started by
    # the server import the repository's toolnexus.
    env.update(JUPYTER_RUNTIME_DIR=str(home / "runtime"), JUPYTERLAB_SETTINGS_DIR=str(home / "settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"), TOOLNEXUS_TRACKING__ENABLED="false",
               PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    # JupyterLab's "get notified about news?" toast would cover outputs in the screenshots.
    settings = home / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(NO_NEWS)
    # Every cell rendered, on screen or not (JupyterLab's windowing would leave off-screen outputs out of the page).
    notebook = home / "settings" / "@jupyterlab" / "notebook-extension"
    notebook.mkdir(parents=True)
    (notebook / "tracker.jupyterlab-settings").write_text('{"windowingMode": "none"}')
    return env


def _wait_ready(lab: Lab, log: Path) -> None:
    deadline = time.monotonic() + STARTUP
    request = urllib.request.Request(lab.api("api/status"), headers=lab.headers)
    while time.monotonic() < deadline:
        if lab.process.poll() is not None:
            pytest.fail(f"jupyter lab exited with {lab.process.returncode}:\n{log.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)  # polling a starting server; the deadline above bounds it
    pytest.fail(f"jupyter lab did not answer /api/status within {STARTUP:.0f} s:\n{log.read_text()[-4000:]}")


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """A real ``jupyter lab`` serving a scratch workspace (see the module's doc). Module-scoped, like
    ``browser``: both are gone before other folders' tests run (Playwright's sync API keeps an event loop of
    its own while it lives)."""
    if not CHROMIUM.exists():
        unavailable(f"{CHROMIUM} is missing: .ci/system-deps installs Debian's chromium for the browser tests")
    root = tmp_path_factory.mktemp("lab-workspace")
    home = tmp_path_factory.mktemp("lab-home")
    _workspace(root)
    token, port = secrets.token_hex(16), _free_port()
    log = home / "jupyter-lab.log"
    command = [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
               f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}", "--allow-root",
               "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate", "--LabApp.news_url=None"]
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=root, env=_env(home), stdout=out, stderr=subprocess.STDOUT)
    server = Lab(f"http://127.0.0.1:{port}/", token, root, process)
    try:
        _wait_ready(server, log)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(30)


@pytest.fixture(scope="module")
def browser(lab: Lab) -> Iterator[Any]:
    """Debian's Chromium, headless, driven by Playwright."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def artifacts(tmp_path: Path) -> Path:
    """Where the test's screenshots go: ``$TOOLNEXUS_ARTIFACTS`` if set, else the test's ``tmp_path``."""
    folder = Path(os.environ.get("TOOLNEXUS_ARTIFACTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """A failed test leaves a screenshot of every open page beside its other artifacts (what the page showed)."""
    report = yield
    funcargs = getattr(item, "funcargs", {})
    folder = funcargs.get("artifacts") or funcargs.get("tmp_path")
    if report.when == "call" and report.failed and "browser" in funcargs and folder is not None:
        chromium = funcargs["browser"]
        for n, context in enumerate(chromium.contexts):
            for m, page in enumerate(context.pages):
                with contextlib.suppress(Exception):  # a page closing as the test failed: its report matters more
                    page.screenshot(path=str(folder / f"FAILED-{item.name}-{n}-{m}.png"), full_page=True)
    return report
