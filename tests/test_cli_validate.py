"""``toolnexus validate`` and ``toolnexus plan``: what a good mission prints, in every output format."""

from __future__ import annotations

import json
from pathlib import Path
from textwrap import dedent

import pytest
from typer.testing import CliRunner

from tests.conftest import REPO
from toolnexus.mission import Plan

runner = CliRunner(env={"COLUMNS": "200"})  # a wide terminal, so table cells do not wrap

MISSION = dedent("""\
    mission: notes
    inputs:
      go: {type: boolean, default: true}
    steps:
      - id: each
        uses: files.read
        foreach: [a.txt, b.txt]
        with: {path: "${{ item }}"}
      - id: guarded
        uses: text.render
        if: "${{ inputs.go }}"
        retry: {attempts: 3}
        timeout: 90s
        with: {template: "n={{ n }}", data: {n: "${{ steps.each.outputs | length }}"}}
      - id: calc
        uses: python.exec@1
        with: {code: "result = 1", inputs: {text: "${{ steps.guarded.outputs.text }}"}}
""")


def invoke(*args: str) -> tuple[int, str, str]:
    from toolnexus.cli import app

    result = runner.invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"the CLI raised {result.exception!r}")
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def mission(workspace: Path) -> Path:
    path = workspace / "notes.yaml"
    path.write_text(MISSION)
    return path


def test_validate_reports_ok_with_step_count_and_plan_hash(mission: Path) -> None:
    from toolnexus import Nexus

    with Nexus(mission.parent, store=False) as nexus:
        expected_hash = nexus.compile(mission).hash

    code, out, err = invoke("validate", str(mission))

    assert code == 0
    assert out == ""
    assert err == f"ok {mission}: 3 steps, plan {expected_hash}\n"


def test_validate_checks_the_example_missions(workspace: Path) -> None:
    missions = sorted(str(p) for p in (REPO / "missions").glob("*.yaml"))

    code, _, err = invoke("validate", *missions)

    assert code == 0, err
    assert err.count("ok ") == len(missions)


def test_validate_writes_no_state(mission: Path) -> None:
    invoke("validate", str(mission))

    assert not (mission.parent / ".toolnexus" / "state.db").exists()


def test_plan_prints_a_table_of_steps_in_order(mission: Path) -> None:
    code, out, err = invoke("plan", str(mission))

    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("notes — plan ")
    rows = [[cell.strip() for cell in line.strip("│").split("│")] for line in lines if line.startswith("│")]
    assert rows == [
        ["1", "each", "files.read@1.0.0", "inprocess", "", "foreach"],
        [
            "2",
            "guarded",
            "text.render@1.0.0",
            "inprocess",
            "each",
            "if ${{ inputs.go }}; retry ×3; timeout 1m30s; cached",
        ],
        ["3", "calc", "python.exec@1.0.0", "process", "guarded", ""],
    ]


def test_plan_dot_to_stdout(mission: Path) -> None:
    code, out, _ = invoke("plan", str(mission), "--dot", "-")

    assert code == 0
    assert out.startswith('digraph "notes" {')
    assert '"each" -> "guarded";' in out and '"guarded" -> "calc";' in out
    assert '"calc" [label="calc\\npython.exec@1.0.0\\n[process]"];' in out
    assert "┃" not in out  # no table after a drawing


def test_plan_mermaid_to_stdout(mission: Path) -> None:
    code, out, _ = invoke("plan", str(mission), "--mermaid", "-")

    assert code == 0
    assert out.splitlines() == [
        "flowchart LR",
        '  each["each<br/>files.read@1.0.0"]',
        '  guarded["guarded<br/>text.render@1.0.0"]',
        '  calc["calc<br/>python.exec@1.0.0"]',
        "  each --> guarded",
        "  guarded --> calc",
    ]


def test_plan_drawings_to_files(mission: Path) -> None:
    dot, mermaid = mission.parent / "plan.dot", mission.parent / "plan.mmd"

    code, out, err = invoke("plan", str(mission), "--dot", str(dot), "--mermaid", str(mermaid))

    assert code == 0
    assert dot.read_text().startswith('digraph "notes"')
    assert mermaid.read_text().startswith("flowchart LR")
    assert f"wrote {dot}" in err and f"wrote {mermaid}" in err
    assert "guarded" in out  # the table is still shown when nothing went to stdout


def test_plan_json_is_the_compiled_plan(mission: Path) -> None:
    code, out, _ = invoke("plan", str(mission), "--json")

    assert code == 0
    plan = Plan.model_validate_json(out)
    assert [s.id for s in plan.steps] == ["each", "guarded", "calc"]
    assert plan.step("guarded").needs == ["each"]
    assert plan.step("guarded").retry is not None and plan.step("guarded").retry.attempts == 3
    assert json.loads(out)["steps"][1]["if"] == "${{ inputs.go }}"
    assert plan.source_path == str(mission)


def test_plan_of_a_broken_mission_is_a_usage_error(workspace: Path) -> None:
    bad = workspace / "bad.yaml"
    bad.write_text("mission: bad\nsteps:\n  - {id: a, uses: files.raed}\n")

    code, out, err = invoke("plan", str(bad), "--json")

    assert code == 2
    assert out == ""
    assert f"{bad}:3:19: error: step `a`: no tool named 'files.raed'" in err
    assert "hint: did you mean `files.read`?" in err


def test_diagnostics_quoting_markup_like_text_are_printed_verbatim(workspace: Path) -> None:
    bad = workspace / "markup.yaml"
    bad.write_text('mission: m\nsteps:\n  - {id: a, uses: files.read, with: {path: x, "[/x]": 1, "[red]": 2}}\n')

    code, _, err = invoke("validate", str(bad))

    assert code == 2
    assert "takes no argument `[/x]`" in err
    assert "takes no argument `[red]`" in err


# -- the [mission] limits of the settings ---------------------------------------------------------

NESTED = dedent("""\
    mission: nested
    steps:
      - id: show
        uses: text.render
        with: {template: hi, data: {n: [[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]}}
""")  # the innermost list is 21 levels deep


@pytest.mark.parametrize("command", ["validate", "plan", "run"])
def test_the_mission_limits_of_toolnexus_toml_apply_to_every_command(command: str, workspace: Path) -> None:
    path = workspace / "nested.yaml"
    path.write_text(NESTED)
    (workspace / "toolnexus.toml").write_text("[mission]\nmax_depth = 16\n")

    code, _, err = invoke(command, str(path), "--workspace", str(workspace))

    assert code == 2, err
    assert f"{path}:5:" in err
    assert "more than 16 levels deep" in err
    assert "raise `max_depth` under `[mission]`" in err


def test_a_document_within_the_default_limits_validates(workspace: Path) -> None:
    path = workspace / "nested.yaml"
    path.write_text(NESTED)

    code, _, err = invoke("validate", str(path), "--workspace", str(workspace))

    assert code == 0, err


def test_the_mission_size_limit_comes_from_the_environment(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = workspace / "nested.yaml"
    monkeypatch.setenv("TOOLNEXUS_MISSION__MAX_BYTES", "1024")
    path.write_text(NESTED + "# " + "x" * 2000 + "\n")

    code, _, err = invoke("validate", str(path), "--workspace", str(workspace))

    assert code == 2
    assert f"{path}:6:" in err and "larger than 1 KB" in err
