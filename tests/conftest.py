"""Shared fixtures: an isolated workspace, a Nexus on it, and anyio on asyncio."""

from __future__ import annotations

import os
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path

import pytest

import toolnexus as tn

REPO = Path(__file__).resolve().parent.parent


def console_script(name: str) -> str:
    """The path of the console script ``name`` installed with this interpreter's packages.

    Tests start programs such as ``mcp-server-time`` by this path, never by bare name: the virtual
    environment the tests run from need not be activated, so its ``bin/`` need not be on PATH."""
    path = Path(sysconfig.get_path("scripts")) / name
    if not path.is_file():
        pytest.fail(f"{name} is not installed beside {sys.executable} (expected {path}): pip install -e '.[test]'")
    return str(path)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty project folder, made the current directory, with no TOOLNEXUS_ variables leaking in."""
    for name in list(os.environ):
        if name.startswith(("TOOLNEXUS_", "MLFLOW_")):
            monkeypatch.delenv(name)
    # MLflow tracking is tested in tests/tracking against real stores; elsewhere it would only add time.
    monkeypatch.setenv("TOOLNEXUS_TRACKING__ENABLED", "false")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def nexus(workspace: Path) -> Iterator[tn.Nexus]:
    """A Nexus on the temporary workspace (state in its .toolnexus/), closed afterwards."""
    with tn.Nexus(workspace) as nx:
        yield nx


@pytest.fixture
def test_nexus(workspace: Path) -> Iterator[tn.Nexus]:
    """A Nexus whose registry also holds the test tools of ``tests.fixtures.tools``."""
    from tests.fixtures.tools import ALL
    from toolnexus.registry import spec_of

    with tn.Nexus(workspace) as nx:
        for fn in ALL:
            nx.registry.register(spec_of(fn))
        yield nx
