"""Executors by name: the pipeline dispatches the runtime stage through the Nexus's executor."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import pytest

import toolnexus as tn
from toolnexus.core.call import ToolCall
from toolnexus.core.runtime import Runtime, RuntimeOutcome
from toolnexus.core.spec import Limits, ToolSpec
from toolnexus.engine.executor import EXECUTORS, LocalExecutor, executor_named


class Counting(LocalExecutor):
    """The local executor, counting what it dispatches."""

    submitted: ClassVar[list[str]] = []

    async def submit(self, runtime: Runtime, spec: ToolSpec, call: ToolCall, limits: Limits) -> RuntimeOutcome:
        """Count, then run locally."""
        self.submitted.append(spec.name)
        return await super().submit(runtime, spec, call, limits)


def test_the_local_executor_is_the_default() -> None:
    assert isinstance(executor_named("local"), LocalExecutor)
    with pytest.raises(ValueError, match="unknown executor 'dask' \\(have: local\\)"):
        executor_named("dask")


def test_a_nexus_dispatches_through_the_executor_it_names(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(EXECUTORS, "counting", Counting)
    with tn.Nexus(workspace, executor="counting") as nexus:
        assert nexus.call("json.query", data={"a": 1}, query="a").ok
    assert Counting.submitted == ["json.query"]
