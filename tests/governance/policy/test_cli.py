"""``toolnexus policy check|explain|test|replay|report`` through the real command line (a second process)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import toolnexus as tn
from tests.governance.policy.support import governed, write_policy
from toolnexus.governance.policy import PolicyGate

POLICY = """
mode: enforce
rules:
  - id: writes-under-out
    effect: allow
    tools: files.write
    when: {path: {under: out}}
  - id: no-other-writes
    effect: deny
    tools: files.write
    unless: {path: {under: out}}
    reason: writes go under out/
  - id: reads-observed
    effect: deny
    mode: observe
    tools: files.read
    when: {path: {glob: "*.key"}}
"""


def toolnexus(workspace: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``toolnexus ARGS`` in ``workspace`` as a second process."""
    return subprocess.run([sys.executable, "-m", "toolnexus.cli", *args], cwd=workspace, capture_output=True,
                          text=True, timeout=120, check=False)


def test_check_accepts_a_good_policy(workspace: Path) -> None:
    write_policy(workspace, POLICY)
    done = toolnexus(workspace, "policy", "check", "policies/main.yaml")
    assert done.returncode == 0, done.stderr
    assert "ok: 3 rules in 1 file(s)" in done.stdout
    (workspace / "toolnexus.toml").write_text('[governance]\npolicies = ["policies/*.yaml"]\n')
    write_policy(workspace, "rules: [{id: extra, effect: deny, tools: shell.run}]\n", name="second.yaml")
    default = toolnexus(workspace, "policy", "check")
    assert default.returncode == 0 and "ok: 4 rules in 2 file(s)" in default.stdout, default.stderr


def test_check_refuses_a_bad_policy_with_its_position_and_exit_2(workspace: Path) -> None:
    write_policy(workspace, "rules:\n  - id: a\n    effect: deny\n    tool: files.write\n")
    done = toolnexus(workspace, "policy", "check", "policies/main.yaml")
    assert done.returncode == 2
    assert "policies/main.yaml:4:5: error: unknown key 'tool'" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def test_check_refuses_a_condition_on_an_argument_the_tool_does_not_have(workspace: Path) -> None:
    write_policy(workspace, "rules:\n  - {id: a, effect: deny, tools: files.write, when: {file: {under: out}}}\n")
    done = toolnexus(workspace, "policy", "check", "policies/main.yaml")
    assert done.returncode == 2
    assert "policies/main.yaml:2:54: error: rule 'a': no tool it matches (files.write) has an argument 'file'" \
        in done.stderr


def test_explain_names_the_deciding_rule_and_why_each_rule_matches_or_not(workspace: Path) -> None:
    write_policy(workspace, POLICY)
    done = toolnexus(workspace, "policy", "explain", "files.write", "--arg", "path=src/a.py", "--arg", "content=x",
                     "--policy", "policies/main.yaml", "--principal", "alice", "--json")
    assert done.returncode == 0, done.stderr
    explained = json.loads(done.stdout)
    assert explained["decision"]["verdict"] == "deny" and explained["decision"]["policy"] == "no-other-writes"
    rules = {r["id"]: r for r in explained["rules"]}
    assert not rules["writes-under-out"]["matched"] and "path under" in rules["writes-under-out"]["why"]
    assert rules["no-other-writes"]["matched"] and rules["no-other-writes"]["where"].endswith("main.yaml:7:5")
    table = toolnexus(workspace, "policy", "explain", "files.write", "-a", "path=out/a", "-p", "policies/main.yaml")
    assert table.returncode == 0 and "writes-under-out" in table.stdout and "allow by rule writes-under-out" \
        in " ".join(table.stdout.split())


CASES = """
policy: [../policies/main.yaml]
cases:
  - name: a report under out/
    tool: files.write
    arguments: {path: out/report.md, content: x}
    expect: allow
    rule: writes-under-out
  - name: source files are not written
    tool: files.write
    arguments: {path: src/a.py, content: x}
    caller: {principal: alice, surface: mcp}
    expect: deny
  - name: key files are read, and recorded
    tool: files.read
    arguments: {path: id.key}
    expect: allow
    would: deny
"""


def test_policy_test_passes_and_fails_cases_for_ci(workspace: Path) -> None:
    write_policy(workspace, POLICY)
    cases = workspace / "tests" / "policy_cases.yaml"
    cases.parent.mkdir()
    cases.write_text(textwrap.dedent(CASES))
    done = toolnexus(workspace, "policy", "test", "tests/policy_cases.yaml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("PASS") == 3 and "3 passed, 0 failed" in done.stderr
    cases.write_text(textwrap.dedent(CASES).replace("expect: deny", "expect: allow"))
    failed = toolnexus(workspace, "policy", "test", "tests/policy_cases.yaml")
    assert failed.returncode == 1
    assert "FAIL source files are not written (line 9): expected allow, got deny" in failed.stdout


def test_policy_test_refuses_a_case_of_an_unknown_tool_with_its_line(workspace: Path) -> None:
    write_policy(workspace, POLICY)
    (workspace / "cases.yaml").write_text("policy: policies/main.yaml\ncases:\n  - {tool: nope.x, expect: allow}\n")
    done = toolnexus(workspace, "policy", "test", "cases.yaml")
    assert done.returncode == 2 and "cases.yaml:3:12: error: no tool named 'nope.x'" in done.stderr


MISSION = """
mission: nightly
steps:
  - id: write
    uses: files.write
    with: {path: "notes/${{ 'a' }}.txt", content: x}
  - id: keep
    uses: files.write
    with: {path: out/kept.txt, content: x}
"""


def test_replay_runs_a_candidate_policy_over_the_recorded_calls_and_steps(workspace: Path) -> None:
    with tn.Nexus(workspace) as nexus:  # no policy yet: everything runs, and is recorded
        assert nexus.call("files.write", path="out/a.txt", content="x").ok
        assert nexus.call("files.write", path="src/a.py", content="x").ok
        assert nexus.call("files.read", path="out/a.txt").ok
        assert nexus.run(MISSION).ok
    candidate = write_policy(workspace, POLICY, name="candidate.yaml")
    done = toolnexus(workspace, "policy", "replay", str(candidate), "--since", "1d", "--json")
    assert done.returncode == 0, done.stderr
    replayed = json.loads(done.stdout)
    assert replayed["calls"] == 5 and replayed["partial"] == 1
    rules = {r["id"]: r for r in replayed["rules"]}
    assert rules["writes-under-out"]["matched"] == 2 and rules["writes-under-out"]["decided"] == {"allow": 2}
    # src/a.py, and the step whose path was computed at run time (unknown: not under out/).
    assert rules["no-other-writes"]["decided"] == {"deny": 2}
    assert replayed["as_written"] == {"allow": 3, "deny": 2}
    table = toolnexus(workspace, "policy", "replay", str(candidate))
    assert table.returncode == 0 and "no-other-writes" in table.stdout
    assert "computed at run time" in table.stderr


def test_report_replays_the_policy_when_the_audit_log_holds_no_decisions(workspace: Path) -> None:
    write_policy(workspace, POLICY)
    (workspace / "toolnexus.toml").write_text('[governance]\npolicies = ["policies/*.yaml"]\naudit = false\n')
    with tn.Nexus(workspace) as nexus:
        assert nexus.call("files.write", path="out/id.key", content="k").ok
        for _ in range(3):
            assert nexus.call("files.read", path="out/id.key").ok
    done = toolnexus(workspace, "policy", "report", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["source"] == "replayed: the audit log holds no decisions" and report["calls"] == 4
    assert report["rules"] == [{"id": "reads-observed", "mode": "observe", "would_deny": 3, "would_approve": 0}]


def test_report_reads_the_decisions_the_audit_log_recorded(workspace: Path) -> None:
    path = write_policy(workspace, POLICY.replace("mode: observe", "mode: warn") + """
  - id: big-writes-observed
    effect: approve
    mode: observe
    tools: files.write
""")
    (workspace / "toolnexus.toml").write_text('[governance]\npolicies = ["policies/*.yaml"]\n')
    with governed(workspace, PolicyGate.from_files([path])) as (nexus, _):
        assert nexus.store is not None  # the workspace's audit log records the decisions ([governance] audit)
        assert nexus.call("files.write", path="out/id.key", content="k").ok
        assert nexus.call("files.read", path="out/id.key").ok
        assert nexus.call("files.read", path="out/id.key").ok
    path.write_text(POLICY)  # the policy changed since: the report is of the decisions as they were made
    done = toolnexus(workspace, "policy", "report", "--json", "--since", "1h")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["source"] == "audit log" and report["calls"] == 3
    assert report["rules"] == [
        {"id": "reads-observed", "mode": "warn", "would_deny": 2, "would_approve": 0},
        {"id": "big-writes-observed", "mode": "observe", "would_deny": 0, "would_approve": 1},
    ]
    table = toolnexus(workspace, "policy", "report")
    assert table.returncode == 0 and "big-writes-observed" in table.stdout and "audit log" in table.stdout


def test_report_reads_the_workspace_audit_log_by_default(workspace: Path) -> None:
    write_policy(workspace, POLICY)
    (workspace / "toolnexus.toml").write_text('[governance]\npolicies = ["policies/*.yaml"]\n')  # audit on
    with tn.Nexus(workspace) as nexus:
        assert nexus.call("files.write", path="out/id.key", content="k").ok
        for _ in range(3):
            assert nexus.call("files.read", path="out/id.key").ok
    done = toolnexus(workspace, "policy", "report", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["source"] == "audit log" and report["calls"] == 4
    assert report["rules"] == [{"id": "reads-observed", "mode": "observe", "would_deny": 3, "would_approve": 0}]


FLAGGED = """
mode: enforce
rules:
  - {id: strict-writes, effect: deny, tools: files.write, flag: strict-writes, reason: strict mode}
"""


def test_explain_and_test_see_the_workspace_flags_and_the_ones_forced_on(workspace: Path) -> None:
    write_policy(workspace, FLAGGED)
    (workspace / "toolnexus.toml").write_text(
        '[governance]\npolicies = ["policies/*.yaml"]\n\n[flags.strict-writes]\ndefault = false\n'
        'rules = [{tenants = ["acme"], value = true}]\n')
    args = ("policy", "explain", "files.write", "--arg", "path=a.txt", "--arg", "content=x", "--json")
    off = json.loads(toolnexus(workspace, *args).stdout)
    assert off["decision"]["verdict"] == "allow"
    on_for_acme = json.loads(toolnexus(workspace, *args, "--tenant", "acme").stdout)
    assert on_for_acme["decision"]["verdict"] == "deny" and on_for_acme["decision"]["policy"] == "strict-writes"
    forced = json.loads(toolnexus(workspace, *args, "--flag", "strict-writes").stdout)
    assert forced["decision"]["verdict"] == "deny"
    (workspace / "cases.yaml").write_text(
        "cases:\n  - {tool: files.write, arguments: {path: a.txt, content: x}, expect: deny}\n")
    assert toolnexus(workspace, "policy", "test", "cases.yaml").returncode == 1  # the flag is off for this caller
    passed = toolnexus(workspace, "policy", "test", "cases.yaml", "--flag", "strict-writes")
    assert passed.returncode == 0, passed.stdout + passed.stderr
