"""Sandbox fixtures: a process runtime on a temporary workspace, closed (workers killed) afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from toolnexus.core.context import ToolContext
from toolnexus.sandbox import ProcessRuntime


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def context(tmp_path: Path) -> ToolContext:
    return ToolContext(workspace=str(tmp_path))


@pytest.fixture
def runtime(context: ToolContext) -> Iterator[ProcessRuntime]:
    rt = ProcessRuntime(context, max_workers=2)
    yield rt
    rt.close()


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProcessRuntime]:
    """One process runtime for a module's tests that neither kill workers nor count them."""
    rt = ProcessRuntime(ToolContext(workspace=str(tmp_path_factory.mktemp("shared"))), max_workers=4)
    yield rt
    rt.close()


@pytest.fixture
def single(context: ToolContext) -> Iterator[ProcessRuntime]:
    """A process runtime allowed one worker at a time."""
    rt = ProcessRuntime(context, max_workers=1)
    yield rt
    rt.close()
