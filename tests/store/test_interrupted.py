"""A `toolnexus run` killed with SIGKILL: `runs list` and `runs show` say the run was interrupted (not
running forever), a live one cannot be resumed from under its process, and the interrupted one resumes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.engine.support import wait_until
from toolnexus import RunStatus, StepStatus
from toolnexus.store import StateStore

REPO = Path(__file__).resolve().parents[2]

BLOCKING = """
mission: blocking
steps:
  - id: first
    uses: eng.mark
    with: {marker: first.count, value: one}
  - id: wait
    uses: eng.wait_file
    with: {path: go, timeout: 120}
    needs: first
outputs:
  got: ${{ steps.wait.outputs }}
"""


@pytest.fixture
def project(workspace: Path) -> Path:
    (workspace / "toolnexus.toml").write_text(
        '[tools]\nmodules = ["tests.engine.tools", "tests.fixtures.tools"]\nentry_points = false\n'
        '[tracking]\nenabled = false\n')
    (workspace / "blocking.yaml").write_text(BLOCKING)
    return workspace


@pytest.fixture
def store(project: Path) -> Iterator[StateStore]:
    state = StateStore(project / ".toolnexus" / "state.db")
    yield state
    state.close()


def toolnexus(project: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "toolnexus.cli", *args], cwd=project, env=cli_env(),
                          capture_output=True, text=True, timeout=timeout)


def cli_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])}


def listed(project: Path) -> dict[str, str]:
    done = toolnexus(project, "runs", "list", "--json")
    assert done.returncode == 0, done.stderr
    return {run["run_id"]: run["status"] for run in json.loads(done.stdout)}


def test_a_sigkilled_run_shows_as_interrupted_and_resumes(project: Path, store: StateStore) -> None:
    log = open(project / "cli.log", "wb")  # noqa: SIM115 - the process writes it
    proc = subprocess.Popen([sys.executable, "-m", "toolnexus.cli", "run", "blocking.yaml", "--no-progress"],
                            cwd=project, env=cli_env(), stdout=log, stderr=log)
    log.close()
    try:
        def waiting() -> bool:  # running, with its first step done: it is now blocked on the file
            runs = store.list_runs()
            stored = store.get_run(runs[0].run_id) if runs else None
            return stored is not None and stored.status == RunStatus.RUNNING and "first" in stored.steps

        wait_until(lambda: proc.poll() is not None or waiting(), within=60, what="the run to be under way")
        assert proc.poll() is None, (project / "cli.log").read_text()
        (run_id,) = listed(project)
        assert listed(project) == {run_id: "running"}
        refused = toolnexus(project, "run", "--resume", run_id, "--no-progress")
        assert refused.returncode == 2 and "still running" in refused.stderr  # not from under its process

        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=10) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)

    assert listed(project) == {run_id: "interrupted"}
    shown = toolnexus(project, "runs", "show", run_id)
    assert shown.returncode == 0, shown.stderr
    assert f"{run_id} blocking: interrupted" in shown.stdout
    assert f"toolnexus run --resume {run_id}" in shown.stdout
    as_json = json.loads(toolnexus(project, "runs", "show", run_id, "--json").stdout)
    assert as_json["status"] == "interrupted"

    (project / "go").write_text("went")
    resumed = toolnexus(project, "run", "--resume", run_id, "--no-progress", "--json")
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["status"] == "succeeded"
    assert (project / "first.count").read_text() == "1"  # the step it had done was kept, not run again
    statuses = listed(project)
    assert statuses.pop(run_id) == "interrupted"
    assert list(statuses.values()) == ["succeeded"]
    killed = store.get_run(run_id)
    assert killed is not None and killed.recorded_status == RunStatus.INTERRUPTED  # marked for every reader
    (new_id,) = statuses
    new = store.get_run(new_id)
    assert new is not None and new.resumed_from == run_id
    assert new.steps["first"].resumed and new.steps["wait"].status == StepStatus.SUCCEEDED
