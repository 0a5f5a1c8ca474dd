"""Kernel tools over the Jupyter endpoint: a real kernel started by the server's kernel manager defines a
``@tn.tool`` and calls ``tn.serve()``; the official MCP client lists and calls it, hears it go when the kernel
shuts down, gets "kernel busy" while a long cell runs, and a cancelled call leaves the kernel usable."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
import pytest
from jupyter_client.asynchronous import AsyncKernelClient
from mcp.shared.exceptions import MCPError

from tests.engine.support import await_until
from toolnexus.core.spec import ToolSpec
from toolnexus.jupyter.extension import ToolnexusExtension

TOOLS = '''
import threading, toolnexus as tn
from toolnexus.notebook.serve import serve

started = threading.Event()

@tn.tool
def add(a: int, b: int) -> int:
    """Add two numbers."""
    tn.report_progress(1, 2, "adding")
    return a + b

@tn.tool
def slow(seconds: float) -> str:
    """Wait, then answer."""
    started.set()
    threading.Event().wait(seconds)
    return "done"

@tn.tool
async def stuck(marker: str) -> str:
    """Block the kernel's event loop (an async tool that should not): only an interrupt stops it."""
    import pathlib, time
    pathlib.Path(marker).write_text("started")
    time.sleep(60)
    return "done"

server = serve()
'''


@pytest.fixture
def kernel_approval() -> bool:
    """Whether kernel tools need approval (the default); most tests here turn it off to see the forwarding."""
    return False


@pytest.fixture
def jp_server_config(mcp_tool_modules: list[str], toolnexus_workspace: Path, kernel_approval: bool) -> dict[str, Any]:
    return {
        "ServerApp": {"jpserver_extensions": {"toolnexus.jupyter": True}},
        "ToolnexusExtension": {"tool_modules": mcp_tool_modules, "kernel_tools_busy_timeout": 1.5,
                               "kernel_tools_approval": kernel_approval},
    }


class Kernel:
    """A kernel of the server's kernel manager, and a client of the test's own to run cells in it."""

    def __init__(self, manager: Any, kernel_id: str) -> None:
        self.manager, self.id = manager, kernel_id
        self.client = AsyncKernelClient()
        self.client.load_connection_info(manager.get_kernel(kernel_id).get_connection_info())
        self.client.start_channels()

    async def run(self, code: str, timeout: float = 60) -> dict[str, Any]:
        """Execute ``code`` and return its execute_reply's content (raising on an error)."""
        msg_id = self.client.execute(code)
        while True:
            reply = await self.client.get_shell_msg(timeout=timeout)
            if reply["parent_header"].get("msg_id") == msg_id:
                break
        content = reply["content"]
        assert content["status"] == "ok", content
        return content

    def start(self, code: str) -> str:
        """Send ``code`` to run without waiting for it."""
        return self.client.execute(code)


@pytest.fixture
def kernel(toolnexus_server: ToolnexusExtension, jp_serverapp: Any, jp_asyncio_loop: Any) -> Iterator[Kernel]:
    """A kernel started by the server's kernel manager (as a notebook's would be), shut down afterwards."""
    manager = jp_serverapp.kernel_manager
    kernel_id = jp_asyncio_loop.run_until_complete(manager.start_kernel())
    kernel = Kernel(manager, kernel_id)
    jp_asyncio_loop.run_until_complete(kernel.client.wait_for_ready(timeout=60))
    yield kernel
    kernel.client.stop_channels()
    if kernel_id in manager.list_kernel_ids():
        jp_asyncio_loop.run_until_complete(manager.shutdown_kernel(kernel_id, now=True))


def names(result: Any) -> set[str]:
    return {t.name for t in result.tools}


async def listed(client: Any, name: str, present: bool = True, within: float = 30) -> None:
    deadline = anyio.current_time() + within
    while (name in names(await client.list_tools())) is not present:
        if anyio.current_time() > deadline:
            pytest.fail(f"{name} {'never appeared' if present else 'never went'}")
        await anyio.sleep(0.05)


async def test_a_kernel_tool_is_listed_called_and_gone_with_its_kernel(kernel: Kernel, mcp_connect: Any,
                                                                       toolnexus_server: ToolnexusExtension,
                                                                       jp_serverapp: Any) -> None:
    assert toolnexus_server.service is not None
    registry = toolnexus_server.service.nexus.registry
    changed: list[Any] = []
    progress: list[str | None] = []

    async def on_message(message: Any) -> None:
        if isinstance(message, types.ServerNotification) and message.method == "notifications/tools/list_changed":
            changed.append(registry.find("kernel.add") is None)  # heard while kernel.add was gone?

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append(message)

    async with mcp_connect("legacy", message_handler=on_message) as client:
        assert "kernel.add" not in names(await client.list_tools())  # nothing is served before tn.serve()
        # list_changed rides the session's GET stream, opened on the client's own time: probe until one is heard.
        for i in range(50):
            registry.register(ToolSpec(name=f"probe.tool_{i}", summary="a probe"))
            with anyio.move_on_after(0.5):
                await await_until(lambda: changed, within=1, what="list_changed")
            if changed:
                break
        await kernel.run(TOOLS)
        await listed(client, "kernel.add")
        tool = {t.name: t for t in (await client.list_tools()).tools}["kernel.add"]
        assert tool.input_schema["required"] == ["a", "b"]
        result = await client.call_tool("kernel.add", {"a": 2, "b": 3}, progress_callback=on_progress)
        assert result.is_error is False and result.structured_content == {"result": 5}
        assert "adding" in progress  # the kernel's progress reached the agent
        spec = registry.get("kernel.add")
        assert "kernel" in spec.tags and f"kernel:{kernel.id}" in spec.tags

        heard = len(changed)
        await jp_serverapp.kernel_manager.shutdown_kernel(kernel.id, now=True)
        await await_until(lambda: any(changed[heard:]), within=20, what="list_changed once the kernel died")
        assert "kernel.add" not in names(await client.list_tools())
        with pytest.raises(MCPError, match=r"Unknown tool: kernel\.add"):
            await client.call_tool("kernel.add", {"a": 1, "b": 1})


async def test_a_busy_kernel_answers_kernel_busy_and_a_cancelled_call_leaves_it_usable(
        kernel: Kernel, mcp_connect: Any) -> None:
    progress: list[str | None] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append(message)

    async with mcp_connect("legacy") as client:
        await kernel.run(TOOLS)
        await listed(client, "kernel.add")
        # A long cell holds the kernel: the call waits (with progress), then fails clearly.
        kernel.start("import threading\nthreading.Event().wait(6)")
        busy = await client.call_tool("kernel.add", {"a": 1, "b": 2}, progress_callback=on_progress)
        assert busy.is_error is True
        assert "kernel busy" in busy.content[0].text
        assert any(m and "busy" in m for m in progress)

        # A cancelled call (the client sends notifications/cancelled) stops the tool in the kernel.
        await kernel.run("pass", timeout=30)  # waits for the long cell to end first
        async with anyio.create_task_group() as group:
            group.start_soon(client.call_tool, "kernel.slow", {"seconds": 60})
            await kernel_flag(kernel, "started.is_set()")
            group.cancel_scope.cancel()
        await kernel_flag(kernel, "not server.tasks")  # the kernel's task ended
        after = await client.call_tool("kernel.add", {"a": 20, "b": 22})
        assert after.is_error is False and after.structured_content == {"result": 42}


async def kernel_flag(kernel: Kernel, expression: str, within: float = 20) -> None:
    """Wait until ``expression`` is true in the kernel (asked cell by cell)."""
    deadline = anyio.current_time() + within
    while await kernel_value(kernel, f"bool({expression})") != "True":
        if anyio.current_time() > deadline:
            pytest.fail(f"{expression} stayed false in the kernel")
        await anyio.sleep(0.05)


async def kernel_value(kernel: Kernel, expression: str) -> str:
    """The repr of ``expression`` in the kernel (from user_expressions)."""
    msg_id = kernel.client.execute("", user_expressions={"v": expression})
    while True:
        reply = await kernel.client.get_shell_msg(timeout=30)
        if reply["parent_header"].get("msg_id") == msg_id:
            return str(reply["content"]["user_expressions"]["v"]["data"]["text/plain"])


@pytest.mark.parametrize("kernel_approval", [True])
async def test_a_kernel_tool_needs_approval_by_default(kernel: Kernel, mcp_connect: Any,
                                                       toolnexus_server: ToolnexusExtension) -> None:
    assert toolnexus_server.service is not None
    approvals = toolnexus_server.service.nexus.approvals
    assert approvals is not None
    async with mcp_connect("legacy") as client:
        await kernel.run(TOOLS)
        await listed(client, "kernel.add")
        async with anyio.create_task_group() as group:
            box: dict[str, Any] = {}

            async def call() -> None:
                box["result"] = await client.call_tool("kernel.add", {"a": 1, "b": 1})

            group.start_soon(call)
            await await_until(lambda: approvals.list(status="requested"), within=20, what="the approval request")
            ticket = approvals.list(status="requested")[0]
            assert ticket.rule == "kernel-tools"
            approvals.approve(ticket.ticket)
        assert box["result"].is_error is False and box["result"].structured_content == {"result": 2}


async def test_a_tool_blocking_the_kernel_is_interrupted_when_cancelled(kernel: Kernel, mcp_connect: Any,
                                                                       toolnexus_workspace: Path) -> None:
    # The kernel cannot read the cancel while the tool holds its loop: the server interrupts it (last resort).
    marker = toolnexus_workspace / "stuck.started"
    async with mcp_connect("legacy") as client:
        await kernel.run(TOOLS)
        await listed(client, "kernel.stuck")
        async with anyio.create_task_group() as group:
            group.start_soon(client.call_tool, "kernel.stuck", {"marker": str(marker)})
            await await_until(marker.exists, within=20, what="the tool to start")
            group.cancel_scope.cancel()
        await kernel_flag(kernel, "not server.tasks", within=30)  # interrupted, and answering cells again
        after = await client.call_tool("kernel.add", {"a": 1, "b": 2})
        assert after.is_error is False and after.structured_content == {"result": 3}


@pytest.fixture
def relaxing_policy(toolnexus_workspace: Path) -> Path:
    """A workspace policy whose enforced rule allows kernel tools (written before the server starts)."""
    (toolnexus_workspace / "toolnexus.toml").write_text('[governance]\npolicies = ["policies/*.yaml"]\n')
    folder = toolnexus_workspace / "policies"
    folder.mkdir()
    policy = folder / "kernel.yaml"
    policy.write_text("mode: enforce\nrules:\n  - id: kernel-tools-ok\n    effect: allow\n    tags: kernel\n")
    return policy


@pytest.mark.parametrize("kernel_approval", [True])
async def test_a_policy_rule_can_relax_the_approval_default(relaxing_policy: Path, kernel: Kernel, mcp_connect: Any,
                                                            toolnexus_server: ToolnexusExtension) -> None:
    assert toolnexus_server.service is not None
    approvals = toolnexus_server.service.nexus.approvals
    assert approvals is not None
    async with mcp_connect("legacy") as client:
        await kernel.run(TOOLS)
        await listed(client, "kernel.add")
        with anyio.fail_after(30):  # parked for approval, it would wait far longer
            result = await client.call_tool("kernel.add", {"a": 4, "b": 4})
    assert toolnexus_server.service.nexus.governance.gate.rule_of("kernel-tools-ok") is not None  # the policy loaded
    assert result.is_error is False and result.structured_content == {"result": 8}
    assert approvals.list() == []  # allowed by the rule, never parked
