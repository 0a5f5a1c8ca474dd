"""Fixtures for the built-in tools: an anyio backend and a workspace made current for a call."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pytest

from toolnexus.core.context import ToolContext, reset_context, use_context


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def tool_workspace(tmp_path: Path) -> Path:
    """An empty workspace folder; ``tmp_path`` itself (its parent) counts as outside."""
    root = tmp_path / "ws"
    root.mkdir()
    return root


@pytest.fixture
def in_workspace(tool_workspace: Path) -> Callable[..., AbstractContextManager[Path]]:
    """``with in_workspace(**settings):`` makes a ToolContext rooted at ``tool_workspace`` current.

    Entered inside the test body so that it holds in the task an async test runs in.
    """

    @contextmanager
    def enter(**settings: Any) -> Iterator[Path]:
        token = use_context(ToolContext(workspace=str(tool_workspace), **settings))
        try:
            yield tool_workspace
        finally:
            reset_context(token)

    return enter
