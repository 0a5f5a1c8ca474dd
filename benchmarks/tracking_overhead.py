"""Tracking overhead: a 200-step mission with MLflow tracking on vs off, in one process run.

Two figures per setting, median of the repetitions after a warm-up run (which imports MLflow and
creates its store):

- ``run``: the wall time of ``await nexus.arun(plan)`` — what a caller waits for. Tracking's sink
  only appends to an in-memory report; MLflow I/O happens on a background thread.
- ``run+flush``: the same plus waiting until everything is in MLflow (``tracker.flush()``) — what a
  short-lived CLI process waits for before it exits.

Usage: python benchmarks/tracking_overhead.py [--steps 200] [--repeat 5] [--work-ms 2]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import anyio

import toolnexus as tn
from toolnexus.registry import spec_of


@tn.tool(name="bench.work", register=False)
async def work(ms: float = 0.0, i: int = 0) -> int:
    """Simulate a tool that takes ``ms`` milliseconds (awaiting, as I/O-bound tools do)."""
    if ms:
        await anyio.sleep(ms / 1000)
    return i


def mission(steps: int, work_ms: float) -> str:
    lines = ["mission: tracking-bench", "concurrency: 8", "steps:"]
    for i in range(steps):
        lines += [f"  - id: s{i}", "    uses: bench.work", f"    with: {{ms: {work_ms}, i: {i}}}"]
        if i % 10:  # chains of ten, side by side
            lines.append(f"    needs: s{i - 1}")
    return "\n".join(lines) + "\n"


def measure(tracking: bool, text: str, repeat: int) -> tuple[list[float], list[float]]:
    with tempfile.TemporaryDirectory(prefix="tn-bench-") as folder:
        nexus = tn.Nexus(folder, overrides={"tracking.enabled": tracking})
        nexus.registry.register(spec_of(work))
        plan = nexus.compile(text)
        runs, flushed = [], []
        for attempt in range(repeat + 1):
            started = time.perf_counter()
            result = anyio.run(nexus.arun, plan)
            ran = time.perf_counter() - started
            if nexus.tracker is not None:
                nexus.tracker.flush(None)
            total = time.perf_counter() - started
            assert result.ok, result.summary()
            if attempt:  # the first run is the warm-up
                runs.append(ran)
                flushed.append(total)
        if nexus.tracker is not None:
            assert not nexus.tracker.pending(), "reports left unsynced"
        nexus.close()
    return runs, flushed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--work-ms", type=float, default=0.0, help="time each step's tool takes")
    args = parser.parse_args()
    text = mission(args.steps, args.work_ms)
    off_run, off_total = measure(False, text, args.repeat)
    on_run, on_total = measure(True, text, args.repeat)
    med = statistics.median
    print(f"{args.steps}-step mission, {args.work_ms:g} ms per step, median of {args.repeat} runs")
    print(f"{'':12}{'tracking off':>14}{'tracking on':>14}{'overhead':>10}")
    for label, off, on in (("run", off_run, on_run), ("run+flush", off_total, on_total)):
        print(f"{label:12}{med(off) * 1000:>12.1f}ms{med(on) * 1000:>12.1f}ms{(med(on) / med(off) - 1) * 100:>9.1f}%")
    print("target: tracking adds <= 15% to the run")


if __name__ == "__main__":
    main()
