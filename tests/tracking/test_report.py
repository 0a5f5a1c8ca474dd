"""A run's tracking report is built from the engine's events alone — plain JSON, no MLflow needed."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import toolnexus as tn
from tests.conftest import REPO
from tests.engine.support import Recorder
from toolnexus.core.events import RunStarted
from toolnexus.tracking.report import RunReport

MISSION = """\
mission: reported
version: 0.3.0
inputs:
  who: {type: string, default: ada}
  password: {type: string}
steps:
  - id: hello
    uses: test.echo
    with: {value: "${{ inputs.who }}"}
  - id: shaky
    uses: test.flaky
    with: {marker: shaky.count, fail_times: 1}
    retry: {attempts: 2, delay: 0.01}
  - id: pay
    uses: test.costly
    needs: hello
  - id: never
    uses: test.echo
    if: "${{ false }}"
    with: {value: skipped}
outputs:
  greeting: "${{ steps.hello.outputs }}"
"""


@pytest.fixture
def recorded(test_nexus: tn.Nexus) -> tuple[tn.RunResult, Recorder]:
    recorder = Recorder()
    test_nexus.bus.subscribe(recorder)
    result = test_nexus.run(MISSION, {"password": "swordfish"})
    assert result.ok, result.summary()
    return result, recorder


def report_of(recorder: Recorder, **kwargs: str) -> dict[str, object]:
    started = recorder.events[0]
    assert isinstance(started, RunStarted)
    report = RunReport(started, **kwargs)
    for event in recorder.events[1:]:
        report.add(event)
    return report.to_json()


def test_a_report_holds_params_tags_and_metrics_from_the_events(recorded: tuple[tn.RunResult, Recorder]) -> None:
    result, recorder = recorded
    report = report_of(recorder, executor="dask")
    assert json.loads(json.dumps(report)) == report  # plain JSON, as a spool file holds it
    assert (report["run_id"], report["mission"], report["status"]) == (result.run_id, "reported", "succeeded")
    assert report["params"] == {
        "mission_version": "0.3.0",
        "executor": "dask",
        "concurrency": "8",
        "input.who": "ada",
        "input.password": "***",
        "runtime.hello": "inprocess",
        "runtime.shaky": "inprocess",
        "runtime.pay": "inprocess",
        "runtime.never": "inprocess",
    }
    tags = report["tags"]
    assert isinstance(tags, dict)
    assert tags["toolnexus.run_id"] == result.run_id and tags["toolnexus.mission"] == "reported"
    assert tags["toolnexus.status"] == "succeeded"
    assert tags["tool.test.echo"] == tags["tool.test.flaky"] == tags["tool.test.costly"] == "1.0.0"
    assert [tags[f"step.{s}.status"] for s in ("hello", "shaky", "pay", "never")] == [
        "succeeded", "succeeded", "succeeded", "skipped",
    ]  # fmt: skip
    metrics = report["metrics"]
    assert isinstance(metrics, dict)
    assert metrics["cost"] == pytest.approx(result.cost) == pytest.approx(0.2)
    assert metrics["duration"] == pytest.approx(result.duration)
    assert (metrics["steps_succeeded"], metrics["steps_skipped"], metrics["steps_failed"]) == (3, 1, 0)
    assert metrics["tool.test.costly.cost"] == pytest.approx(0.2)
    assert metrics["step.shaky.attempts"] == 2
    for step_id, record in result.steps.items():
        assert metrics[f"step.{step_id}.duration"] == pytest.approx(record.duration)
        assert metrics[f"step.{step_id}.cost"] == pytest.approx(record.cost)


def test_a_report_keeps_each_attempt_and_the_artifacts(recorded: tuple[tn.RunResult, Recorder]) -> None:
    result, recorder = recorded
    report = report_of(recorder)
    attempts = report["attempts"]["shaky"]  # type: ignore[index]
    assert [(a["attempt"], a["ok"]) for a in attempts] == [(1, False), (2, True)]
    assert attempts[0]["error"]["message"] == "transient failure 1" and attempts[0]["error"]["retryable"]
    assert attempts[0]["arguments"] == {"marker": "shaky.count", "fail_times": 1}
    assert attempts[1]["output"] == 2
    assert "never" not in report["attempts"]  # type: ignore[operator]
    assert report["steps"]["never"]["status"] == "skipped"  # type: ignore[index]

    artifacts = report["artifacts"]
    assert isinstance(artifacts, dict)
    assert artifacts["mission.yaml"] == MISSION
    assert [s["id"] for s in json.loads(artifacts["plan.json"])["steps"]] == ["hello", "shaky", "pay", "never"]
    assert json.loads(artifacts["outputs.json"]) == result.outputs == {"greeting": "ada"}
    lines = artifacts["events.jsonl"].splitlines()
    assert [json.loads(line)["type"] for line in lines] == [e.type for e in recorder.events]
    assert "swordfish" not in artifacts["events.jsonl"]  # the password input, scrubbed


def test_a_report_of_a_run_still_going_says_so(recorded: tuple[tn.RunResult, Recorder]) -> None:
    _, recorder = recorded
    started = recorder.events[0]
    assert isinstance(started, RunStarted)
    report = RunReport(started).to_json()
    assert report["status"] == "running" and report["end_ns"] is None
    assert "cost" not in report["metrics"]  # type: ignore[operator]


def test_building_a_report_does_not_import_mlflow() -> None:
    code = "import sys, toolnexus.tracking.report; assert 'mlflow' not in sys.modules, 'mlflow was imported'"
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
