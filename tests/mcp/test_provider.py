"""Configured MCP servers as tool providers: specs, tiers, pagination, the listing cache, broken servers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import console_script
from tests.mcp.servers.support import make_nexus, toolbox
from toolnexus.config import McpServerSettings
from toolnexus.core.spec import SafetyTier
from toolnexus.mcp.provider import McpProvider, connection_key, spec_from_tool, tier_of
from toolnexus.registry import Registry


@pytest.mark.parametrize(
    ("annotations", "tier"),
    [
        ({"readOnlyHint": True}, SafetyTier.READ_ONLY),
        ({"readOnlyHint": True, "destructiveHint": True}, SafetyTier.READ_ONLY),
        ({"readOnlyHint": False, "destructiveHint": True}, SafetyTier.PRIVILEGED),
        ({"readOnlyHint": False, "destructiveHint": False}, SafetyTier.SIDE_EFFECTING),
        (None, SafetyTier.SIDE_EFFECTING),
    ],
)
def test_tier_from_annotations(annotations: dict | None, tier: SafetyTier) -> None:
    assert tier_of({"name": "t", "annotations": annotations}) == tier


def test_tier_override_by_remote_or_full_name() -> None:
    tool = {"name": "wipe", "annotations": {"readOnlyHint": True}}
    assert tier_of(tool, {"wipe": SafetyTier.PRIVILEGED}) == SafetyTier.PRIVILEGED
    assert tier_of(tool, {"box.wipe": SafetyTier.SIDE_EFFECTING}, "box.wipe") == SafetyTier.SIDE_EFFECTING


def test_spec_carries_schemas_title_and_where_it_runs() -> None:
    tool = {"name": "get", "title": "Get a thing", "description": "Gets.\nMore words.",
            "inputSchema": {"type": "object", "properties": {"id": {"type": "integer"}}, "required": ["id"]},
            "outputSchema": {"type": "object", "properties": {"thing": {"type": "string"}}},
            "annotations": {"readOnlyHint": True, "openWorldHint": True}}
    spec = spec_from_tool("store", McpServerSettings(command="x", namespace="shop"), tool, "2.1.0")
    assert spec.name == "shop.get" and spec.version == "2.1.0"
    assert spec.summary == "Get a thing" and spec.description == "Gets.\nMore words."
    assert spec.input_schema == tool["inputSchema"] and spec.output_schema == tool["outputSchema"]
    assert spec.runtime == "mcp" and spec.entry.kind == "mcp"
    assert (spec.entry.server, spec.entry.remote_name) == ("store", "get")
    assert "open-world" in spec.tags


def test_server_tools_are_registered_with_tiers_and_every_page(tmp_path: Path) -> None:
    with make_nexus(tmp_path, {"box": toolbox(tiers={"touch": "privileged"})}) as nexus:
        names = {s.name for s in nexus.registry.list() if s.source == "mcp:box"}
        # The toolbox lists four tools a page: all of them arrived.
        assert names >= {"box.echo", "box.shout", "box.wipe", "box.touch", "box.fail", "box.pid", "box.die",
                         "box.slow", "box.wait_for", "box.add_tool", "box.remove_tool"}
        tiers = {name: nexus.registry.get(name).tier for name in ("box.echo", "box.wipe", "box.touch", "box.fail")}
        assert tiers == {"box.echo": SafetyTier.READ_ONLY, "box.wipe": SafetyTier.PRIVILEGED,
                         "box.touch": SafetyTier.PRIVILEGED, "box.fail": SafetyTier.SIDE_EFFECTING}
        echo = nexus.registry.get("box.echo")
        assert echo.input_schema["required"] == ["text"] and echo.output_schema is not None
        # A privileged MCP tool runs on its server: the process-runtime floor for privileged tools is met.
        assert nexus.call("box.wipe", {"path": "/tmp/x"}).output == {"result": "would wipe /tmp/x"}


def test_a_cached_listing_is_used_without_starting_the_server(tmp_path: Path) -> None:
    time_server = {"time": {"command": console_script("mcp-server-time")}}
    with make_nexus(tmp_path, time_server) as first:
        assert first.mcp.connections.started
    with make_nexus(tmp_path, time_server) as second:
        assert "time.get_current_time" in second.registry
        assert not second.mcp.connections.started
        assert second.call("time.get_current_time", {"timezone": "UTC"}).ok  # the first call starts it
        assert second.mcp.connections.started
    # Past mcp.listing_ttl a cached listing is not trusted: the server would be asked again.
    servers = {"time": McpServerSettings(command=console_script("mcp-server-time"))}
    state = tmp_path / ".toolnexus"
    assert McpProvider(servers, Registry(), tmp_path, state)._read_cache("time") is not None
    assert McpProvider(servers, Registry(), tmp_path, state, listing_ttl=0)._read_cache("time") is None


def test_the_cache_is_keyed_by_how_the_server_is_reached() -> None:
    def key(**extra: object) -> str:
        return connection_key(McpServerSettings.model_validate({"command": "mcp-server-time", **extra}))

    assert key() == key(tiers={"x": "privileged"}, namespace="clock")  # how tools are named, not reached
    assert key() != key(args=["--local-timezone", "UTC"])
    assert key() != key(env={"TZ": "UTC"})


def test_a_server_that_cannot_start_is_named_and_the_rest_works(tmp_path: Path) -> None:
    servers = {"ghost": {"command": "no-such-mcp-server-anywhere"},
               "time": {"command": console_script("mcp-server-time")},
               "mute": {"command": "sleep", "args": ["60"], "timeout": 1}}  # starts, never answers
    with make_nexus(tmp_path, servers) as nexus:
        assert any("'ghost'" in p and "no-such-mcp-server-anywhere" in p for p in nexus.registry.problems)
        assert any("'mute'" in p and "no answer within 1s" in p for p in nexus.registry.problems)
        assert nexus.call("time.get_current_time", {"timezone": "UTC"}).ok
        assert nexus.call("text.render", {"template": "hi {{ x }}", "data": {"x": 1}}).output["text"] == "hi 1"


def test_tools_list_shows_server_tools_and_names_a_broken_server(workspace: Path) -> None:
    time_server = json.dumps(console_script("mcp-server-time"))  # a TOML basic string
    (workspace / "toolnexus.toml").write_text(
        f'[mcp.servers.time]\ncommand = {time_server}\n\n[mcp.servers.ghost]\ncommand = "no-such-mcp-server"\n')
    # A real process: what a user sees on stderr, not what a test harness's log capture sees.
    result = subprocess.run([sys.executable, "-m", "toolnexus.cli", "tools", "list", "--json"], cwd=workspace,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and "'ghost'" in result.stderr
    names = {tool["name"] for tool in json.loads(result.stdout)}
    assert {"time.get_current_time", "time.convert_time", "text.render"} <= names
