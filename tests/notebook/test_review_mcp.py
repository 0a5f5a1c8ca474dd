"""Beyond every anchor: an agent on the Jupyter MCP endpoint (the official ``mcp`` client) calls a tool that
needs approval; its waiting call appears in the review widget of a notebook sharing the workspace; Approve
in the widget releases it and the agent gets its result. The click → result latency is recorded as the
suite's ``review_click_to_result_seconds`` property (``benchmarks/review_latency.py`` measures it repeatedly)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import toolnexus as tn
from tests.jupyter.conftest import *  # noqa: F403  (the real Jupyter server with the toolnexus extension)
from tests.jupyter.test_approvals_rest import NeedsApproval
from toolnexus.governance.approvals import ApprovalQueue
from toolnexus.jupyter.extension import ToolnexusExtension
from toolnexus.notebook.review import ReviewWidget, review

WITHIN = 30.0  # seconds a step of the scenario may take before the test fails (not a timing assertion)


async def _shown(widget: ReviewWidget) -> Any:
    """The widget's first card, once the widget (following the store on its own) shows one."""
    deadline = time.monotonic() + WITHIN
    while not widget.queue.children:
        assert time.monotonic() < deadline, "the agent's call never appeared in the widget"
        await asyncio.sleep(0.01)
    return widget.queue.children[0]


def test_an_agents_waiting_call_is_approved_from_the_widget(
        toolnexus_server: ToolnexusExtension, toolnexus_workspace: Path, mcp_connect: Any, jp_asyncio_loop: Any,
        record_testsuite_property: Any) -> None:
    assert toolnexus_server.service is not None
    server_nexus = toolnexus_server.service.nexus
    assert server_nexus.store is not None
    server_nexus.governance.gate = NeedsApproval(ApprovalQueue(server_nexus.store, timeout=60,
                                                               announce=server_nexus.bus.emit))
    # The notebook's own Nexus on the same workspace (a kernel is another process with its own).
    with tn.Nexus(toolnexus_workspace) as notebook:
        widget = review(notebook, approver="reviewer")
        try:
            async def scenario() -> tuple[Any, Any, float]:
                async with mcp_connect("legacy") as client:
                    call = asyncio.ensure_future(client.call_tool("test.echo", {"value": "from the agent"}))
                    card = await _shown(widget)
                    assert card.record.tool == "test.echo" and card.record.surface == "mcp"
                    assert "from the agent" in card.header.value and "rule <b>review</b>" in card.header.value
                    card.reason.value = "fine by me"
                    clicked = time.perf_counter()
                    card.approve.click()
                    result = await asyncio.wait_for(call, WITHIN)
                    return card, result, time.perf_counter() - clicked

            card, result, latency = jp_asyncio_loop.run_until_complete(scenario())
        finally:
            widget.close()
        record_testsuite_property("review_click_to_result_seconds", round(latency, 4))
        assert result.is_error is not True, result
        assert result.structured_content == {"result": "from the agent"} or "from the agent" in str(result.content)
        granted = notebook.approvals.show(card.record.ticket)  # type: ignore[union-attr]
        assert (granted.status, granted.decided_by, granted.channel, granted.decision_reason) == (
            "granted", "reviewer", "notebook", "fine by me")
