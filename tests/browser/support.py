"""Driving JupyterLab from the page: notebooks made through the contents API, opened, run, their outputs found."""

from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path
from typing import Any

from tests.browser.conftest import Lab

WITHIN = 60_000  # ms Playwright waits for something to show before the test fails (a deadline, not a sleep)
PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"  # the notebook shown (restored tabs may hide others)
KERNEL = {"kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
          "language_info": {"name": "python"}}


def put_notebook(lab: Lab, name: str, cells: list[str]) -> str:
    """Create ``name`` in the workspace through the contents REST API, with ``cells`` as code cells."""
    content = {"cells": [{"cell_type": "code", "source": source, "metadata": {}, "outputs": [],
                          "execution_count": None} for source in cells],
               "metadata": KERNEL, "nbformat": 4, "nbformat_minor": 5}
    body = json.dumps({"type": "notebook", "format": "json", "content": content}).encode()
    request = urllib.request.Request(lab.api(f"api/contents/{name}"), data=body, method="PUT",
                                     headers={**lab.headers, "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status in (200, 201), response.status
    return name


def open_notebook(page: Any, lab: Lab, name: str) -> None:
    """Open ``name`` in JupyterLab and wait until its kernel is idle."""
    # ``reset``: a fresh layout, not the one the previous page left in the server's workspace state.
    page.goto(f"{lab.url}lab/tree/{name}?reset&token={lab.token}")
    cell(page, 0).wait_for(timeout=WITHIN)
    idle(page)


def idle(page: Any) -> None:
    """Wait until the notebook's kernel is connected and idle.

    The toolbar's indicator says "idle" before the kernel is there; the status bar's kernel item says
    "No Kernel | Initializing" until it is (and Run All meanwhile runs nothing), then "<kernel> | Idle".
    """
    page.locator(".jp-StatusBar-TextItem", has_text=re.compile(r"^(?!No Kernel).* \| Idle$")).wait_for(timeout=WITHIN)
    page.locator(f"{PANEL} .jp-Notebook-ExecutionIndicator[data-status='idle']").wait_for(timeout=WITHIN)


def run_all(page: Any) -> None:
    """Run → Run All Cells, from JupyterLab's menu bar."""
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()


def cell(page: Any, index: int) -> Any:
    """The ``index``-th cell of the open notebook."""
    return page.locator(f"{PANEL} .jp-Notebook .jp-Cell").nth(index)


def output(page: Any, index: int) -> Any:
    """The output area of the ``index``-th cell."""
    return cell(page, index).locator(".jp-OutputArea")


def shot(locator: Any, folder: Path, name: str) -> Path:
    """A PNG of ``locator`` (clipped to it) in ``folder``."""
    path = folder / f"{name}.png"
    locator.screenshot(path=str(path))
    return path


class AgentCall:
    """An official ``mcp`` client calling one tool on the lab server's MCP endpoint, in a thread of its own
    (the test's thread drives the page meanwhile). ``result`` is the call's result once ``thread`` ends."""

    def __init__(self, lab: Lab, tool: str, arguments: dict[str, Any]) -> None:
        import threading

        self.lab, self.tool, self.arguments = lab, tool, arguments
        self.result: Any = None
        self.failure: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="mcp-agent", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        import anyio

        try:
            self.result = anyio.run(self._call)
        except BaseException as exc:  # reported by the test through ``failure``
            self.failure = exc

    async def _call(self) -> Any:
        import httpx2
        from mcp import Client
        from mcp.client.streamable_http import streamable_http_client

        async with httpx2.AsyncClient(headers=self.lab.headers, timeout=httpx2.Timeout(30, read=120)) as http:
            transport = streamable_http_client(self.lab.api("toolnexus/mcp"), http_client=http)
            async with Client(transport, mode="legacy", cache=None) as client:
                return await client.call_tool(self.tool, self.arguments)

    def wait(self, seconds: float = WITHIN / 1000) -> Any:
        """The call's result (failing the test if it raised or did not end within ``seconds``)."""
        self.thread.join(seconds)
        assert not self.thread.is_alive(), f"the agent's {self.tool} call did not end within {seconds:.0f} s"
        if self.failure is not None:
            raise AssertionError(f"the agent's call failed: {self.failure!r}") from self.failure
        return self.result
