"""Policy files are refused at load with file:line:column; conditions are checked against the tools' schemas;
a reload keeps the last good policy."""

from __future__ import annotations

from pathlib import Path

import pytest

import toolnexus as tn
from tests.governance.policy.support import governed, write_policy
from toolnexus.config import load_settings
from toolnexus.core.diagnostics import DiagnosticError
from toolnexus.governance.policy import Mode, PolicyGate, compile_policy, load_policy


def _problems(text: str) -> list[str]:
    with pytest.raises(DiagnosticError) as refused:
        compile_policy([("p.yaml", text)])
    return [str(d) for d in refused.value.diagnostics]


def test_a_yaml_syntax_error_names_its_line_and_column() -> None:
    [problem] = _problems("rules:\n  - id: a\n    effect: [deny\n")
    assert problem.startswith("p.yaml:4:1:") or problem.startswith("p.yaml:3:")


def test_an_unknown_key_is_refused_at_its_position_with_a_suggestion() -> None:
    [problem] = _problems("rules:\n  - id: a\n    effect: deny\n    tool: files.write\n")
    assert problem.startswith("p.yaml:4:5: unknown key 'tool'") and "did you mean `tools`" in problem


def test_a_bad_effect_an_unknown_operator_and_a_bad_regex_are_all_reported_in_one_pass() -> None:
    problems = _problems("""rules:
  - id: a
    effect: block
  - id: b
    effect: deny
    when: {path: {starts_with: out/}}
  - id: c
    effect: deny
    when:
      path: {matches: "(unclosed"}
      amount: {lt: many}
""")
    assert problems[0].startswith("p.yaml:3:13: rules.0.effect:") and "'deny' or 'approve'" in problems[0]
    assert problems[1].startswith("p.yaml:6:19: unknown operator 'starts_with'") and "startswith" in problems[1]
    assert problems[2].startswith("p.yaml:10:23: matches: is not a valid regular expression")
    assert problems[3].startswith("p.yaml:11:20: lt: expects a number, got a string")


def test_a_duplicate_rule_id_points_at_both_rules() -> None:
    [problem] = _problems("rules:\n  - {id: a, effect: deny}\n  - {id: a, effect: allow}\n")
    assert problem.startswith("p.yaml:3:5: duplicate rule id 'a'") and "p.yaml:2:5" in problem


def test_a_missing_effect_is_refused() -> None:
    [problem] = _problems("rules:\n  - id: a\n    tools: files.write\n")
    assert problem.startswith("p.yaml:2:5: missing required key 'effect'")


def test_modes_default_from_the_file_then_the_settings() -> None:
    files = [("a.yaml", "mode: warn\nrules: [{id: a, effect: deny}, {id: b, effect: deny, mode: enforce}]\n"),
             ("b.yaml", "rules: [{id: c, effect: deny}]\n")]
    policy = compile_policy(files, default_mode=Mode.OBSERVE)
    assert [r.mode for r in policy.rules] == [Mode.WARN, Mode.ENFORCE, Mode.OBSERVE]
    assert policy.version != compile_policy(files, default_mode=Mode.ENFORCE).version


def test_a_condition_on_an_argument_no_matching_tool_has_is_refused_at_load(workspace: Path) -> None:
    path = write_policy(workspace, """
        rules:
          - id: fetch-hosts
            effect: deny
            tools: [http.fetch, files.read]
            when: {adress: {host_in: [api.example.com]}, url: {host_in: [api.example.com]}}
        """)
    with tn.Nexus(workspace) as nexus, pytest.raises(DiagnosticError) as refused:
        PolicyGate.from_files([path], tools=nexus.registry.list)
    [problem] = refused.value.diagnostics
    assert (problem.file, problem.line, problem.column) == (str(path), 5, 12)
    assert "no tool it matches (files.read, http.fetch) has an argument 'adress'" in problem.message
    assert problem.hint is not None and problem.hint.startswith("did you mean")


def test_a_condition_on_a_rule_matching_no_tool_is_refused(workspace: Path) -> None:
    path = write_policy(workspace, "rules:\n  - {id: x, effect: deny, tools: nosuch.*, when: {a: 1}}\n")
    with tn.Nexus(workspace) as nexus:
        problems = load_policy([path]).check_against(nexus.registry.list())
    assert len(problems) == 1 and "matches none of the workspace's tools" in problems[0].message
    assert problems[0].line == 2


def test_nested_argument_paths_follow_the_schema(workspace: Path) -> None:
    path = write_policy(workspace, """
        rules:
          - {id: h, effect: deny, tools: http.fetch, when: {headers.authorization: {exists: true}}}
        """)
    with governed(workspace, PolicyGate.from_files([path], mode="enforce")) as (nexus, _):
        assert load_policy([path]).check_against(nexus.registry.list()) == []
        refused = nexus.call("http.fetch", url="http://x.test/", headers={"authorization": "Bearer s"})
    assert refused.error.kind == tn.ErrorKind.DENIED


def test_a_reload_keeps_the_last_good_policy(workspace: Path) -> None:
    path = write_policy(workspace, "mode: enforce\nrules:\n  - {id: no-writes, effect: deny, tools: files.write}\n")
    (workspace / "toolnexus.toml").write_text('[governance]\npolicies = ["policies/*.yaml"]\n')
    gate = PolicyGate.from_settings(load_settings(workspace).settings.governance, workspace)
    first = gate.version
    with governed(workspace, gate) as (nexus, _):
        path.write_text("mode: enforce\nrules:\n  - {id: no-writes, effect: deny, tool: files.write}\n")
        [problem] = gate.reload()
        assert (problem.line, problem.column) == (3, 35) and gate.version == first
        assert nexus.call("files.write", path="a.txt", content="x").error.kind == tn.ErrorKind.DENIED
        path.write_text("mode: enforce\nrules:\n  - {id: no-reads, effect: deny, tools: files.read}\n")
        assert gate.reload() == [] and gate.version != first
        assert nexus.call("files.write", path="a.txt", content="x").ok
        assert nexus.call("files.read", path="a.txt").error.kind == tn.ErrorKind.DENIED


def test_a_new_file_matching_the_configured_glob_is_read_on_reload(workspace: Path) -> None:
    write_policy(workspace, "rules: []\n")
    (workspace / "toolnexus.toml").write_text('[governance]\npolicies = ["policies/*.yaml"]\nmode = "enforce"\n')
    gate = PolicyGate.from_settings(load_settings(workspace).settings.governance, workspace)
    assert len(gate.policy) == 0
    write_policy(workspace, "rules: [{id: d, effect: deny}]\n", name="zz.yaml")
    assert gate.reload() == [] and [r.id for r in gate.policy.rules] == ["d"]
    assert gate.policy.rules[0].mode is Mode.ENFORCE
