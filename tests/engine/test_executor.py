"""Executors by name: the pipeline dispatches the runtime stage through the Nexus's executor."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import pytest

import toolnexus as tn
from toolnexus.core.call import ToolCall
from toolnexus.core.runtime import Runtime, RuntimeOutcome
from toolnexus.core.spec import Limits, ToolSpec
from toolnexus.engine.executor import EXECUTORS, LocalExecutor, executor_named, split_executor


class Counting(LocalExecutor):
    """The local executor, counting what it dispatches."""

    submitted: ClassVar[list[str]] = []

    async def submit(self, runtime: Runtime, spec: ToolSpec, call: ToolCall, limits: Limits) -> RuntimeOutcome:
        """Count, then run locally."""
        self.submitted.append(spec.name)
        return await super().submit(runtime, spec, call, limits)


def test_the_local_executor_is_the_default() -> None:
    assert isinstance(executor_named("local"), LocalExecutor)
    with pytest.raises(ValueError, match="unknown executor 'dusk' \\(have: dask, local\\)"):
        executor_named("dusk")


def test_an_address_after_the_name_reaches_the_executor(monkeypatch: pytest.MonkeyPatch) -> None:
    assert split_executor("dask://scheduler:8786") == ("dask", "scheduler:8786")
    assert split_executor("dask") == ("dask", None) and split_executor("dask://") == ("dask", None)
    monkeypatch.setitem(EXECUTORS, "counting", Counting)
    made = executor_named("counting://somewhere:1", settings="the settings")
    assert isinstance(made, Counting)
    assert (made.options.address, made.options.settings) == ("somewhere:1", "the settings")


def test_a_nexus_dispatches_through_the_executor_it_names(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(EXECUTORS, "counting", Counting)
    with tn.Nexus(workspace, executor="counting") as nexus:
        assert nexus.call("json.query", data={"a": 1}, query="a").ok
    assert Counting.submitted == ["json.query"]


def test_an_installed_package_adds_an_executor_by_entry_point(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A real distribution's metadata on sys.path, as `pip install` of a package declaring the group leaves it.
    dist = tmp_path / "toolnexus_counting-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: toolnexus-counting\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(f"[toolnexus.executors]\ncounted = {__name__}:Counting\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr("toolnexus.engine.executor.EXECUTORS", dict(EXECUTORS))
    with pytest.raises(ValueError, match="unknown executor 'dusk' \\(have: counted, dask, local\\)"):
        executor_named("dusk")
    assert isinstance(executor_named("counted"), Counting)


def test_the_executor_setting_chooses_it(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(EXECUTORS, "counting", Counting)
    monkeypatch.setattr(Counting, "submitted", [])
    (workspace / "toolnexus.toml").write_text('executor = "counting"\n')
    with tn.Nexus(workspace, overrides={"tracking": {"enabled": False}}) as nexus:
        assert nexus.executor == "counting"
        assert nexus.call("json.query", data={"a": 1}, query="a").ok
    assert Counting.submitted == ["json.query"]
