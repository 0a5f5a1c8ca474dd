"""The CLI end to end: run, call, runs, tools — results, exit statuses, and clean errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import REPO
from toolnexus.cli import app

runner = CliRunner()


@pytest.fixture
def project(workspace: Path) -> Path:
    shutil.copytree(REPO / "missions", workspace / "missions")
    return workspace


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_run_hello_with_inputs_prints_a_json_result(project: Path) -> None:
    code, out, err = invoke("run", "missions/hello.yaml", "-i", "name=Ada", "-i", "times=2", "--json", "--no-progress")
    assert code == 0, err
    result = json.loads(out)
    assert result["status"] == "succeeded"
    assert result["outputs"]["greeting"] == "Hello, Ada!"
    assert (project / "out/hello.txt").read_text() == "Hello, Ada! (#1)\nHello, Ada! (#2)"
    assert result["inputs"] == {"name": "Ada", "times": 2}


def test_progress_lines_name_each_step(project: Path) -> None:
    code, _, err = invoke("run", "missions/hello.yaml")
    assert code == 0
    for step in ("greet", "lines", "save", "check"):
        assert f"✓ {step} " in err
    assert "succeeded run" in err


def test_runs_list_and_show_read_the_store(project: Path) -> None:
    code, out, _ = invoke("run", "missions/hello.yaml", "--json", "--no-progress")
    run_id = json.loads(out)["run_id"]
    code, out, _ = invoke("runs", "list", "--json")
    assert code == 0
    assert [r["run_id"] for r in json.loads(out)] == [run_id]
    code, out, _ = invoke("runs", "show", run_id[:-3], "--json")
    assert code == 0
    shown = json.loads(out)
    assert shown["run_id"] == run_id and shown["status"] == "succeeded"
    assert list(shown["steps"]) == ["greet", "lines", "save", "check"]
    code, _, err = invoke("runs", "show", "run-nope")
    assert code == 2 and "no run 'run-nope'" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-i", "times=abc"], "input 'times': 'abc' is not a valid integer"),
        (["-i", "nam=Ada"], "unknown input 'nam'"),
        (["-i", "novalue"], "-i 'novalue': expected key=value"),
    ],
)
def test_bad_inputs_exit_2_with_a_message(project: Path, args: list[str], message: str) -> None:
    code, out, err = invoke("run", "missions/hello.yaml", *args)
    assert code == 2
    assert message in err
    assert "Traceback" not in out + err


def test_unknown_input_hint(project: Path) -> None:
    _, _, err = invoke("run", "missions/hello.yaml", "-i", "nam=Ada")
    assert "did you mean `name`?" in err


def test_missing_file_and_missing_argument(project: Path) -> None:
    code, _, err = invoke("run", "missions/nope.yaml")
    assert code == 2 and "missions/nope.yaml: error: no such mission file" in err
    code, _, err = invoke("run")
    assert code == 2 and "give a mission file" in err


def test_a_failing_run_exits_1_and_names_the_step(project: Path) -> None:
    (project / "bad.yaml").write_text(
        "mission: bad\nsteps:\n  - id: boom\n    uses: python.exec\n    with: {code: 'raise ValueError(\"no\")'}\n"
        "  - id: after\n    uses: text.render\n    needs: boom\n    with: {template: x}\n"
    )
    code, _, err = invoke("run", "bad.yaml", "--no-progress")
    assert code == 1
    assert "step boom (python.exec) failed: tool_error: ValueError: no" in err
    assert "Traceback" not in err


def test_call_prints_the_output(project: Path) -> None:
    code, out, err = invoke("call", "text.render", "--arg", "template=Hi {{ who }}", "--arg", 'data={"who": "Ada"}')
    assert code == 0, err
    assert json.loads(out) == {"text": "Hi Ada"}


def test_call_with_json_args_and_version(project: Path) -> None:
    code, out, _ = invoke("call", "json.query@1", "--args", '{"data": {"a": [1, 2]}, "query": "a[1]"}')
    assert code == 0
    assert json.loads(out) == 2


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["text.rendr", "--arg", "template=x"], 2, "did you mean `text.render`?"),
        (["text.render", "--arg", "templat=x"], 2, "invalid arguments for text.render@1.0.0"),
        (["json.query", "--args", "{nope"], 2, "--args is not valid JSON"),
        (["json.query", "--args", "[1]"], 2, "--args must be a JSON object"),
        (["files.read", "--arg", "path=../../etc/passwd"], 1, "denied"),
        (["files.read", "--arg", "path=missing.txt"], 1, "not_found"),
    ],
)
def test_call_errors(project: Path, args: list[str], code: int, message: str) -> None:
    exit_code, out, err = invoke("call", *args)
    assert exit_code == code
    assert message in err
    assert "Traceback" not in out + err


def test_tools_list_and_show(project: Path) -> None:
    code, out, _ = invoke("tools", "list", "--json")
    names = {t["name"] for t in json.loads(out)}
    assert {
        "files.read",
        "files.write",
        "files.list",
        "json.query",
        "text.render",
        "shell.run",
        "python.exec",
        "http.fetch",
    } <= names
    code, out, _ = invoke("tools", "show", "files.read", "--level", "schema", "--json")
    spec = json.loads(out)
    assert spec["name"] == "files.read" and spec["input_schema"]["required"] == ["path"]
    code, _, err = invoke("tools", "show", "files.raed")
    assert code == 2 and "did you mean `files.read`?" in err


def test_unknown_command_is_a_usage_error(project: Path) -> None:
    code, _, _ = invoke("frobnicate")
    assert code == 2


def test_version_prints_the_installed_version() -> None:
    from importlib.metadata import version

    code, out, _ = invoke("--version")
    assert code == 0
    assert out.strip() == f"toolnexus {version('toolnexus')}"


def test_runs_list_shows_whole_run_ids_in_a_narrow_terminal(project: Path) -> None:
    code, out, err = invoke("run", "missions/hello.yaml", "--json", "--no-progress")
    assert code == 0, err
    run_id = json.loads(out)["run_id"]
    listed = runner.invoke(app, ["runs", "list"], env={"COLUMNS": "60"})
    assert listed.exit_code == 0, listed.stderr
    assert run_id in listed.stdout  # whole, so it can be copied
