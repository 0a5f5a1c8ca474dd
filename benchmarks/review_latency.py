"""Review latency: an MCP agent's call waiting for approval, approved from the notebook's review widget.

A real ``jupyter server`` (the toolnexus extension, token authentication) serves a temporary workspace whose
policy sends every call of ``bench.noop`` for approval. The agent is the official ``mcp`` SDK client on the
Jupyter MCP endpoint; the "notebook" is this process: a Nexus on the same workspace and its
:func:`toolnexus.notebook.review.review` widget, following the store on its own as in a kernel. For each of
``--calls`` calls the agent calls ``bench.noop``; once the widget shows the waiting call, its Approve
button's ``click()`` is called (what a click in the browser runs in the kernel), and the time from the click
to the result at the agent is measured. Also printed: request → card shown (the MCP request, the gate
parking the call, and the widget noticing it).

    python benchmarks/review_latency.py [--calls 20]

Target (issue 17): click → result at the agent ≤ 1 s. The waiting call looks at the database's
``data_version`` every 25 ms (``toolnexus.governance.approvals_watch.POLL``); the widget every 100 ms
(``toolnexus.notebook.review.POLL``), which only the "shown" figure includes.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # bench_tools (the no-op tool) and mcp_throughput's server helpers live here
    sys.path.insert(0, str(HERE))

from mcp_throughput import free_port, server_env  # noqa: E402 - needs HERE on sys.path

TARGET = 1.0
WITHIN = 60.0
POLICY = """
rules:
  - id: reviewed
    effect: approve
    mode: enforce
    tools: bench.noop
    reason: every call is reviewed
"""


def workspace(folder: Path) -> Path:
    """A workspace with the no-op tool, a policy sending it for approval, and tracking off."""
    folder.mkdir()
    (folder / "policies").mkdir()
    (folder / "policies" / "main.yaml").write_text(textwrap.dedent(POLICY).lstrip())
    (folder / "toolnexus.toml").write_text('[tools]\nmodules = ["bench_tools"]\n\n[tracking]\nenabled = false\n\n'
                                           '[governance]\npolicies = ["policies/*.yaml"]\n')
    return folder


async def wait_ready(url: str, token: str) -> None:
    """Wait until the server answers its API."""
    import httpx2

    deadline = time.monotonic() + WITHIN
    async with httpx2.AsyncClient() as http:
        while True:
            try:
                if (await http.get(url, headers={"Authorization": f"token {token}"})).status_code == 200:
                    return
            except httpx2.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("the Jupyter server did not start")
            await asyncio.sleep(0.1)


async def measure(endpoint: str, token: str, widget: Any, calls: int) -> tuple[list[float], list[float]]:
    """``calls`` approvals: (click → result, request → card shown) for each."""
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    clicks: list[float] = []
    shown: list[float] = []
    headers = {"Authorization": f"token {token}"}
    async with (httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=120)) as http,
                Client(streamable_http_client(endpoint, http_client=http), mode="legacy", cache=None) as client):
        for _ in range(calls):
            asked = time.perf_counter()
            call = asyncio.ensure_future(client.call_tool("bench.noop", {}))
            while not widget.queue.children:
                if time.perf_counter() - asked > WITHIN:
                    raise SystemExit("the call never appeared in the widget")
                await asyncio.sleep(0.002)
            shown.append(time.perf_counter() - asked)
            clicked = time.perf_counter()
            widget.queue.children[0].approve.click()
            result = await asyncio.wait_for(call, WITHIN)
            clicks.append(time.perf_counter() - clicked)
            if result.is_error:
                raise SystemExit(f"the approved call failed: {result}")
            while widget.queue.children:  # the widget drops the card once it sees the grant
                await asyncio.sleep(0.002)
    return clicks, shown


def summary(name: str, samples: list[float]) -> str:
    """Median, p95 and maximum in milliseconds."""
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return (f"{name}: median {statistics.median(ordered) * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms, "
            f"max {ordered[-1] * 1000:.1f} ms")


def main() -> None:
    """Measure, print, and exit 1 if the p95 click → result misses the target."""
    import secrets
    import subprocess

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=20)
    args = parser.parse_args()
    os.environ["TOOLNEXUS_TRACKING__ENABLED"] = "false"
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        root = workspace(scratch / "workspace")
        port, token = free_port(), secrets.token_hex(16)
        command = [sys.executable, "-m", "jupyter_server", "--no-browser", "--ServerApp.ip=127.0.0.1",
                   f"--port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
                   f"--ServerApp.root_dir={root}", "--ServerApp.log_level=WARN", "--allow-root"]
        with (scratch / "jupyter.log").open("wb") as log:
            server = subprocess.Popen(command, cwd=root, env=server_env(scratch), stdout=log, stderr=subprocess.STDOUT)
        try:
            clicks, shown = _run(root, port, token, args.calls)
        finally:
            server.terminate()
            server.wait(10)
    print(f"{args.calls} MCP calls approved from the review widget (real jupyter-server, official mcp client)")
    print(summary("click → result at the agent", clicks) + f" (target ≤ {TARGET * 1000:.0f} ms)")
    print(summary("request → shown in the widget", shown))
    if sorted(clicks)[min(len(clicks) - 1, int(0.95 * len(clicks)))] > TARGET:
        sys.exit(1)


def _run(root: Path, port: int, token: str, calls: int) -> tuple[list[float], list[float]]:
    from toolnexus import Nexus
    from toolnexus.notebook.review import review

    base = f"http://127.0.0.1:{port}"
    asyncio.run(wait_ready(f"{base}/api/status", token))
    with Nexus(root) as notebook:
        widget = review(notebook, approver="reviewer")
        try:
            return asyncio.run(measure(f"{base}/toolnexus/mcp", token, widget, calls))
        finally:
            widget.close()


if __name__ == "__main__":
    main()
