"""``toolnexus tools``: list by toolset and filters, search, show at each level, toolsets, export; clean errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from toolnexus.cli import app

runner = CliRunner()
BUILTINS = {"files.read", "files.write", "files.list", "json.query", "text.render", "shell.run", "python.exec",
            "http.fetch"}


@pytest.fixture
def project(workspace: Path) -> Path:
    (workspace / "toolnexus.toml").write_text('[toolsets.writers]\ndescription = "tools that change things"\n'
                                              'tiers = ["side_effecting"]\n')
    return workspace


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def names(out: str) -> set[str]:
    return {t["name"] for t in json.loads(out)}


def test_list_shows_every_tool_at_the_listing_level(project: Path) -> None:
    code, out, err = invoke("tools", "list", "--json")
    assert code == 0, err
    tools = json.loads(out)
    assert {t["name"] for t in tools} >= BUILTINS
    assert set(tools[0]) == {"name", "version", "summary", "tier", "runtime"}


@pytest.mark.parametrize(("args", "expected"), [
    (["--toolset", "files"], {"files.read", "files.write", "files.list"}),
    (["--toolset", "writers"], {"files.write", "shell.run", "python.exec"}),
    (["--toolset", "read-only", "--namespace", "files"], {"files.read", "files.list"}),
    (["--tier", "side_effecting", "--tag", "files"], {"files.write"}),
    (["--runtime", "process"], {"python.exec"}),
    (["--tag", "json", "--tag", "template"], {"json.query", "text.render"}),
    (["--lifecycle", "retired"], set()),
])
def test_list_by_toolset_and_filters(project: Path, args: list[str], expected: set[str]) -> None:
    code, out, err = invoke("tools", "list", *args, "--json")
    assert code == 0, err
    assert names(out) == expected


def test_search_ranks_tools_with_scores_and_matched_fields(project: Path) -> None:
    code, out, err = invoke("tools", "search", "read a text file", "-k", "3", "--json")
    assert code == 0, err
    hits = json.loads(out)
    assert len(hits) == 3 and hits[0]["name"] == "files.read"
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)
    assert "read" in hits[0]["matched"]["name"]
    code, out, _ = invoke("tools", "search", "file", "--tier", "side_effecting", "--json")
    assert names(out) == {"files.write"}


@pytest.mark.parametrize(("query", "first"), [
    ("read a csv", "files.read"),
    ("read a json file", "files.read"),
    ("write a file", "files.write"),
    ("write a csv", "files.write"),
    ("list files in a folder", "files.list"),
    ("fetch a web page", "http.fetch"),
    ("run a shell command", "shell.run"),
    ("render a template", "text.render"),
    ("query json", "json.query"),
])
def test_natural_queries_rank_the_obvious_builtin_first(project: Path, query: str, first: str) -> None:
    # The built-ins' own text (what a file tool reads, what each path argument is for) carries the ranking,
    # not a rule for any query: "read a csv" once put python.exec ("it reads inputs") above files.read.
    code, out, err = invoke("tools", "search", query, "-k", "3", "--json")
    assert code == 0, err
    assert json.loads(out)[0]["name"] == first


def test_search_prints_a_table_or_says_nothing_matched(project: Path) -> None:
    code, out, _ = invoke("tools", "search", "render a template")
    assert code == 0 and "text.render@1.0.0" in out and "score" in out
    code, out, _ = invoke("tools", "search", "zzqx")
    assert code == 0 and "no tool matches 'zzqx'" in out


def test_show_at_each_level(project: Path) -> None:
    code, out, _ = invoke("tools", "show", "files.read", "--level", "listing")
    assert code == 0 and out.strip() == "files.read@1.0.0  [read_only]  Read a text file of the workspace."
    code, out, _ = invoke("tools", "show", "files.read")  # the card by default
    assert "path: string (required)" in out and "encoding: string (default \"utf-8\")" in out
    assert "input schema" not in out
    code, out, _ = invoke("tools", "show", "files.read@1", "-l", "schema", "--json")
    shown = json.loads(out)
    assert shown["input_schema"]["required"] == ["path"] and shown["examples"][0]["arguments"]
    code, out, _ = invoke("tools", "show", "json.query", "--level", "card", "--json")
    assert "input_schema" not in json.loads(out) and json.loads(out)["arguments"][0]["name"] == "data"


def test_toolsets_lists_builtin_and_configured(project: Path) -> None:
    code, out, _ = invoke("tools", "toolsets", "--json")
    assert code == 0
    found = {t["name"]: t for t in json.loads(out)}
    assert {"all", "read-only", "files", "writers"} <= set(found)
    assert found["writers"]["configured"] and found["writers"]["tools"] == 3
    assert not found["files"]["configured"] and found["files"]["tools"] == 3


def test_export_writes_provider_definitions_and_the_name_map(project: Path) -> None:
    code, out, err = invoke("tools", "export", "--format", "openai", "--toolset", "files")
    assert code == 0, err
    exported = json.loads(out)
    assert [t["function"]["name"] for t in exported["tools"]] == ["files__list", "files__read", "files__write"]
    assert exported["names"]["files__read"] == "files.read"


@pytest.mark.parametrize(("args", "message"), [
    (["show", "files.raed"], "no tool named 'files.raed'"),
    (["show", "files.read", "--level", "full"], "unknown level 'full': use one of listing, card, schema"),
    (["show", "files.read@9"], "no version of 'files.read' matches @9"),
    (["list", "--toolset", "fils"], "no toolset named 'fils'"),
    (["search", "x", "--tier", "root"], "--tier 'root'"),
    (["list", "--lifecycle", "dead"], "--lifecycle 'dead'"),
    (["export", "--format", "gemini"], "--format 'gemini': use one of mcp, openai, openai-responses, anthropic"),
    (["export", "--format", "openai", "--strict"], "cannot be a strict OpenAI function"),
])
def test_bad_input_is_a_clear_message_and_exit_status_2(project: Path, args: list[str], message: str) -> None:
    code, out, err = invoke("tools", *args)
    assert code == 2
    assert message in err
    assert "Traceback" not in out + err


def test_an_unknown_tool_hints_at_the_nearest_name(project: Path) -> None:
    code, _, err = invoke("tools", "show", "files.raed")
    assert code == 2 and "did you mean `files.read`?" in err


def test_the_real_command_exits_2_without_a_traceback(project: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOOLNEXUS_")}
    done = subprocess.run([sys.executable, "-m", "toolnexus.cli", "tools", "list", "--toolset", "nope"],
                          cwd=project, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "no toolset named 'nope'" in done.stderr and "Traceback" not in done.stderr
