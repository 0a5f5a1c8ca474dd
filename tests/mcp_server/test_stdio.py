"""``toolnexus mcp serve --stdio`` end to end, with the official SDK's and fastmcp's stdio clients and
with raw pipes: nothing but protocol on stdout (even from a tool that prints), exit on stdin EOF."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import anyio
import pytest
from fastmcp import Client as FastMCPClient
from fastmcp.client.transports import StdioTransport
from mcp import Client
from mcp.client.stdio import StdioServerParameters

REPO = Path(__file__).resolve().parents[2]

NOISY = '''\
import os, subprocess, sys

from toolnexus import tool
from toolnexus.mcp_server.library import prompt, resource


@tool(name="noisy.shout")
def shout(text: str) -> str:
    """Print to stdout three ways (print, a raw write to fd 1, a child process), then return the text."""
    print("print() to stdout:", text)
    sys.stdout.flush()
    os.write(1, b"a raw write to fd 1\\n")
    subprocess.run(["echo", "a child process writing to its stdout"], check=True)
    return text


@resource("noisy://motto", mime_type="text/plain")
def motto() -> str:
    """The motto of the noisy tools."""
    return "loud and clear"


@prompt(description="Ask to shout a text")
def shout_it(text: str) -> str:
    return f"Shout {text} with noisy.shout."
'''


@pytest.fixture
def stdio_workspace(tmp_path: Path) -> Path:
    (tmp_path / "noisy_tools.py").write_text(NOISY)
    (tmp_path / "toolnexus.toml").write_text(
        '[tools]\nmodules = ["noisy_tools"]\n[tracking]\nenabled = false\n'
        '[toolsets.noisy]\nnamespaces = ["noisy"]\n')
    return tmp_path


def server_env(workspace: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TOOLNEXUS_", "MLFLOW_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(workspace), str(REPO)])
    return env


def server_args(workspace: Path, *extra: str) -> list[str]:
    return ["-m", "toolnexus.cli", "mcp", "serve", "--stdio", "-w", str(workspace), *extra]


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_the_official_client_lists_and_calls_over_stdio(stdio_workspace: Path, mode: str) -> None:
    params = StdioServerParameters(command=sys.executable, args=server_args(stdio_workspace, "--toolset", "noisy"),
                                   env=server_env(stdio_workspace), cwd=str(stdio_workspace))
    async with Client(params, mode=mode) as client:
        names = [t.name for t in (await client.list_tools()).tools]
        shouted = await client.call_tool("noisy.shout", {"text": "hello"})
        again = await client.call_tool("noisy.shout", {"text": "again"})
    assert names == ["noisy.shout", "tools.search"]  # the toolset, plus the search meta-tool
    assert shouted.structured_content == {"result": "hello"}
    assert again.structured_content == {"result": "again"}


@pytest.mark.anyio
async def test_fastmcp_client_over_stdio(stdio_workspace: Path) -> None:
    transport = StdioTransport(command=sys.executable, args=server_args(stdio_workspace),
                               env=server_env(stdio_workspace), cwd=str(stdio_workspace))
    async with FastMCPClient(transport) as client:
        tools = {t.name for t in await client.list_tools()}
        result = await client.call_tool("noisy.shout", {"text": "hi"})
        failed = await client.call_tool("noisy.shout", {}, raise_on_error=False)
    assert {"noisy.shout", "files.read", "tools.search"} <= tools
    assert result.data == "hi" or result.structured_content == {"result": "hi"}
    assert failed.is_error is True


@pytest.mark.anyio
async def test_stdout_carries_nothing_but_protocol_and_eof_ends_the_server(stdio_workspace: Path) -> None:
    messages = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize",
         "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                    "clientInfo": {"name": "raw", "version": "1"}}},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "noisy.shout",
                                                                       "arguments": {"text": "loud"}}},
    ]
    async with await anyio.open_process([sys.executable, *server_args(stdio_workspace)], env=server_env(
            stdio_workspace), cwd=str(stdio_workspace)) as process:
        assert process.stdin is not None and process.stdout is not None and process.stderr is not None
        for message in messages:
            await process.stdin.send((json.dumps(message) + "\n").encode())
        received = b""
        with anyio.fail_after(60):
            while b'"id":2' not in received:
                received += await process.stdout.receive()
        await process.stdin.aclose()  # EOF: the server must end by itself
        with anyio.fail_after(30):
            code = await process.wait()
        async for chunk in process.stdout:
            received += chunk
        errors = b"".join([chunk async for chunk in process.stderr]).decode()
    lines = received.decode().splitlines()
    parsed = [json.loads(line) for line in lines]  # every line is a JSON-RPC message
    assert [m.get("id") for m in parsed] == [1, 2]
    assert parsed[1]["result"]["structuredContent"] == {"result": "loud"}
    assert code == 0
    assert "print() to stdout: loud" in errors
    assert "a raw write to fd 1" in errors and "a child process writing to its stdout" in errors


def test_an_unknown_toolset_is_a_usage_error_before_any_protocol(stdio_workspace: Path) -> None:
    done = subprocess.run([sys.executable, *server_args(stdio_workspace, "--toolset", "nosiy")], input=b"",
                          capture_output=True, env=server_env(stdio_workspace), cwd=stdio_workspace, timeout=60)
    assert done.returncode == 2
    assert done.stdout == b""
    assert "no toolset named 'nosiy'" in done.stderr.decode() and "noisy" in done.stderr.decode()
    assert "Traceback" not in done.stderr.decode()


def test_serve_without_a_transport_says_what_to_do(stdio_workspace: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "toolnexus.cli", "mcp", "serve", "-w", str(stdio_workspace)],
                          capture_output=True, env=server_env(stdio_workspace), timeout=60)
    assert done.returncode == 2
    assert "--stdio" in done.stderr.decode()



@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_stdio_serves_the_tools_modules_resources_and_prompts(stdio_workspace: Path, mode: str) -> None:
    """The stdio server serves what the Jupyter endpoint does: the @resource and @prompt functions of the
    workspace's ``tools.modules`` beside their tools."""
    params = StdioServerParameters(command=sys.executable, args=server_args(stdio_workspace),
                                   env=server_env(stdio_workspace), cwd=str(stdio_workspace))
    async with Client(params, mode=mode) as client:
        resources = {str(r.uri) for r in (await client.list_resources()).resources}
        read = (await client.read_resource("noisy://motto")).contents[0]
        prompts = {p.name for p in (await client.list_prompts()).prompts}
        got = await client.get_prompt("shout_it", {"text": "hey"})
    assert "noisy://motto" in resources
    assert read.text == "loud and clear"  # type: ignore[union-attr]
    assert "shout_it" in prompts
    assert got.messages[0].content.text == "Shout hey with noisy.shout."  # type: ignore[union-attr]


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_only_the_change_notices_sent_are_advertised(stdio_workspace: Path, mode: str) -> None:
    """Tool-list changes are sent (both eras), prompt and resource list changes never: only the former is
    advertised, on the handshake and in the 2026-07-28 discovery."""
    params = StdioServerParameters(command=sys.executable, args=server_args(stdio_workspace),
                                   env=server_env(stdio_workspace), cwd=str(stdio_workspace))
    async with Client(params, mode=mode) as client:
        capabilities = client.server_capabilities
    assert capabilities is not None and capabilities.tools is not None and capabilities.tools.list_changed
    assert capabilities.prompts is not None and not capabilities.prompts.list_changed
    assert capabilities.resources is not None and not capabilities.resources.list_changed
