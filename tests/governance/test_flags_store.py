"""Rollout flags in the state store: a flag set by another process (``toolnexus flags set``) changes this process's
decisions without a restart and is in the audit log; the store's flag wins over toolnexus.toml's until unset; an
evaluation reads the table only when the database changed."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

import toolnexus as tn
from tests.conftest import console_script
from tests.engine.support import wait_until
from toolnexus import tool
from toolnexus.core.call import ToolCall
from toolnexus.core.caller import Caller, os_user
from toolnexus.core.events import GovernanceChanged
from toolnexus.governance import CallPlan
from toolnexus.governance.flag_provider import SettingsProvider
from toolnexus.governance.flags import Flags
from toolnexus.registry import spec_of
from toolnexus.store.flags import FlagTable
from toolnexus.store.sqlite import StateStore

ACME = Caller(principal="ann", tenant="acme")
GLOBEX = Caller(principal="bob", tenant="globex")


@tool(name="flagged.beta", register=False, tags=["flag:beta"])
def beta(text: str) -> str:
    """A tool behind the rollout flag beta."""
    return text[::-1]


def _nexus(workspace: Path, toml: str = "") -> tn.Nexus:
    (workspace / "toolnexus.toml").write_text(toml)
    nexus = tn.Nexus(workspace)
    nexus.registry.register(spec_of(beta))
    return nexus


@pytest.fixture
def nexus(workspace: Path) -> Iterator[tn.Nexus]:
    with _nexus(workspace) as nx:
        yield nx


def _cli(workspace: Path, *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([console_script("toolnexus"), "flags", *args, "--workspace", str(workspace)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return done


def _runs(nexus: tn.Nexus, caller: Caller) -> bool:
    return nexus.call("flagged.beta", {"text": "abc"}, caller=caller).ok


def test_a_flag_set_by_another_process_changes_decisions_here_and_is_audited(nexus: tn.Nexus,
                                                                             workspace: Path) -> None:
    assert not _runs(nexus, ACME)  # no flag beta anywhere: off

    _cli(workspace, "set", "beta", "--on", "--tenant", "acme", "--reason", "pilot for acme")
    wait_until(lambda: _runs(nexus, ACME), what="the flag set by the other process to reach this one")
    assert not _runs(nexus, GLOBEX)  # only acme is targeted

    _cli(workspace, "unset", "beta", "--reason", "pilot over")
    wait_until(lambda: not _runs(nexus, ACME), what="the flag unset by the other process to reach this one")

    audit = nexus.governed.audit
    assert audit is not None
    changes = [json.loads(r.body) for r in audit.report(kind="governance.flag_changed")]
    assert [(c["target"], c["principal"], c["reason"], c["details"]["change"]) for c in changes] == [
        ("beta", os_user(), "pilot for acme", "set"), ("beta", os_user(), "pilot over", "unset")]
    assert changes[0]["details"]["definition"] == {"default": False,
                                                   "rules": [{"tenants": ["acme"], "value": True}]}
    assert changes[1]["details"]["previous"] == changes[0]["details"]["definition"]
    nexus.close()  # the decisions' records are written
    assert audit.verify().ok


def test_the_stores_flag_wins_over_the_toml_one_until_unset(workspace: Path) -> None:
    toml = '[flags.beta]\nrules = [{ tenants = "acme", value = true }]\n'
    with _nexus(workspace, toml) as nexus:
        changes: list[GovernanceChanged] = []
        nexus.bus.subscribe(lambda e: changes.append(e) if isinstance(e, GovernanceChanged) else None)
        stored = nexus.governed.flags.stored if nexus.governed.flags is not None else None
        assert stored is not None and stored.served
        assert _runs(nexus, ACME) and not _runs(nexus, GLOBEX)  # toolnexus.toml

        stored.set("beta", {"default": True, "rules": [{"tenants": "acme", "value": False}]}, by="ops",
                   reason="acme reported a bug")
        assert not _runs(nexus, ACME) and _runs(nexus, GLOBEX)  # the store's, at once in this process

        assert stored.unset("beta", by="ops", reason="fixed") is not None
        assert _runs(nexus, ACME) and not _runs(nexus, GLOBEX)  # toolnexus.toml again
        assert stored.unset("beta", by="ops") is None  # nothing to unset: nothing announced
    assert [(e.action, e.target, e.by, e.details["change"]) for e in changes] == [
        ("flag_changed", "beta", "ops", "set"), ("flag_changed", "beta", "ops", "unset")]
    assert changes[0].details["previous"] is None and changes[1].details["previous"]["default"] is True


def test_a_bad_definition_is_refused_and_a_bad_row_is_ignored(nexus: tn.Nexus) -> None:
    stored = nexus.governed.flags.stored if nexus.governed.flags is not None else None
    assert stored is not None and nexus.store is not None
    with pytest.raises(ValueError, match="Extra inputs are not permitted"):
        stored.set("beta", {"default": True, "tenants": "acme"}, by="ops")
    with pytest.raises(ValueError, match="one word"):
        stored.set("two words", {"default": True}, by="ops")
    assert stored.list() == []
    # A row written by hand: logged and ignored, the other flags still serve.
    FlagTable(nexus.store).set("beta", {"default": {"nested": True}}, "hand")
    FlagTable(nexus.store).set("other", {"default": True}, "hand")
    provider = nexus.governed.flags.provider if nexus.governed.flags is not None else None
    assert isinstance(provider, SettingsProvider)
    provider.reload()
    assert not _runs(nexus, ACME)
    plan = CallPlan(call=ToolCall(tool="flagged.beta", caller=ACME), spec=nexus.registry.get("flagged.beta"))
    assert nexus.governed.flags is not None and nexus.governed.flags.enabled("other", plan)


def test_an_evaluation_reads_the_table_only_when_the_database_changed(tmp_path: Path) -> None:
    store, other = StateStore(tmp_path / "state.db"), StateStore(tmp_path / "state.db")
    try:
        flags = Flags.from_settings(None, store=store)
        assert isinstance(flags.provider, SettingsProvider)
        flags.provider.refresh_interval = 0  # look at data_version at every evaluation
        plan = CallPlan(call=ToolCall(tool="flagged.beta", caller=ACME), spec=spec_of(beta))
        statements: list[str] = []
        store.connection().set_trace_callback(statements.append)
        for _ in range(50):
            assert not flags.enabled("beta", plan)
        # The first look reads the table; after it, each evaluation only asks whether the database changed.
        assert statements[0] == "PRAGMA data_version" and "FROM flags" in statements[1]
        assert statements[2:] == ["PRAGMA data_version"] * 49

        statements.clear()
        FlagTable(other).set("beta", {"default": True}, "ops")  # another process's commit
        assert flags.enabled("beta", plan)
        assert flags.enabled("beta", plan)
        assert [s for s in statements if "FROM flags" in s] == ["SELECT name, value, by, at FROM flags ORDER BY name"]
        flags.close()
    finally:
        store.close()
        other.close()


def test_with_a_teams_provider_the_stores_flags_are_kept_but_not_read(workspace: Path) -> None:
    toml = '[flags]\nprovider = "tests.governance.test_flags:factory"\n'
    with _nexus(workspace, toml) as nexus:
        flags = nexus.governed.flags
        assert flags is not None and flags.stored is not None and not flags.stored.served
        flags.stored.set("beta", {"default": False}, by="ops", reason="try")
        assert _runs(nexus, GLOBEX)  # the team's provider says beta is on for everyone
