"""The tracking subscriber: where runs go by default and when configured, the spool that keeps what
could not be sent, and how few round-trips a run costs."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import mlflow
import pytest
from mlflow import MlflowClient

import toolnexus as tn
from tests.conftest import REPO
from tests.tracking.conftest import register_test_tools, seed_store
from tests.tracking.support import client_of, mlflow_run, synced, trace_of, wait_until
from toolnexus import RunControl, RunStatus
from toolnexus.core.events import GateDecided

ONE_STEP = "mission: tiny\nsteps:\n  - id: only\n    uses: test.costly\n    with: {label: x}\n"


def tracked(workspace: Path, **overrides: object) -> tn.Nexus:
    return register_test_tools(tn.Nexus(workspace, overrides={"tracking.enabled": True, **overrides}))


def test_by_default_runs_go_to_a_sqlite_store_in_the_state_folder_and_nothing_to_the_cwd(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project, elsewhere = workspace / "project", workspace / "elsewhere"
    project.mkdir()
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    with tracked(project) as nexus:
        result = nexus.run(ONE_STEP)
        synced(nexus)
    state = project / ".toolnexus"
    assert nexus.tracker is not None
    assert nexus.tracker.uri == f"sqlite:///{state / 'mlflow.db'}"
    assert (state / "mlflow.db").is_file()
    client = MlflowClient(tracking_uri=f"sqlite:///{state / 'mlflow.db'}")
    run = mlflow_run(client, result)
    assert run.info.artifact_uri.startswith((state / "mlartifacts").as_uri() + "/")
    assert (state / "mlartifacts" / "tiny" / run.info.run_id / "artifacts" / "plan.json").is_file()
    assert list(elsewhere.iterdir()) == []
    assert sorted(p.name for p in project.iterdir()) == [".toolnexus"]


def test_mlflow_tracking_uri_points_runs_elsewhere(
    workspace: Path, mlflow_template: Path, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    other = tmp_path_factory.mktemp("other-store") / "mlflow.db"
    seed_store(other, mlflow_template)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{other}")
    with tracked(workspace) as nexus:
        result = nexus.run(ONE_STEP)
        synced(nexus)
    assert nexus.tracker is not None and nexus.tracker.uri == f"sqlite:///{other}"
    mlflow_run(MlflowClient(tracking_uri=f"sqlite:///{other}"), result)
    assert not (workspace / ".toolnexus" / "mlflow.db").exists()


def test_the_tracking_uri_setting_points_runs_elsewhere_and_wins_over_the_environment(
    workspace: Path, mlflow_template: Path, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from_env, configured = (tmp_path_factory.mktemp(name) / "mlflow.db" for name in ("from-env", "configured"))
    for path in (from_env, configured):
        seed_store(path, mlflow_template)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{from_env}")
    with tracked(workspace, **{"tracking.uri": f"sqlite:///{configured}"}) as nexus:
        result = nexus.run(ONE_STEP)
        synced(nexus)
    mlflow_run(MlflowClient(tracking_uri=f"sqlite:///{configured}"), result)
    assert MlflowClient(tracking_uri=f"sqlite:///{from_env}").get_experiment_by_name("tiny") is None
    assert not (workspace / ".toolnexus" / "mlflow.db").exists()


def test_two_workspaces_in_one_process_keep_their_runs_and_traces_in_their_own_stores(
    workspace: Path, mlflow_template: Path
) -> None:
    first, second = workspace / "first", workspace / "second"
    for folder in (first, second):
        seed_store(folder / ".toolnexus" / "mlflow.db", mlflow_template)
    users_uri = mlflow.get_tracking_uri()
    with tracked(first) as one, tracked(second) as two:
        results = {one: [one.run(ONE_STEP)], two: [two.run(ONE_STEP)]}
        synced(one)
        synced(two)
        results[one].append(one.run(ONE_STEP))  # after the second workspace's tracker has synced
        synced(one)
    for nexus, runs in results.items():
        client = client_of(nexus)
        experiment = client.get_experiment_by_name("tiny")
        assert experiment is not None
        assert len(client.search_runs([experiment.experiment_id])) == len(runs)
        for result in runs:
            trace_of(client, mlflow_run(client, result))
    # Tracking leaves the process's own MLflow settings as it found them.
    assert "MLFLOW_TRACKING_URI" not in os.environ
    assert mlflow.get_tracking_uri() == users_uri


def test_an_unreachable_store_leaves_a_whole_report_in_the_spool_which_is_removed_once_synced(
    workspace: Path, mlflow_template: Path
) -> None:
    blocker = workspace / "store"
    blocker.write_text("a file where the store's folder should be")
    db = blocker / "mlflow.db"
    with tracked(workspace, **{"tracking.uri": f"sqlite:///{db}"}) as nexus:
        tracker = nexus.tracker
        assert tracker is not None
        result = nexus.run(ONE_STEP)
        assert result.ok
        assert tracker.flush(60)
        assert tracker.failures  # the store could not be opened
        spool = workspace / ".toolnexus" / "tracking-spool"
        assert [p.name for p in spool.iterdir()] == [f"{result.run_id}.json"]  # no partial file left behind
        report = json.loads((spool / f"{result.run_id}.json").read_text(encoding="utf-8"))
        assert report["version"] == 1
        assert (report["run_id"], report["mission"], report["status"]) == (result.run_id, "tiny", "succeeded")
        assert report["metrics"]["cost"] == pytest.approx(0.2)
        assert report["metrics"]["step.only.cost"] == pytest.approx(0.2)
        assert report["params"]["executor"] == "local"
        assert {"mission.yaml", "plan.json", "outputs.json", "events.jsonl"} <= set(report["artifacts"])
        assert report["steps"]["only"]["status"] == "succeeded"

        (spool / f".{result.run_id}.123.partial").write_text('{"run_id": "half-writ')  # a writer that died
        assert tracker.pending() == [spool / f"{result.run_id}.json"]
        blocker.unlink()
        seed_store(db, mlflow_template)
        assert tracker.sync_pending() == (1, [])
        assert tracker.pending() == []
        assert not (spool / f"{result.run_id}.json").exists()
    run = mlflow_run(MlflowClient(tracking_uri=f"sqlite:///{db}"), result)
    assert run.info.status == "FINISHED"


def test_a_store_that_does_not_answer_keeps_the_finished_run_in_the_spool_when_flushing_gives_up(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    silent = socket.socket()  # accepts connections (the kernel does) and never answers
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
    try:
        nexus = tracked(workspace, **{"tracking.uri": f"http://127.0.0.1:{silent.getsockname()[1]}"})
        result = nexus.run(ONE_STEP)
        assert result.ok and result.duration < 5  # the run does not wait for the store
        assert nexus.tracker is not None
        assert nexus.tracker.flush(0.5) is False  # the worker is stuck waiting for the store
        spool = workspace / ".toolnexus" / "tracking-spool"
        report = json.loads((spool / f"{result.run_id}.json").read_text(encoding="utf-8"))
        assert report["status"] == "succeeded" and report["metrics"]["cost"] == pytest.approx(0.2)
    finally:
        silent.close()  # the worker's requests now fail at once
    assert nexus.tracker.flush(60)
    nexus.close()
    assert (spool / f"{result.run_id}.json").exists()


def test_a_script_that_never_closes_its_nexus_loses_no_run(workspace: Path) -> None:
    script = workspace / "script.py"
    script.write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(REPO)!r})\n"
        "import toolnexus as tn\n"
        "from tests.tracking.conftest import register_test_tools\n"
        "from toolnexus.api import default_nexus\n"
        "register_test_tools(default_nexus())\n"
        f"result = tn.run({ONE_STEP!r})\n"
        "print(result.run_id)\n"
    )
    env = {**os.environ, "TOOLNEXUS_TRACKING__ENABLED": "true"}
    done = subprocess.run(
        [sys.executable, str(script)], cwd=workspace, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    run_id = done.stdout.split()[-1]
    spooled = workspace / ".toolnexus" / "tracking-spool" / f"{run_id}.json"
    if spooled.exists():  # the interpreter was going away before MLflow could be reached: kept for later
        assert json.loads(spooled.read_text(encoding="utf-8"))["status"] == "succeeded"
    else:  # or it was sent on the way out
        client = MlflowClient(tracking_uri=f"sqlite:///{workspace / '.toolnexus' / 'mlflow.db'}")
        experiment = client.get_experiment_by_name("tiny")
        assert experiment is not None
        assert client.search_runs([experiment.experiment_id], filter_string=f"tags.`toolnexus.run_id` = '{run_id}'")


def test_a_sixty_step_run_costs_a_handful_of_log_batch_round_trips_not_one_per_metric(tnx: tn.Nexus) -> None:
    steps = "\n".join(
        f"  - id: s{i}\n    uses: test.noop" + (f"\n    needs: s{i - 1}" if i % 10 else "") for i in range(60)
    )
    assert tnx.tracker is not None
    client = tnx.tracker.client()
    calls: list[int] = []
    real_log_batch = client.log_batch

    def counting_log_batch(*args: object, **kwargs: object) -> object:
        calls.append(sum(len(kwargs.get(k) or []) for k in ("metrics", "params", "tags")))  # type: ignore[arg-type]
        return real_log_batch(*args, **kwargs)

    client.log_batch = counting_log_batch  # type: ignore[method-assign]
    result = tnx.run(f"mission: sixty\nsteps:\n{steps}\n")
    assert result.ok
    synced(tnx)
    run = mlflow_run(client_of(tnx), result)
    metrics = len(run.data.metrics)
    assert metrics >= 60 * 3  # each step's duration, cost and attempts, and the run's totals
    assert sum(calls) >= metrics + len(run.data.params)
    assert len(calls) <= 10, f"{len(calls)} log_batch round-trips for {metrics} metrics"


def test_a_flush_ends_the_grace_the_tracker_gives_a_run_before_building_its_report(tnx: tn.Nexus) -> None:
    """The report of a run that just ended waits its grace (the run's thread finishing first), unless a flush
    is waiting for it: then it is built and synced at once."""
    assert tnx.tracker is not None
    tnx.tracker.report_grace = 600.0
    result = tnx.run(ONE_STEP)
    assert tnx.tracker.flush(60)  # (without the flush ending the grace, 60 s would run out first)
    assert tnx.tracker.failures == []
    assert tnx.tracker.pending() == []
    assert mlflow_run(client_of(tnx), result).data.tags["toolnexus.status"] == "succeeded"


def test_step_metrics_reach_mlflow_while_the_run_is_still_going(tnx: tn.Nexus) -> None:
    mission = """\
mission: streaming
steps:
  - id: quick
    uses: test.costly
  - id: slow
    uses: test.sleep
    with: {seconds: 60}
    needs: quick
"""
    control = RunControl()
    client = client_of(tnx)
    seen: dict[str, float] = {}

    def watch() -> None:
        def quick_cost() -> float | None:
            experiment = client.get_experiment_by_name("streaming")
            runs = client.search_runs([experiment.experiment_id]) if experiment else []
            return runs[0].data.metrics.get("step.quick.cost") if runs else None

        try:
            seen["cost"] = wait_until(quick_cost, 30, "step.quick.cost in MLflow", every=0.1)
        finally:
            control.cancel("seen it")

    watcher = threading.Thread(target=watch)
    watcher.start()
    result = tnx.run(mission, control=control)
    watcher.join()
    assert seen["cost"] == pytest.approx(0.2)
    assert result.status == RunStatus.CANCELLED  # still running when the metric was already in MLflow


def test_gate_decisions_are_kept_in_the_tracked_event_log(workspace: Path) -> None:
    blocker = workspace / "store"
    blocker.write_text("a file where the store's folder should be")  # the report stays in the spool
    spool = workspace / ".toolnexus" / "tracking-spool"

    def logged_types(result: tn.RunResult) -> list[str]:
        report = json.loads((spool / f"{result.run_id}.json").read_text(encoding="utf-8"))
        return [json.loads(line)["type"] for line in report["artifacts"]["events.jsonl"].splitlines()]

    # The workspace's audit log (on by default) would want every decision: off here, to see tracking alone.
    settings = {"tracking.uri": f"sqlite:///{blocker / 'mlflow.db'}", "governance.audit": False}
    with tracked(workspace, **settings) as nexus:
        assert nexus.tracker is not None
        assert nexus.bus.wants(GateDecided)  # tracking counts a run's decisions and traces each one
        alone = nexus.run(ONE_STEP)
        assert nexus.tracker.flush(60)
        report = json.loads((spool / f"{alone.run_id}.json").read_text(encoding="utf-8"))
    # (Not step_started nor call_started: tracking does not have them built — an attempt's span starts at its
    # first gate decision.)
    assert logged_types(alone) == ["run_started", "gate_decided", "call_finished", "step_finished", "run_finished"]
    assert report["metrics"]["governance.decisions"] == 1 and report["metrics"]["governance.denied"] == 0
    [decision] = report["decisions"]
    assert (decision["verdict"], decision["waited"]) == ("allow", 0.0)


def test_a_run_given_its_own_executor_is_reported_under_its_name(
        workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from toolnexus.engine.executor import EXECUTORS, LocalExecutor

    class Elsewhere(LocalExecutor):
        name = "elsewhere"

    monkeypatch.setitem(EXECUTORS, "elsewhere", Elsewhere)
    blocker = workspace / "store"
    blocker.write_text("a file where the store's folder should be: the report stays in the spool, to read")
    with tracked(workspace, **{"tracking.uri": f"sqlite:///{blocker / 'mlflow.db'}"}) as nexus:
        assert nexus.tracker is not None
        own = nexus.run(ONE_STEP, executor="elsewhere")
        assert nexus.tracker.flush(60)  # (one report at a time: a failure with another waiting ends a flush early)
        default = nexus.run(ONE_STEP)
        assert nexus.tracker.flush(60)
    spool = workspace / ".toolnexus" / "tracking-spool"
    reported = {run.run_id: json.loads((spool / f"{run.run_id}.json").read_text(encoding="utf-8"))["params"]
                for run in (own, default)}
    assert reported[own.run_id]["executor"] == "elsewhere"
    assert reported[default.run_id]["executor"] == "local"
