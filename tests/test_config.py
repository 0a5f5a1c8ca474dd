"""Configuration precedence (file < env < CLI), provenance, and clear errors for bad values."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from toolnexus.cli import app
from toolnexus.config import load_settings
from toolnexus.core import DiagnosticError


def test_defaults_with_no_configuration(workspace: Path) -> None:
    loaded = load_settings(environ={})
    assert loaded.settings.workspace == str(workspace)
    assert loaded.settings.state_path() == workspace / ".toolnexus"
    assert loaded.sources["process_workers"] == "default"
    assert loaded.sources["workspace"] == "cwd"


def test_file_then_env_then_cli(workspace: Path) -> None:
    (workspace / "toolnexus.toml").write_text("process_workers = 3\nconcurrency = 5\n[http]\nallow_private = true\n")
    loaded = load_settings(environ={"TOOLNEXUS_CONCURRENCY": "6"}, overrides={"process_workers": 7})
    assert loaded.settings.concurrency == 6
    assert loaded.sources["concurrency"] == "env TOOLNEXUS_CONCURRENCY"
    assert loaded.settings.process_workers == 7
    assert loaded.sources["process_workers"] == "cli"
    assert loaded.settings.http.allow_private is True
    assert loaded.sources["http.allow_private"].endswith("toolnexus.toml")


def test_pyproject_table_and_nested_env(workspace: Path) -> None:
    (workspace / "pyproject.toml").write_text('[project]\nname = "x"\n[tool.toolnexus.shell]\nallow = ["echo"]\n')
    loaded = load_settings(environ={"TOOLNEXUS_HTTP__ALLOW_HOSTS": "a.example,b.example"})
    assert loaded.settings.shell.allow == ["echo"]
    assert loaded.sources["shell.allow"].endswith("pyproject.toml")
    assert loaded.settings.http.allow_hosts == ["a.example", "b.example"]


def test_unknown_key_in_file_is_an_error_with_a_hint(workspace: Path) -> None:
    (workspace / "toolnexus.toml").write_text("proces_workers = 2\n")
    with pytest.raises(DiagnosticError) as info:
        load_settings(environ={})
    [problem] = info.value.diagnostics
    assert "unknown setting 'proces_workers'" in problem.message
    assert problem.hint == "did you mean `process_workers`?"


def test_bad_value_names_key_and_source(workspace: Path) -> None:
    with pytest.raises(DiagnosticError) as info:
        load_settings(environ={"TOOLNEXUS_PROCESS_WORKERS": "many"})
    message = str(info.value)
    assert "process_workers" in message and "env TOOLNEXUS_PROCESS_WORKERS" in message


def test_invalid_toml_is_reported_with_the_file(workspace: Path) -> None:
    (workspace / "toolnexus.toml").write_text("concurrency = \n")
    with pytest.raises(DiagnosticError) as info:
        load_settings(environ={})
    assert info.value.diagnostics[0].file.endswith("toolnexus.toml")


def test_config_show_prints_values_and_sources(workspace: Path) -> None:
    (workspace / "toolnexus.toml").write_text("process_workers = 2\n")
    result = CliRunner().invoke(app, ["config", "show", "--json"], env={"TOOLNEXUS_CONCURRENCY": "9"})
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert shown["process_workers"] == {"value": 2, "source": str(workspace / "toolnexus.toml")}
    assert shown["concurrency"] == {"value": 9, "source": "env TOOLNEXUS_CONCURRENCY"}
    assert shown["state_dir"]["source"] == "default"


def test_config_show_bad_file_exits_2_without_traceback(workspace: Path) -> None:
    (workspace / "toolnexus.toml").write_text("process_workers = 0\n")
    result = CliRunner().invoke(app, ["config", "show"])
    assert result.exit_code == 2
    assert "process_workers" in result.output and "Traceback" not in result.output


def test_mcp_servers_in_the_familiar_shape(workspace: Path) -> None:
    (workspace / "toolnexus.toml").write_text(
        '[mcp.servers.time]\ncommand = "mcp-server-time"\nargs = ["--local-timezone", "UTC"]\n'
        '[mcp.servers.docs]\nurl = "https://docs.example/mcp"\nheaders = {Authorization = "Bearer x"}\n'
        'namespace = "kb"\ntiers = {search = "read_only"}\n')
    servers = load_settings(environ={}).settings.mcp.servers
    assert servers["time"].command == "mcp-server-time" and servers["time"].args == ["--local-timezone", "UTC"]
    assert servers["docs"].namespace == "kb" and servers["docs"].tiers == {"search": "read_only"}


@pytest.mark.parametrize(
    ("table", "says"),
    [
        ('command = "a"\nurl = "http://h/mcp"', "not both"),
        ("args = []", "give command"),
        ('type = "http"\ncommand = "a"', "needs url"),
        ('command = "a"\ntiers = {t = "harmless"}', "tiers.t"),
    ],
)
def test_bad_mcp_server_is_named(workspace: Path, table: str, says: str) -> None:
    (workspace / "toolnexus.toml").write_text(f"[mcp.servers.svc]\n{table}\n")
    with pytest.raises(DiagnosticError) as caught:
        load_settings(environ={})
    text = str(caught.value)
    assert "mcp.servers.svc" in text and says in text


def test_mcp_config_file_adds_servers_and_toml_wins(workspace: Path) -> None:
    (workspace / ".mcp.json").write_text(json.dumps({"mcpServers": {
        "time": {"command": "mcp-server-time"},
        "remote": {"type": "http", "url": "http://127.0.0.1:9/mcp", "headers": {"X-Key": "k"}},
    }}))
    (workspace / "toolnexus.toml").write_text(
        '[mcp]\nconfig_file = ".mcp.json"\n[mcp.servers.time]\ncommand = "mcp-server-time"\nnamespace = "clock"\n')
    settings = load_settings(environ={}).settings
    servers = settings.mcp.all_servers(settings.workspace_path())
    assert servers["remote"].url == "http://127.0.0.1:9/mcp" and servers["remote"].headers == {"X-Key": "k"}
    assert servers["time"].namespace == "clock"


def test_bad_mcp_config_file_names_the_file_and_entry(workspace: Path) -> None:
    (workspace / ".mcp.json").write_text('{"mcpServers": {"oops": {"comand": "x"}}}')
    (workspace / "toolnexus.toml").write_text('[mcp]\nconfig_file = ".mcp.json"\n')
    settings = load_settings(environ={}).settings
    with pytest.raises(DiagnosticError) as caught:
        settings.mcp.all_servers(settings.workspace_path())
    [problem, *_] = caught.value.diagnostics
    assert problem.file == str(workspace / ".mcp.json") and "mcpServers.oops" in problem.message


def test_mcp_is_not_a_policy_floor(workspace: Path) -> None:
    (workspace / "toolnexus.toml").write_text('[sandbox.min_runtime]\nprivileged = "mcp"\n')
    with pytest.raises(DiagnosticError) as caught:
        load_settings(environ={})
    assert "unknown runtime 'mcp'" in str(caught.value)


def test_search_settings_reach_the_registry_and_config_show(workspace: Path) -> None:
    from toolnexus.api import default_registry

    assert load_settings(environ={}).settings.search.mode == "bm25"
    (workspace / "toolnexus.toml").write_text('[search]\nmode = "hybrid"\n')
    loaded = load_settings(environ={"TOOLNEXUS_SEARCH__SEMANTIC_WEIGHT": "0.5"})
    assert loaded.sources["search.mode"].endswith("toolnexus.toml")
    registry = default_registry(loaded.settings)
    assert (registry.search_mode, registry.semantic_weight) == ("hybrid", 0.5)
    result = CliRunner().invoke(
        app, ["config", "show", "--json", "--workspace", str(workspace)],
        env={"TOOLNEXUS_SEARCH__SEMANTIC_WEIGHT": "0.5"},
    )
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert shown["search.mode"]["value"] == "hybrid"
    assert shown["search.semantic_weight"] == {"value": 0.5, "source": "env TOOLNEXUS_SEARCH__SEMANTIC_WEIGHT"}


def test_unknown_search_mode_is_an_error_naming_the_key(workspace: Path) -> None:
    (workspace / "toolnexus.toml").write_text('[search]\nmode = "semantic"\n')
    with pytest.raises(DiagnosticError) as info:
        load_settings(environ={})
    assert "search.mode" in str(info.value)
