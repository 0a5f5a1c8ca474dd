"""The state store records who made each call and started each run (principal, tenant, surface) and its
correlation id: from Python, from the CLI (a real second process) and in a database made before version 3."""

from __future__ import annotations

import getpass
import json
import os
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

import toolnexus as tn
from tests.store.legacy_schema import database_at
from toolnexus.core.caller import Caller, Surface
from toolnexus.store import StateStore
from toolnexus.store.sqlite import SCHEMA_VERSION

pytestmark = pytest.mark.anyio

MISSION = """
mission: recorded
steps:
  - id: hi
    uses: text.render
    with: {template: hi}
"""


def recorded_call(store: StateStore, call_id: str) -> tuple[Caller | None, str | None, str]:
    """The caller, correlation id and origin the store holds for a direct call."""
    store.flush()
    row = store.connection().execute("SELECT caller, correlation_id, origin FROM calls WHERE call_id = ?",
                                     (call_id,)).fetchone()
    assert row is not None, f"no call {call_id} recorded"
    return (Caller.model_validate_json(row["caller"]) if row["caller"] else None), row["correlation_id"], row["origin"]


async def test_a_direct_call_is_recorded_with_its_caller_and_correlation_id(nexus: tn.Nexus) -> None:
    assert nexus.store is not None
    someone = Caller(principal="ada", tenant="acme", surface=Surface.REST)
    given = await nexus.acall("text.render", template="x", caller=someone, correlation_id="ticket-7")
    own = await nexus.acall("text.render", template="x")
    assert recorded_call(nexus.store, given.call_id) == (someone, "ticket-7", "rest")
    assert recorded_call(nexus.store, own.call_id) == (nexus.caller, own.call_id, "python")


async def test_a_run_is_recorded_with_who_started_it_and_its_correlation_id(nexus: tn.Nexus) -> None:
    assert nexus.store is not None
    mine = await nexus.arun(MISSION)
    someone = Caller(principal="ada", surface=Surface.MCP)
    theirs = await nexus.arun(MISSION, caller=someone, correlation_id="order-42")
    stored_mine, stored_theirs = nexus.store.get_run(mine.run_id), nexus.store.get_run(theirs.run_id)
    assert stored_mine is not None and stored_theirs is not None
    assert (stored_mine.caller, stored_mine.correlation_id) == (nexus.caller, mine.run_id)
    assert (stored_theirs.caller, stored_theirs.correlation_id) == (someone, "order-42")


async def test_a_resumed_run_keeps_the_correlation_id_of_the_run_it_resumes(nexus: tn.Nexus) -> None:
    assert nexus.store is not None
    failing = "mission: resumable\nsteps:\n  - id: bad\n    uses: files.read\n    with: {path: missing.txt}\n"
    first = await nexus.arun(failing, correlation_id="job-9")
    assert not first.ok
    (nexus.workspace / "missing.txt").write_text("here now")
    again = await nexus.arun("", resume=first.run_id)
    assert again.ok
    stored = nexus.store.get_run(again.run_id)
    assert stored is not None and stored.correlation_id == "job-9"


def test_a_database_of_version_2_gains_the_columns_and_its_runs_read_with_no_caller(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with closing(database_at(path, 2)) as conn:
        conn.execute("INSERT INTO runs (run_id, mission, status, started_at) VALUES ('run-old', 'm', 'succeeded',"
                     " '2026-01-01T00:00:00+00:00')")
    store = StateStore(path)
    try:
        old = store.get_run("run-old")
        assert old is not None and old.caller is None and old.correlation_id is None
        columns = {row["name"] for row in store.connection().execute("PRAGMA table_info(calls)")}
        assert {"caller", "correlation_id"} <= columns
        assert store.connection().execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    finally:
        store.close()


def cli(workspace: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``toolnexus ARGS -w WORKSPACE`` in a process of its own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TOOLNEXUS_", "MLFLOW_"))}
    env["TOOLNEXUS_TRACKING__ENABLED"] = "false"
    done = subprocess.run([sys.executable, "-m", "toolnexus.cli", *args, "-w", str(workspace)], env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return done


def test_the_cli_records_its_calls_and_runs_as_the_os_user_on_the_cli_surface(workspace: Path) -> None:
    (workspace / "toolnexus.toml").write_text('[governance]\ntenant = "acme"\n')
    (workspace / "recorded.yaml").write_text(MISSION)
    cli(workspace, "call", "text.render", "--arg", "template=hi")
    cli(workspace, "call", "text.render", "--arg", "template=again", "--correlation-id", "ticket-7")
    ran = json.loads(cli(workspace, "run", "recorded.yaml", "--json", "--no-progress").stdout)
    shown = cli(workspace, "runs", "show", ran["run_id"]).stdout
    shown_json = json.loads(cli(workspace, "runs", "show", ran["run_id"], "--json").stdout)
    user = getpass.getuser()
    assert f"started by {user} (cli, tenant acme)" in shown
    assert shown_json["caller"] == {"principal": user, "tenant": "acme", "surface": "cli"}
    assert shown_json["correlation_id"] == ran["run_id"]
    store = StateStore(workspace / ".toolnexus" / "state.db")
    try:
        rows = store.connection().execute("SELECT call_id, caller, correlation_id, origin FROM calls ORDER BY at")
        recorded = [(json.loads(r["caller"]), r["correlation_id"] == r["call_id"], r["correlation_id"], r["origin"])
                    for r in rows]
    finally:
        store.close()
    caller = {"principal": user, "tenant": "acme", "surface": "cli"}
    assert [(c, own, o) for c, own, _, o in recorded] == [(caller, True, "cli"), (caller, False, "cli")]
    assert recorded[1][2] == "ticket-7"
