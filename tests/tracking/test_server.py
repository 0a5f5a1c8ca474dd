"""Runs against a real ``mlflow server`` on a loopback port: recorded and read back; and when the
server is down, the run still succeeds, one warning says so, and the run reaches MLflow later."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

import toolnexus as tn
from tests.tracking.conftest import register_test_tools
from tests.tracking.support import MlflowServer, mlflow_run, spans_by_name, synced, trace_of
from toolnexus.cli import app

MISSION = """\
mission: served
inputs:
  label: {type: string, default: x}
steps:
  - id: pay
    uses: test.costly
    with: {label: "${{ inputs.label }}"}
  - id: count
    uses: test.tokens
    with: {n: 40}
  - id: shaky
    uses: test.flaky
    with: {marker: shaky.count, fail_times: 1}
    retry: {attempts: 3, delay: 0.01}
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, mlflow_template: Path) -> Iterator[MlflowServer]:
    """One ``mlflow server`` for this module (start-up takes seconds), stopped with all its processes."""
    running = MlflowServer(tmp_path_factory.mktemp("mlflow-server"), mlflow_template)
    try:
        running.start()
        yield running
    finally:
        running.stop()


def configured(folder: Path, uri: str) -> Path:
    """A project folder whose toolnexus.toml sends its runs to ``uri``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "toolnexus.toml").write_text(f'[tracking]\nenabled = true\nuri = "{uri}"\n')
    return folder


@pytest.fixture
def tracking_from_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TOOLNEXUS_TRACKING__ENABLED")  # let each project's toolnexus.toml decide


def spooled(folder: Path) -> list[str]:
    return sorted(p.stem for p in (folder / ".toolnexus" / "tracking-spool").glob("*.json"))


def test_runs_sent_to_a_tracking_server_are_read_back_from_it(server: MlflowServer, workspace: Path) -> None:
    settings = {"tracking.enabled": True, "tracking.uri": server.uri}
    with register_test_tools(tn.Nexus(workspace, overrides=settings)) as nexus:
        result = nexus.run(MISSION, {"label": "served"})
        assert result.ok, result.summary()
        synced(nexus)
    client = MlflowClient(tracking_uri=server.uri)
    run = mlflow_run(client, result)
    assert run.info.status == "FINISHED"
    assert run.data.params["input.label"] == "served"
    assert run.data.metrics["cost"] == pytest.approx(result.cost) == pytest.approx(0.24)
    assert run.data.metrics["step.shaky.attempts"] == 2
    assert {"mission.yaml", "plan.json", "plan.svg", "outputs.json", "events.jsonl"} <= {
        a.path for a in client.list_artifacts(run.info.run_id)
    }
    trace = trace_of(client, run)
    spans = spans_by_name(trace)
    assert {"pay", "count", "shaky"} <= set(spans)
    attempts = [s for s in trace.data.spans if s.parent_id == spans["shaky"].span_id]
    assert sorted(s.status.status_code.value for s in attempts) == ["ERROR", "OK"]
    # The server computes the trace's cost from the spans' mlflow.llm.cost: the run's cost.
    assert json.loads(trace.info.trace_metadata["mlflow.trace.cost"])["total_cost"] == pytest.approx(result.cost)


def test_a_stopped_server_never_breaks_a_run_and_its_runs_reach_mlflow_once_it_is_back(
    server: MlflowServer, workspace: Path, tracking_from_config: None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="toolnexus.tracking")
    synced_by_cli, synced_by_next_run = configured(workspace / "a", server.uri), configured(workspace / "b", server.uri)
    server.stop()

    with register_test_tools(tn.Nexus(synced_by_cli)) as a:
        lost_a = a.run(MISSION)
    with register_test_tools(tn.Nexus(synced_by_next_run)) as b:
        assert b.tracker is not None
        lost_b = b.run(MISSION)
        assert b.tracker.flush(60)
        assert lost_a.ok and lost_b.ok

        ours = [r for r in caplog.records if r.name == "toolnexus.tracking"]
        assert len(ours) == 2  # one per Nexus, however many calls failed
        for folder, lost in ((synced_by_cli, lost_a), (synced_by_next_run, lost_b)):
            (warning,) = [r for r in ours if str(folder) in r.getMessage()]
            assert warning.levelno == logging.WARNING
            assert server.uri in warning.getMessage() and "toolnexus runs sync" in warning.getMessage()
            assert spooled(folder) == [lost.run_id]

        server.start()
        done = CliRunner().invoke(app, ["runs", "sync", "--workspace", str(synced_by_cli)])
        assert done.exit_code == 0, done.stderr
        assert "synced 1 of 1 pending run(s)" in done.stderr
        assert spooled(synced_by_cli) == []
        client = MlflowClient(tracking_uri=server.uri)
        run = mlflow_run(client, lost_a)
        assert run.info.status == "FINISHED" and run.data.metrics["cost"] == pytest.approx(lost_a.cost)
        trace_of(client, run)

        # The same Nexus's next run sends the one it could not, by itself.
        failures = len(b.tracker.failures)
        later = b.run(MISSION)
        assert b.tracker.flush(60)
        assert len(b.tracker.failures) == failures
    assert spooled(synced_by_next_run) == []
    for result in (lost_b, later):
        run = mlflow_run(client, result)
        assert run.info.status == "FINISHED"
        trace_of(client, run)
