"""Background sync: a CLI command spools its run and leaves MLflow to a detached process, which loses
nothing when MLflow is away and never writes one run twice."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from mlflow import MlflowClient

import toolnexus as tn
from tests.conftest import REPO
from tests.tracking.conftest import register_test_tools, seed_store
from tests.tracking.support import free_port, mlflow_run, wait_until
from toolnexus.tracking.background import _ENTRY, last_failure

ONE_STEP = "mission: tiny\nsteps:\n  - id: only\n    uses: test.costly\n    with: {label: x}\n"
RENDER = ("mission: hello\nsteps:\n  - id: greet\n    uses: text.render\n"
          "    with: {template: 'hi {{ who }}', data: {who: ada}}\n")


def background(workspace: Path, uri: str) -> tn.Nexus:
    overrides = {"tracking.enabled": True, "tracking.sync": "background", "tracking.uri": uri}
    return register_test_tools(tn.Nexus(workspace, overrides=overrides))


def spooled(workspace: Path) -> list[str]:
    return sorted(p.stem for p in (workspace / ".toolnexus" / "tracking-spool").glob("*.json"))


def test_a_cli_run_returns_without_touching_mlflow_and_its_run_arrives_in_the_background(
    workspace: Path, mlflow_template: Path
) -> None:
    db = workspace / ".toolnexus" / "mlflow.db"
    seed_store(db, mlflow_template)
    (workspace / "hello.yaml").write_text(RENDER)
    # The command, with a look at what it imported when it is over.
    probe = ("import sys\nfrom toolnexus.cli import main\n"
             "try:\n    main()\nfinally:\n"
             "    print('MLFLOW-IMPORTED' if 'mlflow' in sys.modules else 'MLFLOW-NOT-IMPORTED', file=sys.stderr)\n")
    env = {**os.environ, "TOOLNEXUS_TRACKING__ENABLED": "true", "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", probe, "run", "hello.yaml", "--json"], cwd=workspace, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "MLFLOW-NOT-IMPORTED" in done.stderr
    run_id = json.loads(done.stdout)["run_id"]

    client = MlflowClient(tracking_uri=f"sqlite:///{db}")

    def in_mlflow() -> bool:
        experiment = client.get_experiment_by_name("hello")
        return experiment is not None and bool(
            client.search_runs([experiment.experiment_id], filter_string=f"tags.`toolnexus.run_id` = '{run_id}'"))

    wait_until(in_mlflow, 120, "the detached writer to put the run in MLflow")
    wait_until(lambda: spooled(workspace) == [], 30, "the spool to be emptied")


def test_runs_that_cannot_reach_mlflow_stay_spooled_and_the_next_command_sends_them(
    workspace: Path, mlflow_template: Path
) -> None:
    away = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with background(workspace, away) as nexus:
        first = nexus.run(ONE_STEP)
    assert nexus.tracker is not None
    code = nexus.tracker.syncer.wait(120)
    assert code == 1, (workspace / ".toolnexus" / "tracking-spool" / "sync.log").read_text()  # the writer failed ...
    assert spooled(workspace) == [first.run_id]  # ... and the report is still there
    spool = workspace / ".toolnexus" / "tracking-spool"
    assert last_failure(spool) is not None

    db = workspace / "mlflow.db"
    seed_store(db, mlflow_template)
    with background(workspace, f"sqlite:///{db}") as nexus:
        second = nexus.run(ONE_STEP)
    assert nexus.tracker is not None
    assert nexus.tracker.syncer.wait(120) == 0
    assert spooled(workspace) == []
    assert last_failure(spool) is None
    client = MlflowClient(tracking_uri=f"sqlite:///{db}")
    for result in (first, second):
        assert mlflow_run(client, result).data.tags["toolnexus.status"] == "succeeded"


def test_writers_started_at_once_write_each_run_exactly_once(workspace: Path, mlflow_template: Path) -> None:
    with background(workspace, f"http://127.0.0.1:{free_port()}") as nexus:
        results = [nexus.run(ONE_STEP) for _ in range(4)]
    assert nexus.tracker is not None
    nexus.tracker.syncer.wait(120)
    assert spooled(workspace) == sorted(r.run_id for r in results)

    db = workspace / "mlflow.db"
    seed_store(db, mlflow_template)
    spool = workspace / ".toolnexus" / "tracking-spool"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    writers = [subprocess.Popen([sys.executable, "-c", _ENTRY, str(spool), f"sqlite:///{db}", str(workspace)],
                                env=env, stderr=subprocess.PIPE) for _ in range(3)]
    for writer in writers:
        _, errors = writer.communicate(timeout=180)
        assert writer.returncode == 0, errors.decode()
    assert spooled(workspace) == []
    client = MlflowClient(tracking_uri=f"sqlite:///{db}")
    for result in results:
        mlflow_run(client, result)  # asserts there is exactly one MLflow run for it
