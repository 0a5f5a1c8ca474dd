"""``toolnexus kill``, ``kill --list`` and ``unkill``: set, list and lift switches in the workspace's state store,
with clear errors (exit 2) for a missing reason or target and for lifting a switch nobody set."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

import toolnexus as tn
from toolnexus.core.caller import os_user
from toolnexus.governance.kills import KillSwitches

runner = CliRunner(env={"COLUMNS": "200"})


def invoke(*args: str) -> tuple[int, str, str]:
    from toolnexus.cli import app

    result = runner.invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"the CLI raised {result.exception!r}")
    return result.exit_code, result.stdout, result.stderr


def active(workspace: Path) -> list[tuple[str, str, str]]:
    with tn.Nexus(workspace) as nexus:
        assert nexus.store is not None
        return [(r.scope, r.target, r.reason) for r in KillSwitches(nexus.store).active()]


def test_kill_list_and_unkill_a_tool(workspace: Path) -> None:
    code, _, err = invoke("kill", "files.write", "--reason", "writes outside out/")
    assert code == 0, err
    assert "killed tool files.write (switch 1): writes outside out/" in err
    assert active(workspace) == [("tool", "files.write", "writes outside out/")]

    code, out, _ = invoke("kill", "--list", "--json")
    [listed] = json.loads(out)
    assert (listed["scope"], listed["target"], listed["by"]) == ("tool", "files.write", os_user())
    code, out, _ = invoke("kill", "--list")
    assert code == 0 and "files.write" in out and "writes outside out/" in out

    code, _, err = invoke("unkill", "files.write")
    assert code == 0 and "lifted the kill switch on tool files.write" in err
    assert active(workspace) == []
    code, _, err = invoke("kill", "--list")
    assert code == 0 and "no kill switch is set" in err


def test_killing_twice_keeps_the_first_switch(workspace: Path) -> None:
    invoke("kill", "files.write", "--reason", "first")
    code, _, err = invoke("kill", "files.write", "--reason", "second")
    assert code == 0 and "already killed: tool files.write (switch 1" in err and "first" in err
    assert active(workspace) == [("tool", "files.write", "first")]


def test_namespace_and_all_scopes(workspace: Path) -> None:
    assert invoke("kill", "http", "--scope", "namespace", "--reason", "egress review")[0] == 0
    code, _, err = invoke("kill", "--scope", "all", "--reason", "incident 7")
    assert code == 0 and "killed everything" in err
    assert active(workspace) == [("namespace", "http", "egress review"), ("all", "*", "incident 7")]
    assert invoke("unkill", "--scope", "all")[0] == 0
    assert invoke("unkill", "http")[0] == 0
    assert active(workspace) == []


def test_mistakes_are_clear_errors(workspace: Path) -> None:
    code, _, err = invoke("kill", "files.write")
    assert code == 2 and "needs a reason" in err and "--reason" in err
    code, _, err = invoke("kill", "--reason", "why")
    assert code == 2 and "needs a TARGET" in err
    code, _, err = invoke("unkill", "files.read")
    assert code == 2 and "no kill switch is set on files.read" in err and "kill --list" in err
    code, _, err = invoke("kill", "x", "--reason", "r", "--scope", "planet")
    assert code == 2 and "planet" in err
