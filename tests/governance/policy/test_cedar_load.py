"""Loading ``.cedar`` files: parse errors and what toolnexus cannot stand for refused with their position, the
last good policy kept on reload, the install hint without cedarpy, and ``toolnexus policy check|explain|test``."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest

from tests.governance.policy.support import write_policy
from tests.governance.policy.test_cedar import PAYMENTS, pay_plan
from tests.governance.policy.test_cli import toolnexus
from toolnexus.core.diagnostics import DiagnosticError
from toolnexus.governance.policy import PolicyGate, load_policy


@pytest.mark.parametrize(("text", "where", "says"), [
    ("permit(principal, action, resource);\n\npermit(principal, action, resource)\nwhen { context.input.x < };\n",
     ":4:26:", "unexpected token `}`"),
    ("permit(principal, action, resource);\nfrobid(principal, action, resource);\n", ":2:1:", "frobid"),
    ('@mode("loud")\npermit(principal, action, resource);\n', ":1:1:", "unknown @mode('loud')"),
    ('@effect("approve")\nforbid(principal, action, resource);\n', ":1:1:", "@effect('approve') is not supported"),
    ("// mode: sometimes\npermit(principal, action, resource);\n", ":1:", "unknown mode 'sometimes'"),
])
def test_a_bad_cedar_file_is_refused_with_its_position(workspace: Path, text: str, where: str, says: str) -> None:
    path = write_policy(workspace, text, name="bad.cedar")
    with pytest.raises(DiagnosticError) as raised:
        load_policy([path])
    [problem] = raised.value.diagnostics
    assert f"bad.cedar{where}" in str(problem) and says in str(problem)


def test_a_bad_cedar_file_on_reload_leaves_the_last_good_policy(workspace: Path) -> None:
    path = write_policy(workspace, PAYMENTS, name="payments.cedar")
    gate = PolicyGate.from_files([path])
    version = gate.version
    path.write_text(PAYMENTS + "\npermit(principal, action resource);\n")
    [problem] = gate.reload()
    assert "payments.cedar:16:26:" in str(problem) and gate.version == version
    assert gate.policy.decide(pay_plan(amount=1, to="x")).policy == "small-payments"


@pytest.mark.parametrize(("text", "says"), [
    ('permit(principal == Toolnexus::User::"a", action == AgentCore::Action::"b", resource);\n', "not both"),
    ('permit(principal == ?principal, action, resource);\n', "Cedar template policy0"),
    ('permit(principal, action, resource == AgentCore::Gateway::"a");\n'
     'permit(principal, action, resource == AgentCore::Gateway::"b");\n', "2 AgentCore gateways"),
])
def test_what_toolnexus_cannot_stand_for_is_refused_at_load(workspace: Path, text: str, says: str) -> None:
    path = write_policy(workspace, text, name="odd.cedar")
    with pytest.raises(DiagnosticError, match=says):
        load_policy([path])


def test_a_cedar_file_without_cedarpy_says_how_to_install_it(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_policy(workspace, "permit(principal, action, resource);\n", name="main.cedar")
    monkeypatch.setitem(sys.modules, "cedarpy", None)  # as if not installed: importing it raises ImportError
    with pytest.raises(DiagnosticError) as raised:
        load_policy([path])
    [problem] = raised.value.diagnostics
    assert problem.file == str(path) and problem.message == "Cedar policies need pip install toolnexus[cedar]"


def test_policy_check_and_explain_read_cedar_files(workspace: Path) -> None:
    write_policy(workspace, PAYMENTS, name="payments.cedar")
    write_policy(workspace, "mode: enforce\nrules: [{id: no-shell, effect: deny, tools: shell.run}]\n")
    (workspace / "toolnexus.toml").write_text('[governance]\npolicies = ["policies/*.yaml", "policies/*.cedar"]\n')
    checked = toolnexus(workspace, "policy", "check")
    assert checked.returncode == 0 and "ok: 5 rules in 2 file(s)" in checked.stdout, checked.stderr
    done = toolnexus(workspace, "policy", "explain", "files.write", "--arg", "path=out/a.txt", "--arg", "content=x",
                     "--principal", "ada", "--json")
    assert done.returncode == 0, done.stderr
    explained = json.loads(done.stdout)
    assert explained["decision"]["policy"] == "writes-under-out" and explained["decision"]["decider"] == "cedar"
    rules = {r["id"]: r for r in explained["rules"]}
    assert rules["writes-under-out"]["matched"] and rules["writes-under-out"]["where"].endswith("payments.cedar:11:1")
    assert not rules["no-mallory"]["matched"] and not rules["payments.cedar#default-deny"]["matched"]
    denied = toolnexus(workspace, "policy", "explain", "files.write", "-a", "path=src/a.py", "-a", "content=x")
    assert denied.returncode == 0 and "payments.cedar#default-deny" in " ".join(denied.stdout.split())
    (workspace / "policies" / "payments.cedar").write_text("permit(principal, action, resource)\nwhen { 1 < };\n")
    refused = toolnexus(workspace, "policy", "check")
    assert refused.returncode == 2 and "payments.cedar:2:12: error: Cedar parse error" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_policy_test_runs_cases_against_a_cedar_file(workspace: Path) -> None:
    write_policy(workspace, PAYMENTS, name="payments.cedar")
    cases = workspace / "cases" / "payments.yaml"
    cases.parent.mkdir()
    cases.write_text(textwrap.dedent("""
        policy: [../policies/payments.cedar]
        cases:
          - {name: under out/, tool: files.write, arguments: {path: out/a.md, content: x}, expect: allow,
             rule: writes-under-out}
          - {name: elsewhere, tool: files.write, arguments: {path: src/a.py, content: x}, expect: deny,
             rule: "payments.cedar#default-deny"}
        """))
    passed = toolnexus(workspace, "policy", "test", "cases/payments.yaml")
    assert passed.returncode == 0, passed.stdout + passed.stderr
    cases.write_text(cases.read_text().replace("expect: deny", "expect: allow"))
    failed = toolnexus(workspace, "policy", "test", "cases/payments.yaml")
    assert failed.returncode == 1 and "elsewhere" in failed.stdout + failed.stderr
