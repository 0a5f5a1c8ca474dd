"""``tools/call`` latency of an MCP server's tool through toolnexus (``Nexus.acall``: validation, gate,
events, the connection thread) and through the plain SDK client on an identical stdio server.

Batches are interleaved so machine load hits both alike; prints p50/p95 and the ratio of medians.

    python benchmarks/mcp_client_latency.py [ROUNDS] [BATCH]     # default 10 50
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import anyio
from mcp import Client
from mcp.client.stdio import StdioServerParameters

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.mcp.servers.support import TOOLBOX, make_nexus, toolbox
from toolnexus import Nexus


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1e3


async def measure(nexus: Nexus, rounds: int, batch: int) -> None:
    sdk: list[float] = []
    ours: list[float] = []
    async with Client(StdioServerParameters(command=sys.executable, args=[str(TOOLBOX)])) as client:
        await client.list_tools()
        await nexus.acall("box.echo", {"text": "warm"})
        for _ in range(rounds):
            for _ in range(batch):
                start = time.perf_counter()
                await client.call_tool("echo", {"text": "x"})
                sdk.append(time.perf_counter() - start)
            for _ in range(batch):
                start = time.perf_counter()
                result = await nexus.acall("box.echo", {"text": "x"})
                ours.append(time.perf_counter() - start)
                assert result.ok, result
    print(f"plain SDK Client.call_tool  p50 {percentile(sdk, .5):.2f} ms  p95 {percentile(sdk, .95):.2f} ms")
    print(f"toolnexus Nexus.acall       p50 {percentile(ours, .5):.2f} ms  p95 {percentile(ours, .95):.2f} ms"
          f"  (p50 ratio {percentile(ours, .5) / percentile(sdk, .5):.2f}x)")


def main() -> None:
    rounds, batch = (int(a) for a in sys.argv[1:3]) if len(sys.argv) > 2 else (10, 50)
    with tempfile.TemporaryDirectory() as folder, make_nexus(Path(folder), {"box": toolbox()}) as nexus:
        anyio.run(measure, nexus, rounds, batch)


if __name__ == "__main__":
    main()
