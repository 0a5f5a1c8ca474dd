"""The tool filter options are declared once (``toolnexus.cli.filters``) and every selecting command has them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from toolnexus.cli import app

runner = CliRunner()


@pytest.mark.parametrize("command", [["tools", "list", "--json"], ["tools", "search", "file", "--json"],
                                     ["tools", "export", "--format", "mcp"]])
def test_each_selecting_command_filters_by_the_shared_options(workspace: Path, command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--namespace", "files", "--tier", "read_only"])
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    tools = data["tools"] if isinstance(data, dict) else data
    assert {t["name"] for t in tools} == {"files.read", "files.list"}


def test_a_bad_filter_value_is_a_diagnostic_not_a_traceback(workspace: Path) -> None:
    result = runner.invoke(app, ["tools", "list", "--tier", "dangerous"])
    assert result.exit_code == 2 and "Traceback" not in result.output
