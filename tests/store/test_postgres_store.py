"""The state store on a real PostgreSQL server: missions run and resume on it, two stores (two hosts) share one
state, a kill switch and an approval travel between them by LISTEN/NOTIFY."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import pytest

import toolnexus as tn
from tests.conftest import REPO
from tests.fixtures.postgres import postgres_database, postgres_server  # noqa: F401 (fixtures pytest registers)
from toolnexus import RunStatus

pytestmark = pytest.mark.slow


@pytest.fixture
def project(workspace: Path, postgres_database: str) -> Path:  # noqa: F811
    shutil.copytree(REPO / "missions", workspace / "missions")
    (workspace / "toolnexus.toml").write_text(f'state = "{postgres_database}"\n')
    return workspace


def test_a_mission_runs_fails_and_resumes_with_its_state_in_postgresql(project: Path) -> None:
    with tn.Nexus(project) as nexus:
        assert type(nexus.store).__name__ == "PostgresStateStore"
        hello = nexus.run("missions/hello.yaml", {"name": "Ada"})
        assert hello.status == RunStatus.SUCCEEDED, hello.error
        first = nexus.run("missions/resilient_ingest.yaml")
        assert first.status == RunStatus.FAILED
        second = nexus.run("", resume=first.run_id)
        assert second.status == RunStatus.SUCCEEDED and second.steps["reset"].resumed
        stored = nexus.store.get_run(hello.run_id[:-2])  # a unique prefix will do, as on SQLite
        assert stored is not None and stored.status == RunStatus.SUCCEEDED
        assert stored.steps["greet"].output == hello.steps["greet"].output
    with tn.Nexus(project) as other:  # another process, another host: the same state
        listed = [run.run_id for run in other.store.list_runs(10)]
        assert {hello.run_id, first.run_id, second.run_id} <= set(listed)


POLICY = """
rules:
  - id: writes-need-a-person
    tools: ["files.write"]
    effect: approve
    mode: enforce
"""


def wait_until(condition: object, what: str, within: float = 20.0) -> None:
    deadline = time.monotonic() + within
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.01)


def test_a_kill_switch_and_an_approval_travel_between_two_hosts(project: Path) -> None:
    (project / "policy.yaml").write_text(POLICY)
    with (project / "toolnexus.toml").open("a") as config:
        config.write('[governance]\npolicies = ["policy.yaml"]\n')
    with tn.Nexus(project) as here, tn.Nexus(project) as there:
        assert here.call("text.render", template="hi").ok
        there.kills.kill("tool", "text.render", "bad template", by="ops")
        wait_until(lambda: not here.call("text.render", template="hi").ok, "the kill switch here")
        refused = here.call("text.render", template="hi")
        assert refused.error is not None and refused.error.kind.value == "denied"

        box: dict[str, tn.ToolResult] = {}
        waiting = threading.Thread(target=lambda: box.setdefault(
            "result", here.call("files.write", path="out/a.txt", content="reviewed")))
        waiting.start()
        approvals = there.approvals
        assert approvals is not None
        wait_until(lambda: approvals.list("requested"), "the request, seen there")
        approvals.approve(approvals.list("requested")[0].ticket, reason="looks right", by="reviewer")
        waiting.join(timeout=30)
        assert box["result"].ok, box["result"].error
        assert (project / "out" / "a.txt").read_text() == "reviewed"
        verification = there.governed.audit.verify()
    assert verification.ok, verification.problem
    assert verification.records > 0


def test_eight_processes_writing_at_once_lose_no_record_and_keep_the_audit_chain(
        project: Path, postgres_database: str) -> None:  # noqa: F811
    import json
    import os
    import subprocess
    import sys

    env = {**os.environ, "TOOLNEXUS_STATE": postgres_database, "TOOLNEXUS_TRACKING__ENABLED": "false"}
    processes = [subprocess.Popen([sys.executable, "-m", "toolnexus.cli", "run", "missions/hello.yaml", "-i",
                                   f"name=writer{i}", "--json", "--no-progress"], cwd=project, env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(8)]
    results = []
    for process in processes:
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
        results.append(json.loads(out))
    with tn.Nexus(project) as nexus:
        stored = {run.run_id: run for run in nexus.store.list_runs(100)}
        for result in results:
            run = stored[result["run_id"]]
            assert run.status == RunStatus.SUCCEEDED
            assert set(nexus.store.steps(result["run_id"])) == {"greet", "lines", "save", "check"}
        verification = nexus.governed.audit.verify()
    assert len(results) == 8 and {r["outputs"]["greeting"] for r in results} == {
        f"Hello, writer{i}!" for i in range(8)}
    assert verification.ok, verification.problem
    assert verification.records >= 8  # (each run's end is a record of the one chain the eight wrote to)


def test_a_state_that_is_no_postgresql_url_is_a_clear_error(workspace: Path) -> None:
    from toolnexus.core.diagnostics import DiagnosticError

    (workspace / "toolnexus.toml").write_text('state = "mysql://db/toolnexus"\n')
    with pytest.raises(DiagnosticError, match="not a PostgreSQL URL: 'mysql://db/toolnexus'"):
        tn.Nexus(workspace)


def test_the_databases_password_is_a_known_secret(postgres_database: str) -> None:  # noqa: F811
    from toolnexus.core.secrets import scrub_text
    from toolnexus.store.postgres import PostgresStateStore

    with_password = postgres_database.replace("postgresql://toolnexus@", "postgresql://toolnexus:Zq7pw9xKc2@")
    store = PostgresStateStore(with_password)  # (trust authentication: the password is not checked)
    try:
        assert scrub_text("connecting with Zq7pw9xKc2") == "connecting with ***"
        assert store.where.startswith("postgresql://toolnexus:***@") and "Zq7pw9xKc2" not in store.where
    finally:
        store.close()


def test_a_database_that_cannot_be_reached_is_a_clear_error(workspace: Path, tmp_path: Path) -> None:
    from toolnexus.core.diagnostics import DiagnosticError

    nowhere = tmp_path / "no-server-here"
    nowhere.mkdir()
    url = f"postgresql://toolnexus:Zq7pw9xKc2@/toolnexus?host={nowhere}"
    (workspace / "toolnexus.toml").write_text(f'state = "{url}"\n')
    named = "cannot use the state database postgresql://toolnexus:\\*\\*\\*@"  # (the password hidden)
    with pytest.raises(DiagnosticError, match=named) as caught:
        tn.Nexus(workspace)
    assert "Zq7pw9xKc2" not in str(caught.value)
