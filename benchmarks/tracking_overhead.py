"""Tracking overhead: a mission of no-op steps with MLflow tracking on vs off, interleaved in one process run.

Two workspaces, one Nexus each (tracking off; tracking on, on a local SQLite MLflow store), run the same
compiled plan taking turns — off, on, off, on … — so that load from elsewhere on the machine falls on both
alike. Per run:

- ``wall``: the wall time of ``await nexus.arun(plan)``, what a caller waits for;
- ``loop CPU``: the CPU time of the thread running the event loop (the run's own thread), which moves less
  with load than wall time. Tracking's sink only appends events to an in-memory report on that thread;
  building the report and MLflow I/O happen on the tracker's thread, after the run.

After each tracked run the tracker is flushed (MLflow written) outside the timed region, so the next run
does not share the machine with it. Reported: min and median of each, and the ratio on/off.

``--sinks`` is the diagnostic of where tracking's cost lies: two more Nexus objects, tracking off, take turns
with the others, each with a stand-in for the tracker's sink subscribed to the same event types: ``drop``
takes each event and does nothing (what building and delivering the events costs), ``keep`` holds a run's
events until the run ends, as the tracker's sink does, and lets them go after the timed region, as the
tracker's thread does (what holding them costs), with no thread and no MLflow.

Usage: python benchmarks/tracking_overhead.py [--steps 200] [--repeat 21] [--work-ms 0] [--sinks] [--quick]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any

import anyio

import toolnexus as tn
from toolnexus.core.events import Event
from toolnexus.registry import spec_of
from toolnexus.tracking import MlflowTracker


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


def timed(nexus: tn.Nexus, plan: Any) -> tuple[float, float]:
    """(wall, CPU of the event loop's thread) of one run."""
    cpu: list[float] = []

    async def go() -> Any:
        started = time.thread_time()
        try:
            return await nexus.arun(plan)
        finally:
            cpu.append(time.thread_time() - started)

    began = time.perf_counter()
    result = anyio.run(go)
    wall = time.perf_counter() - began
    assert result.ok, result.summary()
    return wall, cpu[0]


def nexus_in(folder: str, tracking: bool) -> tn.Nexus:
    nexus = tn.Nexus(folder, overrides={"tracking.enabled": tracking, "tracking.sync": "wait"})
    nexus.registry.register(spec_of(work))
    return nexus


class DroppingSink:
    """A stand-in for the tracker's sink that takes the same events and drops each one."""

    event_types = MlflowTracker.event_types

    def __call__(self, event: Event) -> None:
        pass


class KeepingSink:
    """A stand-in for the tracker's sink that holds each run's events, as the tracker does until the run ends;
    :meth:`release` lets them go (called after the timed region, as the tracker's thread does after the run)."""

    event_types = MlflowTracker.event_types

    def __init__(self) -> None:
        self.events: list[Event] = []

    def __call__(self, event: Event) -> None:
        self.events.append(event)

    def release(self) -> None:
        self.events = []


def configurations(folder: str, sinks: bool) -> dict[str, tuple[tn.Nexus, Callable[[], None]]]:
    """Name → (a Nexus, what to do after each of its timed runs): tracking off and on, and with ``sinks`` the
    stand-ins for the tracker's sink on a Nexus with tracking off."""
    on = nexus_in(f"{folder}/on", True)
    tracker = on.tracker
    assert tracker is not None

    def flushed() -> None:
        assert tracker.flush(None) and not tracker.failures, tracker.failures

    configs = {"off": (nexus_in(f"{folder}/off", False), lambda: None), "on": (on, flushed)}
    if sinks:
        drop, keep = nexus_in(f"{folder}/drop", False), nexus_in(f"{folder}/keep", False)
        keeping = KeepingSink()
        drop.bus.subscribe(DroppingSink())
        keep.bus.subscribe(keeping)
        configs.update({"drop": (drop, lambda: None), "keep": (keep, keeping.release)})
    return configs


Samples = dict[str, list[tuple[float, float]]]


def interleaved(text: str, repeat: int, sinks: bool = False) -> Samples:
    """Each configuration's samples, runs taking turns (the order reversed every other round)."""
    with tempfile.TemporaryDirectory(prefix="tn-bench-") as folder:
        configs = configurations(folder, sinks)
        plans = {name: nexus.compile(text) for name, (nexus, _) in configs.items()}
        samples: Samples = {name: [] for name in configs}
        names = list(configs)
        for attempt in range(repeat + 1):
            for name in names if attempt % 2 else names[::-1]:  # alternate who goes first
                nexus, after = configs[name]
                sample = timed(nexus, plans[name])
                after()
                if attempt:  # the first round is the warm-up (it imports MLflow and creates its store)
                    samples[name].append(sample)
        for nexus, _ in configs.values():
            nexus.close()
    return samples


def row(label: str, pick: Callable[[tuple[float, float]], float], samples: Samples, than: str = "on") -> str:
    off = [pick(s) for s in samples["off"]]
    on = [pick(s) for s in samples[than]]
    ratio_min, ratio_med = min(on) / min(off), statistics.median(on) / statistics.median(off)
    return (f"{label:10}{min(off) * 1000:>9.1f}{statistics.median(off) * 1000:>9.1f}"
            f"{min(on) * 1000:>9.1f}{statistics.median(on) * 1000:>9.1f}"
            f"{(ratio_min - 1) * 100:>+9.1f}%{(ratio_med - 1) * 100:>+9.1f}%")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=21)
    parser.add_argument("--work-ms", type=float, default=0.0, help="time each step's tool takes")
    parser.add_argument("--sinks", action="store_true",
                        help="also stand-ins for the tracker's sink: one dropping each event, one holding them")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 50 steps, 3 rounds")
    args = parser.parse_args()
    if args.quick:
        args.steps, args.repeat = 50, 3
    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    samples = interleaved(mission(args.steps, args.work_ms), args.repeat, args.sinks)
    print(f"{args.steps}-step mission, {args.work_ms:g} ms per step, {args.repeat} interleaved rounds (ms)")
    for than in [name for name in samples if name != "off"]:
        if than != "on":
            print(f"tracking off, with the tracker's events going to a sink that does `{than}`:")
        print(f"{'':10}{'off min':>9}{'off med':>9}{than + ' min':>9}{than + ' med':>9}{'Δ min':>10}{'Δ median':>10}")
        print(row("wall", lambda s: s[0], samples, than))
        print(row("loop CPU", lambda s: s[1], samples, than))
    print(f"load average at end: {os.getloadavg()[0]:.2f}")
    print("target: tracking adds <= 5% to the run")


if __name__ == "__main__":
    main()
