"""`toolnexus run` under signals: SIGKILL loses nothing completed (the run resumes); Ctrl-C (SIGINT) and
SIGTERM each cancel the run (exit status 130), record it and leave no orphan process."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import console_script
from tests.engine.support import assert_gone, descendants, read_pids, wait_until
from toolnexus import RunStatus, StepStatus
from toolnexus.store import StateStore, StoredRun

REPO = Path(__file__).resolve().parents[2]

KILLABLE = """
mission: killable
steps:
  - id: s1
    uses: eng.mark
    with: {marker: s1.count, value: one}
  - id: s2
    uses: eng.wait_file
    with: {path: go, timeout: 60}
    needs: s1
outputs:
  got: ${{ steps.s2.outputs }}
  first: ${{ steps.s1.outputs }}
"""


@pytest.fixture
def cli_workspace(workspace: Path) -> Path:
    (workspace / "toolnexus.toml").write_text(
        '[tools]\nmodules = ["tests.engine.tools", "tests.fixtures.tools"]\nentry_points = false\n'
        '[tracking]\nenabled = false\n')  # MLflow has its own tests; here it would only add time
    return workspace


def cli_env() -> dict[str, str]:
    env = dict(os.environ)  # the workspace fixture already dropped stray TOOLNEXUS_ variables
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [env.get("PYTHONPATH")])])
    return env


def toolnexus(*args: str) -> list[str]:
    """The installed ``toolnexus`` command, as a user runs it (its launcher, beside this interpreter)."""
    return [console_script("toolnexus"), *args]


@pytest.fixture
def store(cli_workspace: Path) -> Iterator[StateStore]:
    state = StateStore(cli_workspace / ".toolnexus" / "state.db")
    yield state
    state.close()


def only_run(store: StateStore) -> StoredRun | None:
    runs = store.list_runs()
    return store.get_run(runs[0].run_id) if len(runs) == 1 else None


def start(cli_workspace: Path, *args: str) -> subprocess.Popen[bytes]:
    log = open(cli_workspace / "cli.log", "wb")  # noqa: SIM115 - closed with the process below
    proc = subprocess.Popen(toolnexus(*args), cwd=cli_workspace, env=cli_env(), stdout=log, stderr=log)
    log.close()
    return proc


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait(timeout=10)


def test_a_sigkilled_run_resumes_without_rerunning_its_completed_step(
        cli_workspace: Path, store: StateStore) -> None:
    (cli_workspace / "killable.yaml").write_text(KILLABLE)
    proc = start(cli_workspace, "run", "killable.yaml", "--no-progress")
    try:
        def s1_recorded() -> bool:
            run = only_run(store)
            return run is not None and run.steps.get("s1") is not None

        wait_until(lambda: proc.poll() is not None or s1_recorded(), within=30, what="step s1 in the store")
        assert proc.poll() is None, (cli_workspace / "cli.log").read_text()
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=10) == -signal.SIGKILL
    finally:
        stop(proc)
    killed = only_run(store)
    assert killed is not None
    assert killed.recorded_status == RunStatus.RUNNING  # nobody lived to record anything else
    assert killed.status == RunStatus.INTERRUPTED  # but its process is gone
    assert killed.steps["s1"].status == StepStatus.SUCCEEDED
    assert "s2" not in killed.steps or killed.steps["s2"].status != StepStatus.SUCCEEDED

    (cli_workspace / "go").write_text("went")
    done = subprocess.run(toolnexus("run", "--resume", killed.run_id, "--no-progress", "--json"),
                          cwd=cli_workspace, env=cli_env(), capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr.decode()
    assert (cli_workspace / "s1.count").read_text() == "1"  # step 1 was not run again
    runs = {r.run_id: r for r in store.list_runs()}
    assert runs[killed.run_id].recorded_status == RunStatus.INTERRUPTED  # the interrupted run, marked as such
    (resumed_id,) = set(runs) - {killed.run_id}
    resumed = store.get_run(resumed_id)
    assert resumed is not None
    assert resumed.status == RunStatus.SUCCEEDED
    assert resumed.resumed_from == killed.run_id
    assert resumed.outputs == {"got": "went", "first": "one"}
    assert resumed.steps["s1"].resumed
    assert resumed.steps["s2"].status == StepStatus.SUCCEEDED


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_signal_cancels_the_run_exits_130_and_leaves_no_orphan(
        cli_workspace: Path, store: StateStore, signum: signal.Signals) -> None:
    # SIGINT is what Ctrl-C sends; SIGTERM is what a service manager, `kill` or a CI timeout sends.
    pidfile = cli_workspace / "spawn.pids"
    (cli_workspace / "spawn.yaml").write_text(f"""
mission: spawning
steps:
  - id: spawn
    uses: test.spawn_and_wait
    with: {{pidfile: "{pidfile}", seconds: 60}}
""")
    proc = start(cli_workspace, "run", "spawn.yaml", "--no-progress")
    try:
        wait_until(lambda: proc.poll() is not None or read_pids(pidfile), within=30, what="the pidfile")
        assert proc.poll() is None, (cli_workspace / "cli.log").read_text()
        pids = sorted(descendants(proc.pid))  # host pids, whatever namespace the worker runs in
        assert len(pids) >= 2
        proc.send_signal(signum)
        assert proc.wait(timeout=30) == 130, (cli_workspace / "cli.log").read_text()
    finally:
        stop(proc)
    run = only_run(store)
    assert run is not None
    assert run.status == RunStatus.CANCELLED
    assert run.error is not None and signum.name in run.error.message
    assert run.steps["spawn"].status == StepStatus.CANCELLED
    assert_gone(pids)
