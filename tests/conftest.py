"""Shared fixtures: an isolated workspace, a Nexus on it, and anyio on asyncio."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import toolnexus as tn

REPO = Path(__file__).resolve().parent.parent


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
