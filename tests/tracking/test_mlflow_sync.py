"""What a run looks like in MLflow, read back through MLflow's own client: the run's params, tags,
metrics and artifacts, its trace (a span per step, a child span per attempt), costs, and statuses."""

from __future__ import annotations

import json
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

import toolnexus as tn
from tests.tracking.support import artifact_texts, client_of, mlflow_run, spans_by_name, synced, trace_of
from toolnexus import RunControl, RunStatus
from toolnexus.core.events import Event, StepStarted

PRICED = """\
mission: priced
version: 2.1.0
description: Every kind of cost - per call, reported by the tool, and fanned out.
inputs:
  label: {type: string, default: hello}
  times: {type: integer, default: 2}
steps:
  - id: flat
    uses: test.costly
    with: {label: "${{ inputs.label }}"}
  - id: small
    uses: test.tokens
    with: {n: 100}
  - id: big
    uses: test.tokens
    with: {n: 250}
    needs: small
  - id: each
    uses: test.costly
    foreach: [x, y]
    with: {label: "${{ item }}"}
outputs:
  label: "${{ steps.flat.outputs }}"
  spent: "${{ steps.big.outputs.usage.cost }}"
"""

BUMPY = """\
mission: bumpy
steps:
  - id: first
    uses: test.echo
    with: {value: hi}
  - id: shaky
    uses: test.flaky
    with: {marker: shaky.count, fail_times: 2}
    retry: {attempts: 3, delay: 0.01}
  - id: broken
    uses: test.fail
    with: {message: it broke}
    needs: first
"""


def error_of(span: Any) -> dict[str, Any]:
    """A span's ``toolnexus.error`` (a ToolError as JSON; MLflow may hand it back decoded)."""
    error = span.attributes["toolnexus.error"]
    return error if isinstance(error, dict) else json.loads(error)


def run_file(nexus: tn.Nexus, text: str, inputs: dict[str, object] | None = None) -> tn.RunResult:
    path = nexus.workspace / "mission.yaml"
    path.write_text(text, encoding="utf-8")
    return nexus.run(path, inputs)


def test_each_mission_run_is_one_mlflow_run_with_params_tags_and_metrics(tnx: tn.Nexus) -> None:
    first = run_file(tnx, PRICED, {"label": "one"})
    second = run_file(tnx, PRICED, {"label": "two", "times": 5})
    assert first.ok and second.ok
    synced(tnx)
    client = client_of(tnx)
    experiment = client.get_experiment_by_name("priced")
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id])
    assert sorted(r.data.tags["toolnexus.run_id"] for r in runs) == sorted([first.run_id, second.run_id])

    run = mlflow_run(client, second)
    assert run.info.status == "FINISHED"
    assert run.info.run_name == second.run_id
    params = run.data.params
    assert params["input.label"] == "two" and params["input.times"] == "5"
    assert params["mission_version"] == "2.1.0"
    assert params["executor"] == "local"
    assert {k: v for k, v in params.items() if k.startswith("runtime.")} == {
        f"runtime.{step}": "inprocess" for step in ("flat", "small", "big", "each")
    }
    tags = run.data.tags
    assert tags["toolnexus.mission"] == "priced"
    assert tags["toolnexus.plan_hash"] == tnx.compile(tnx.workspace / "mission.yaml").hash
    assert tags["tool.test.costly"] == "1.0.0" and tags["tool.test.tokens"] == "1.0.0"
    assert tags["toolnexus.status"] == "succeeded"
    assert tags["toolnexus.run_id"] == second.run_id
    assert "mlflow.source.git.commit" not in tags  # the workspace is not a repository

    metrics = run.data.metrics
    assert metrics["duration"] == pytest.approx(second.duration)
    assert metrics["cost"] == pytest.approx(second.cost)
    assert (metrics["steps_succeeded"], metrics["steps_failed"], metrics["steps_skipped"], metrics["steps_cached"]) == (
        4, 0, 0, 0,
    )  # fmt: skip
    for step_id, record in second.steps.items():
        assert metrics[f"step.{step_id}.duration"] == pytest.approx(record.duration)
        assert metrics[f"step.{step_id}.cost"] == pytest.approx(record.cost)


def test_the_git_commit_is_tagged_when_the_workspace_is_a_repository(tnx: tn.Nexus) -> None:
    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
            cwd=tnx.workspace, capture_output=True, text=True, check=True,
        )  # fmt: skip
        return done.stdout.strip()

    git("init", "-q")
    (tnx.workspace / "README").write_text("a project\n")
    git("add", "README")
    git("commit", "-q", "-m", "first")
    head = git("rev-parse", "HEAD")
    result = tnx.run("mission: committed\nsteps:\n  - id: a\n    uses: test.echo\n    with: {value: v}\n")
    synced(tnx)
    assert mlflow_run(client_of(tnx), result).data.tags["mlflow.source.git.commit"] == head


def test_artifacts_hold_the_mission_as_run_the_plan_as_json_and_graph_the_outputs_and_events(
    tnx: tn.Nexus, tmp_path: Path
) -> None:
    result = run_file(tnx, PRICED, {"label": "art"})
    synced(tnx)
    client = client_of(tnx)
    run = mlflow_run(client, result)
    listed = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"mission.yaml", "plan.json", "plan.svg", "plan.mmd", "outputs.json", "events.jsonl"} <= listed
    texts = artifact_texts(client, run, tmp_path / "downloaded")

    assert texts["mission.yaml"] == PRICED
    plan = json.loads(texts["plan.json"])
    compiled = tnx.compile(tnx.workspace / "mission.yaml")
    assert plan["hash"] == compiled.hash
    assert [s["id"] for s in plan["steps"]] == ["flat", "small", "big", "each"]

    svg = ET.fromstring(texts["plan.svg"])
    assert svg.tag == "{http://www.w3.org/2000/svg}svg"
    labels = {t.text for t in svg.iter("{http://www.w3.org/2000/svg}text")}
    assert {"flat", "small", "big", "each", "test.tokens@1.0.0"} <= labels
    assert len(list(svg.iter("{http://www.w3.org/2000/svg}line"))) == 1  # the one edge: small → big
    assert texts["plan.mmd"] == compiled.to_mermaid()

    assert json.loads(texts["outputs.json"]) == result.outputs == {"label": "art", "spent": 0.25}
    events = [json.loads(line) for line in texts["events.jsonl"].splitlines()]
    assert events[0]["type"] == "run_started" and events[-1]["type"] == "run_finished"
    assert {e["run_id"] for e in events} == {result.run_id}
    assert sum(e["type"] == "step_finished" for e in events) == 4
    assert sum(e["type"] == "call_finished" for e in events) == 5  # the foreach step made two calls


def test_the_trace_has_a_tool_span_per_step_and_a_child_span_per_attempt_of_a_retried_step(tnx: tn.Nexus) -> None:
    result = tnx.run(BUMPY)
    assert result.status == RunStatus.FAILED
    assert result.steps["shaky"].attempts == 3 and result.steps["shaky"].status.value == "succeeded"
    synced(tnx)
    client = client_of(tnx)
    run = mlflow_run(client, result)
    trace = trace_of(client, run)
    assert trace.info.request_metadata["mlflow.sourceRun"] == run.info.run_id
    assert trace.info.state.value == "ERROR"

    spans = spans_by_name(trace)
    (root,) = [s for s in trace.data.spans if s.parent_id is None]
    for step_id in ("first", "shaky", "broken"):
        span = spans[step_id]
        assert span.span_type == "TOOL"
        assert span.parent_id == root.span_id
        assert span.attributes["toolnexus.status"] == result.steps[step_id].status.value
        assert span.attributes["toolnexus.cost"] == result.steps[step_id].cost
    assert spans["shaky"].attributes["toolnexus.tool"] == "test.flaky@1.0.0"
    assert spans["first"].inputs == {"value": "hi"} and spans["first"].outputs == "hi"
    assert spans["first"].status.status_code.value == "OK"

    broken = spans["broken"]
    assert broken.status.status_code.value == "ERROR"
    assert "it broke" in error_of(broken)["message"]
    assert spans["first"].attributes["toolnexus.error"] == ""

    attempts = sorted(
        (s for s in trace.data.spans if s.parent_id == spans["shaky"].span_id), key=lambda s: s.start_time_ns
    )
    assert [s.attributes["toolnexus.attempt"] for s in attempts] == [1, 2, 3]
    assert [s.status.status_code.value for s in attempts] == ["ERROR", "ERROR", "OK"]
    assert error_of(attempts[0])["message"] == "transient failure 1"
    assert attempts[2].outputs == 3


def test_a_run_with_a_failed_and_a_retried_step_is_recorded_failed(tnx: tn.Nexus) -> None:
    result = tnx.run(BUMPY)
    synced(tnx)
    run = mlflow_run(client_of(tnx), result)
    assert run.info.status == "FAILED"
    tags, metrics = run.data.tags, run.data.metrics
    assert tags["toolnexus.status"] == "failed"
    assert (tags["step.first.status"], tags["step.shaky.status"], tags["step.broken.status"]) == (
        "succeeded", "succeeded", "failed",
    )  # fmt: skip
    assert (metrics["steps_succeeded"], metrics["steps_failed"]) == (2, 1)
    assert metrics["step.shaky.attempts"] == 3


def test_a_cancelled_run_is_recorded_killed(tnx: tn.Nexus) -> None:
    control = RunControl()

    def cancel_when_napping(event: Event) -> None:
        if isinstance(event, StepStarted) and event.step_id == "nap":
            control.cancel("enough")

    tnx.bus.subscribe(cancel_when_napping)
    mission = """\
mission: napping
steps:
  - id: first
    uses: test.echo
    with: {value: hi}
  - id: nap
    uses: test.sleep
    with: {seconds: 60}
    needs: first
"""
    result = tnx.run(mission, control=control)
    assert result.status == RunStatus.CANCELLED
    synced(tnx)
    run = mlflow_run(client_of(tnx), result)
    assert run.info.status == "KILLED"
    assert run.data.tags["toolnexus.status"] == "cancelled"
    assert run.data.tags["step.nap.status"] == "cancelled"
    assert run.data.metrics["steps_cancelled"] == 1


def test_costs_roll_up_per_step_per_tool_and_per_run_and_agree_with_mlflows_trace_cost(tnx: tn.Nexus) -> None:
    result = tnx.run(PRICED)
    assert result.ok, result.summary()
    assert result.cost == pytest.approx(0.2 + 0.1 + 0.25 + 0.4)
    synced(tnx)
    client = client_of(tnx)
    run = mlflow_run(client, result)
    metrics = run.data.metrics
    assert metrics["cost"] == pytest.approx(result.cost)
    for step_id, record in result.steps.items():
        assert metrics[f"step.{step_id}.cost"] == pytest.approx(record.cost)
    assert metrics["step.each.cost"] == pytest.approx(0.4)
    assert metrics["tool.test.costly.cost"] == pytest.approx(0.6)
    assert metrics["tool.test.tokens.cost"] == pytest.approx(0.35)

    trace = trace_of(client, run)
    spans = spans_by_name(trace)
    assert spans["flat"].attributes["mlflow.llm.cost"]["total_cost"] == pytest.approx(0.2)
    assert spans["big"].attributes["mlflow.llm.cost"]["total_cost"] == pytest.approx(0.25)
    items = [s for s in trace.data.spans if s.parent_id == spans["each"].span_id]
    assert [s.attributes["mlflow.llm.cost"]["total_cost"] for s in items] == pytest.approx([0.2, 0.2])
    # MLflow adds up the spans' mlflow.llm.cost into the trace's cost: once, not per level.
    trace_cost = json.loads(trace.info.trace_metadata["mlflow.trace.cost"])
    assert trace_cost["total_cost"] == pytest.approx(result.cost)


def test_a_run_whose_budget_refuses_a_call_is_recorded_failed_with_the_cost_of_the_calls_that_ran(
    tnx: tn.Nexus,
) -> None:
    steps = "\n".join(
        f"  - id: c{i}\n    uses: test.costly\n    with: {{label: c{i}}}" + (f"\n    needs: c{i - 1}" if i else "")
        for i in range(3)
    )
    result = tnx.run(f"mission: budgeted\nbudget: {{max_cost: 0.5}}\nsteps:\n{steps}\n")
    assert result.status == RunStatus.FAILED
    assert result.cost == pytest.approx(0.4)
    synced(tnx)
    client = client_of(tnx)
    run = mlflow_run(client, result)
    assert run.info.status == "FAILED"
    assert run.data.tags["toolnexus.status"] == "failed"
    assert run.data.tags["step.c2.status"] == "failed"
    metrics = run.data.metrics
    assert metrics["cost"] == pytest.approx(0.4)
    assert (metrics["step.c0.cost"], metrics["step.c1.cost"], metrics["step.c2.cost"]) == pytest.approx((0.2, 0.2, 0))
    assert metrics["tool.test.costly.cost"] == pytest.approx(0.4)
    trace = trace_of(client, run)
    refused = spans_by_name(trace)["c2"]
    assert error_of(refused)["kind"] == "budget_exceeded"
    assert json.loads(trace.info.trace_metadata["mlflow.trace.cost"])["total_cost"] == pytest.approx(0.4)


def test_secrets_in_arguments_reach_neither_the_trace_nor_params_nor_artifacts(tnx: tn.Nexus, tmp_path: Path) -> None:
    api_key = "hunter2-correct-horse-battery"  # secret by its name only
    token = "sk-" + "Zq8xW2vN7mK4pL9rT3yB6cD1"  # secret by its look, passed as an input
    literal = "sk-" + "Lt5literalInTheMissionFile0"  # secret by its look, written in the mission
    mission = f"""\
mission: secretive
inputs:
  api_key: {{type: string}}
  prompt: {{type: string}}
steps:
  - id: login
    uses: trk.login
    with: {{user: ada, api_key: "${{{{ inputs.api_key }}}}"}}
  - id: say
    uses: test.echo
    with: {{value: "${{{{ inputs.prompt }}}}"}}
  - id: note
    uses: test.echo
    with: {{value: "the key is {literal}"}}
outputs:
  said: "${{{{ steps.say.outputs }}}}"
"""
    result = tnx.run(mission, {"api_key": api_key, "prompt": f"please use {token} now"})
    assert result.ok, result.summary()
    synced(tnx)
    client = client_of(tnx)
    run = mlflow_run(client, result)
    trace = trace_of(client, run)
    assert spans_by_name(trace)["login"].inputs == {"user": "ada", "api_key": "***"}
    assert run.data.params["input.api_key"] == "***"

    recorded = {
        "params": json.dumps(run.data.params),
        "tags": json.dumps(run.data.tags),
        "metrics": json.dumps(run.data.metrics),
        "trace": trace.to_json(),
        **artifact_texts(client, run, tmp_path / "downloaded"),
    }
    for secret in (api_key, token, literal):
        leaks = [where for where, text in recorded.items() if secret in text]
        assert leaks == [], f"{secret[:6]}… recorded in {leaks}"
