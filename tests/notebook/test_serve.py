"""``tn.serve()`` in a real kernel, driven as the server extension drives it: the comm's messages on iopub,
calls and cancels sent as comm_msg on shell (the protocol of ``toolnexus.jupyter.kernel_tools``)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from jupyter_client.manager import KernelManager

TARGET = "toolnexus.kernel_tools"

CELL = '''
import threading, toolnexus as tn
from toolnexus.notebook.serve import serve

@tn.tool
def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b

@tn.tool
def hidden() -> str:
    """Not offered: serve() names only add."""
    return "no"

server = serve(tools=["add", "later"])
'''


class Driver:
    """A kernel and a client playing the server's part."""

    def __init__(self) -> None:
        self.manager = KernelManager(kernel_name="python3")
        self.manager.start_kernel()
        self.client = self.manager.client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=60)
        self.comm_id: str | None = None
        self.data: list[dict[str, Any]] = []

    def run(self, code: str) -> None:
        reply = self.client.execute_interactive(code, timeout=60, output_hook=self._hook)
        assert reply["content"]["status"] == "ok", reply["content"]

    def _hook(self, msg: dict[str, Any]) -> None:
        kind, content = msg["msg_type"], msg["content"]
        if kind == "comm_open" and content.get("target_name") == TARGET:
            self.comm_id = content["comm_id"]
            self.data.append(content["data"])
        elif kind == "comm_msg" and content.get("comm_id") == self.comm_id:
            self.data.append(content["data"])
        elif kind == "comm_close" and content.get("comm_id") == self.comm_id:
            self.data.append({"op": "closed"})

    def send(self, data: dict[str, Any]) -> None:
        self.client.shell_channel.send(self.client.session.msg("comm_msg", {"comm_id": self.comm_id, "data": data}))

    def wait_for(self, op: str, call: str | None = None, within: float = 30) -> dict[str, Any]:
        """The first message ``op`` (of ``call``) heard on iopub, reading until it comes."""
        deadline = time.monotonic() + within
        while True:
            for data in self.data:
                if data.get("op") == op and (call is None or data.get("call") == call):
                    self.data.remove(data)
                    return data
            if time.monotonic() > deadline:
                pytest.fail(f"no {op} message within {within} s; heard {self.data}")
            try:
                self._hook(self.client.get_iopub_msg(timeout=0.2))
            except Exception:  # queue.Empty: nothing yet
                continue

    def close(self) -> None:
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=True)


@pytest.fixture
def driver() -> Iterator[Driver]:
    d = Driver()
    yield d
    d.close()


def test_serve_announces_runs_and_cancels(driver: Driver) -> None:
    driver.run(CELL)
    opened = driver.wait_for("tools")
    assert [t["name"] for t in opened["tools"]] == ["add"]  # only what serve() named, of the cells' tools

    driver.run('@tn.tool\ndef later() -> str:\n    """Defined after serve()."""\n    return "later"\n')
    assert {t["name"] for t in driver.wait_for("tools")["tools"]} == {"add", "later"}  # announced again

    driver.send({"op": "call", "call": "c1", "tool": "add", "arguments": {"a": 2, "b": 5},
                 "caller": {"principal": "agent-user", "surface": "mcp"}, "correlation_id": "corr-1",
                 "deadline": time.time() + 60})
    assert driver.wait_for("started", "c1") == {"op": "started", "call": "c1"}
    result = driver.wait_for("result", "c1")
    assert result["output"] == 7 and result["error"] is None

    # A call that reaches the kernel after its deadline (the server gave up: kernel busy) never runs.
    driver.send({"op": "call", "call": "c2", "tool": "add", "arguments": {"a": 1, "b": 1}, "deadline": 0})
    late = driver.wait_for("result", "c2")
    assert late["error"]["kind"] == "timeout" and "kernel busy" in late["error"]["message"]

    driver.run('@tn.tool\nasync def nap() -> str:\n    """Sleep long."""\n    import asyncio\n'
               '    await asyncio.sleep(60)\n    return "woke"\nserver.only = None\n')
    driver.send({"op": "call", "call": "c3", "tool": "nap", "arguments": {}, "deadline": time.time() + 60})
    driver.wait_for("started", "c3")
    driver.send({"op": "cancel", "call": "c3"})
    cancelled = driver.wait_for("result", "c3")
    assert cancelled["error"]["kind"] == "cancelled"
    driver.run("assert not server.tasks")  # the kernel is idle and usable

    driver.data.clear()  # the announce made when nap was defined (before server.only changed) is stale
    driver.send({"op": "hello"})
    assert "nap" in {t["name"] for t in driver.wait_for("tools")["tools"]}
    driver.run("server.close()")
    driver.wait_for("closed")


def test_serve_outside_a_kernel_says_where_it_works() -> None:
    from toolnexus.errors import Unavailable
    from toolnexus.notebook.serve import serve

    with pytest.raises(Unavailable, match="call it in a Jupyter kernel"):
        serve()


MISSION_CELL = '''%%mission --as greeting
mission: greet-agent
inputs:
  who: {type: string}
outputs:
  text: ${{ steps.hello.outputs.text }}
steps:
  - id: hello
    uses: text.render
    with: {template: "hello {{ who }}", data: {who: "${{ inputs.who }}"}}
'''


def test_a_mission_cell_is_offered_and_run_as_a_tool(workspace: Any) -> None:
    driver = Driver()  # started in the workspace (the test's current directory): its state goes there
    try:
        driver.run("import toolnexus as tn\n%load_ext toolnexus")
        driver.run(MISSION_CELL)
        driver.run("server = tn.serve()")
        [mission] = [t for t in driver.wait_for("tools")["tools"] if t["name"] == "mission.greet-agent"]
        assert mission["input_schema"]["required"] == ["who"] and "mission" in mission["tags"]
        driver.send({"op": "call", "call": "m1", "tool": "mission.greet-agent", "arguments": {"who": "Ada"},
                     "caller": {"principal": "agent-user", "surface": "mcp"}, "deadline": time.time() + 60})
        result = driver.wait_for("result", "m1")
        assert result["error"] is None and result["output"] == {"text": "hello Ada"}
        driver.send({"op": "call", "call": "m2", "tool": "mission.greet-agent", "arguments": {},
                     "deadline": time.time() + 60})
        refused = driver.wait_for("result", "m2")  # a missing input is the run's error, as data
        assert refused["output"] is None and refused["error"]["kind"] == "invalid_arguments"
        assert "who" in refused["error"]["message"]
    finally:
        driver.close()
