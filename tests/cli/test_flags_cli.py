"""``toolnexus flags list``, ``set`` and ``unset``: flags set in the workspace's state store over those of
toolnexus.toml, targeted by options, with clear errors (exit 2) for a missing value or reason, a bad definition,
and unsetting a flag the store does not have."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import toolnexus as tn
from toolnexus.core.caller import os_user

runner = CliRunner(env={"COLUMNS": "200"})


def invoke(*args: str) -> tuple[int, str, str]:
    from toolnexus.cli import app

    result = runner.invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"the CLI raised {result.exception!r}")
    return result.exit_code, result.stdout, result.stderr


def stored(workspace: Path) -> dict[str, dict[str, object]]:
    with tn.Nexus(workspace) as nexus:
        assert nexus.governed.flags is not None and nexus.governed.flags.stored is not None
        return {row.name: row.value for row in nexus.governed.flags.stored.list()}


def listed() -> dict[str, dict[str, object]]:
    code, out, err = invoke("flags", "list", "--json")
    assert code == 0, err
    return {item["name"]: item for item in json.loads(out)}


def test_set_list_and_unset_a_flag(workspace: Path) -> None:
    code, _, err = invoke("flags", "set", "new-search", "--on", "--reason", "launch")
    assert code == 0, err
    assert "set flag new-search in the state store: default true" in err
    assert stored(workspace) == {"new-search": {"default": True}}
    item = listed()["new-search"]
    assert (item["source"], item["definition"], item["by"]) == ("store", {"default": True}, os_user())
    code, out, _ = invoke("flags", "list")
    assert code == 0 and "new-search" in out and "default true" in out

    code, _, err = invoke("flags", "unset", "new-search", "--reason", "rolled back")
    assert code == 0 and "unset flag new-search in the state store" in err
    assert stored(workspace) == {}
    code, _, err = invoke("flags", "list")
    assert code == 0 and "no rollout flag is defined" in err


def test_targeting_options_make_one_rule(workspace: Path) -> None:
    code, out, err = invoke("flags", "set", "strict-writes", "--on", "--tenant", "acme", "--tenant", "beta*",
                            "--tier", "side_effecting", "--reason", "pilot", "--json")
    assert code == 0, err
    assert json.loads(out)["definition"] == {
        "default": False, "rules": [{"tenants": ["acme", "beta*"], "tiers": ["side_effecting"], "value": True}]}
    code, _, err = invoke("flags", "set", "colour", "--value", "green", "--namespace", "files", "--default", '"blue"',
                          "--description", "the colour", "--reason", "try")
    assert code == 0, err
    assert stored(workspace)["colour"] == {"default": "blue", "description": "the colour",
                                           "rules": [{"namespaces": ["files"], "value": "green"}]}
    whole = '{"default": 3, "rules": [{"principals": "carol", "value": 5}]}'
    assert invoke("flags", "set", "limit", "--value", whole, "--reason", "r")[0] == 0
    assert stored(workspace)["limit"] == {"default": 3, "rules": [{"principals": ["carol"], "value": 5}]}


def test_a_store_flag_is_listed_over_the_toml_one_and_unset_brings_it_back(workspace: Path) -> None:
    (workspace / "toolnexus.toml").write_text('[flags.beta]\nrules = [{ tenants = "acme", value = true }]\n')
    assert listed()["beta"]["source"] == "toolnexus.toml"
    assert invoke("flags", "set", "beta", "--off", "--reason", "incident")[0] == 0
    item = listed()["beta"]
    assert (item["source"], item["definition"]) == ("store (over toolnexus.toml)", {"default": False})
    code, _, err = invoke("flags", "unset", "beta", "--reason", "fixed")
    assert code == 0 and "its [flags] table in toolnexus.toml applies again" in err
    code, _, err = invoke("flags", "unset", "beta", "--reason", "again")
    assert code == 2 and "the state store has no flag beta" in err and "[flags.beta]" in err


@pytest.mark.parametrize(("args", "message"), [
    (("set", "beta", "--on"), "setting a flag needs a reason"),
    (("set", "beta", "--reason", "r"), "give the flag's value: one of --on, --off or --value"),
    (("set", "beta", "--on", "--off", "--reason", "r"), "give the flag's value"),
    (("set", "beta", "--on", "--default", "true", "--reason", "r"), "--default goes with targeting options"),
    (("set", "beta", "--value", "green", "--tenant", "acme", "--reason", "r"), "needs --default"),
    (("set", "beta", "--value", '{"default": true}', "--tenant", "acme", "--reason", "r"), "takes no targeting"),
    (("set", "beta", "--value", '{"default": true, "tenants": "acme"}', "--reason", "r"),
     "flag beta: tenants: Extra inputs are not permitted"),
    (("set", "two words", "--on", "--reason", "r"), "a flag's name is one word"),
    (("unset", "beta"), "unsetting a flag needs a reason"),
    (("unset", "beta", "--reason", "r"), "the state store has no flag beta"),
])
def test_mistakes_are_clear_errors(workspace: Path, args: tuple[str, ...], message: str) -> None:
    code, _, err = invoke("flags", *args)
    assert code == 2 and message in err, err
    assert stored(workspace) == {}


def test_with_a_teams_provider_setting_says_the_store_is_not_read(workspace: Path) -> None:
    (workspace / "toolnexus.toml").write_text('[flags]\nprovider = "tests.governance.test_flags:factory"\n')
    code, _, err = invoke("flags", "set", "beta", "--off", "--reason", "r")
    assert code == 0 and "[flags] provider names another provider" in err and "not read" in err
    code, _, err = invoke("flags", "list")
    assert code == 0 and "[flags] provider = tests.governance.test_flags:factory serves every flag" in err
