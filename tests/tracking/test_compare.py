"""Comparing runs side by side from MLflow: ``toolnexus runs compare`` and ``compare_runs``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import toolnexus as tn
import toolnexus.api
from tests.tracking.conftest import register_test_tools, seed_store
from tests.tracking.support import GREETING, client_of, mlflow_run, synced
from toolnexus.cli import app


@pytest.fixture
def project(workspace: Path, mlflow_template: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A workspace (the cwd) whose own configuration turns tracking on."""
    monkeypatch.delenv("TOOLNEXUS_TRACKING__ENABLED")
    (workspace / "toolnexus.toml").write_text("[tracking]\nenabled = true\n")
    seed_store(workspace / ".toolnexus" / "mlflow.db", mlflow_template)
    return workspace


@pytest.fixture
def two_runs(project: Path) -> Iterator[tuple[tn.Nexus, tn.RunResult, tn.RunResult]]:
    with register_test_tools(tn.Nexus(project)) as nexus:
        assert nexus.tracker is not None  # from toolnexus.toml
        first, second = nexus.run(GREETING, {"who": "alpha"}), nexus.run(GREETING, {"who": "beta"})
        synced(nexus)
        yield nexus, first, second


def test_runs_compare_prints_the_inputs_that_differ_and_each_steps_duration_and_cost(
    two_runs: tuple[tn.Nexus, tn.RunResult, tn.RunResult],
) -> None:
    _, first, second = two_runs
    done = CliRunner().invoke(app, ["runs", "compare", first.run_id, second.run_id], env={"COLUMNS": "200"})
    assert done.exit_code == 0, done.stderr
    rows = {line.split("│")[1].strip(): line for line in done.stdout.splitlines() if line.count("│") >= 3}
    assert first.run_id in done.stdout and second.run_id in done.stdout
    assert "alpha" in rows["input.who"] and "beta" in rows["input.who"]
    assert "input.times" not in rows  # the same in both runs
    for step in ("greet", "pay"):
        assert f"step.{step}.duration" in rows and f"step.{step}.cost" in rows
    assert rows["step.pay.cost"].count("0.2") == 2
    assert rows["status"].count("succeeded") == 2


def test_runs_compare_as_json_has_one_column_per_run(two_runs: tuple[tn.Nexus, tn.RunResult, tn.RunResult]) -> None:
    _, first, second = two_runs
    done = CliRunner().invoke(app, ["runs", "compare", first.run_id, second.run_id, "--json", "--all"])
    assert done.exit_code == 0, done.stderr
    table = json.loads(done.stdout)
    assert list(table) == [first.run_id, second.run_id]
    assert table[first.run_id]["input.who"] == "alpha" and table[second.run_id]["input.who"] == "beta"
    assert table[first.run_id]["input.times"] == table[second.run_id]["input.times"] == "2"
    assert table[first.run_id]["step.greet.duration"] == pytest.approx(first.steps["greet"].duration)


def test_compare_runs_returns_a_dataframe_with_one_column_per_run(
    two_runs: tuple[tn.Nexus, tn.RunResult, tn.RunResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    nexus, first, second = two_runs
    monkeypatch.setattr(toolnexus.api, "_default", None)
    try:
        frame = tn.compare_runs(first.run_id, second.run_id)  # the cwd's Nexus, configured by toolnexus.toml
    finally:
        if toolnexus.api._default is not None:
            toolnexus.api._default.close()
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.columns) == [first.run_id, second.run_id]
    assert list(frame.loc["input.who"]) == ["alpha", "beta"]
    assert list(frame.loc["status"]) == ["succeeded", "succeeded"]
    assert list(frame.loc["cost"]) == pytest.approx([first.cost, second.cost])
    assert frame.loc["step.pay.cost", second.run_id] == pytest.approx(second.steps["pay"].cost)
    assert frame.loc["step.greet.duration", first.run_id] == pytest.approx(first.steps["greet"].duration)

    # Nexus.compare takes MLflow's run ids as well as toolnexus's.
    mlflow_id = mlflow_run(client_of(nexus), first).info.run_id
    same = nexus.compare(mlflow_id, second.run_id)
    assert list(same.columns) == [first.run_id, second.run_id]
    assert same.equals(frame)


def test_comparing_an_unknown_run_says_which(two_runs: tuple[tn.Nexus, tn.RunResult, tn.RunResult]) -> None:
    _, first, _ = two_runs
    done = CliRunner().invoke(app, ["runs", "compare", first.run_id, "run-nope"])
    assert done.exit_code == 2
    assert "no run 'run-nope'" in done.stderr


def test_runs_compare_takes_the_prefixes_runs_show_takes(two_runs: tuple[tn.Nexus, tn.RunResult, tn.RunResult]) -> None:
    _, first, second = two_runs
    done = CliRunner().invoke(app, ["runs", "compare", first.run_id[:-2], second.run_id[:-2], "--json"])
    assert done.exit_code == 0, done.stderr
    assert list(json.loads(done.stdout)) == [first.run_id, second.run_id]
