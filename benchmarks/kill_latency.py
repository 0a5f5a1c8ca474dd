"""Kill-switch latency: from a switch committed in one process to another process refusing new calls and
its running calls gone (their sandboxed processes killed).

The measuring process (a Nexus with the kill switches plugged in and watching) starts ``--running`` calls of
a process-runtime command tool that blocks for minutes, and keeps calling a cheap in-process tool of the same
namespace. A second process (this script with ``--kill``) sets a namespace switch on ``bench`` and prints the
time just *before* its commit (so the figures are upper bounds). The measuring process records when a new call
was first refused, when every running call had returned, and when every process they started was gone;
then lifts the switch and starts the next round. Prints the median, p95 and maximum of each.

    python benchmarks/kill_latency.py [--rounds 10] [--running 4] [--postgres]

Target (issue 16): switch → every process refusing and running calls gone ≤ 1 s. A process looks at the
database's ``PRAGMA data_version`` at most every ``toolnexus.governance.kills.REFRESH_INTERVAL`` (100 ms):
its check when a call comes, and a watcher thread while calls run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import anyio
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))  # state_backend, beside this script
from state_backend import state

TARGET = 1.0

# Each call marks that it started with a file of its own (a sandbox's pids repeat: it has its own namespace).
BLOCK = ("import json, os, sys, time, uuid\n"
         "args = json.load(sys.stdin)\n"
         "open(os.path.join(args['folder'], uuid.uuid4().hex), 'w').close()\n"
         "time.sleep(600)\n")


def _kill(workspace: Path) -> None:
    """The second process: set the switch and print the time just before its commit."""
    from state_backend import open_store

    from toolnexus.governance.kills import KillSwitches

    store = open_store(workspace)
    switches = KillSwitches(store)
    at = time.time()
    switches.kill("namespace", "bench", "benchmark", "bench")
    print(repr(at))
    store.close()


def _descendants() -> set[int]:
    return {p.pid for p in psutil.Process().children(recursive=True)}


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


async def _until(condition, within: float = 30.0) -> float:  # type: ignore[no-untyped-def]
    """Poll ``condition`` every millisecond; the time it first held."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit("timed out: the calls did not start, or the kill switch did not take effect")
        await anyio.sleep(0.001)
    return time.time()


class Round:
    """One round: running calls, a prober of new calls, and the times each was stopped."""

    def __init__(self, nexus, folder: Path, running: int) -> None:  # type: ignore[no-untyped-def]
        self.nexus = nexus
        self.folder = folder
        self.running = running
        self.returned: list[float] = []
        self.refused_at: float | None = None

    async def block(self) -> None:
        result = await self.nexus.acall("bench.block", folder=str(self.folder))
        assert result.error is not None and result.error.kind == "denied", result
        self.returned.append(time.time())

    async def probe(self) -> None:
        while True:
            result = await self.nexus.acall("bench.ping")
            if not result.ok:
                self.refused_at = time.time()
                return
            await anyio.sleep(0.001)

    async def run(self, workspace: Path) -> tuple[float, float, float]:
        before = _descendants()
        async with anyio.create_task_group() as group:
            for _ in range(self.running):
                group.start_soon(self.block)
            await _until(lambda: len(os.listdir(self.folder)) == self.running)
            started = sorted(_descendants() - before)
            group.start_soon(self.probe)
            killer = await anyio.run_process([sys.executable, __file__, "--kill", str(workspace)])
            at = float(killer.stdout.decode().strip())
        gone = await _until(lambda: not any(_alive(pid) for pid in started))
        assert self.refused_at is not None and len(self.returned) == self.running
        return self.refused_at - at, max(self.returned) - at, gone - at


async def _measure(workspace: Path, rounds: int, running: int) -> list[tuple[float, float, float]]:
    import toolnexus as tn
    from toolnexus.core.spec import ToolEntry, ToolSpec
    from toolnexus.governance.kills import KillSwitches
    from toolnexus.registry import spec_of

    @tn.tool(name="bench.ping", register=False)
    def ping() -> None:
        """Answer at once."""

    block = ToolSpec(name="bench.block", runtime="process",
                     input_schema={"type": "object", "properties": {"folder": {"type": "string"}}},
                     entry=ToolEntry(kind="command", argv=[sys.executable, "-c", BLOCK]))
    figures = []
    with tn.Nexus(workspace) as nexus:
        assert nexus.store is not None
        nexus.registry.register(spec_of(ping))
        nexus.registry.register(block)
        switches = KillSwitches(nexus.store, in_flight=nexus.invoker.in_flight).watch()
        checks = nexus.governance.checks  # in place of the workspace's own switches, if it has them
        checks[:] = [c for c in checks if not isinstance(c, KillSwitches)] + [switches]
        try:
            for index in range(rounds):
                folder = workspace / f"round-{index}"
                folder.mkdir()
                figures.append(await Round(nexus, folder, running).run(workspace))
                switches.unkill("bench", "bench")
        finally:
            switches.close()
    return figures


def _summary(label: str, values: list[float]) -> str:
    values = sorted(values)
    p95 = values[min(len(values) - 1, int(0.95 * len(values)))]
    return (f"  {label:<34} median {statistics.median(values) * 1000:6.1f} ms   p95 {p95 * 1000:6.1f} ms   "
            f"max {values[-1] * 1000:6.1f} ms")


def main() -> None:
    """Measure, print, and exit 1 if the slowest round misses the target."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--running", type=int, default=4, help="calls running when the switch is set")
    parser.add_argument("--postgres", action="store_true", help="the state in a PostgreSQL server of its own")
    parser.add_argument("--kill", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.kill is not None:
        _kill(args.kill)
        return
    os.environ.setdefault("TOOLNEXUS_TRACKING__ENABLED", "false")
    with state(args.postgres) as backend, tempfile.TemporaryDirectory() as tmp:
        figures = anyio.run(_measure, Path(tmp), args.rounds, args.running)
    refused, returned, gone = (list(column) for column in zip(*figures, strict=True))
    print(f"kill switch → another process ({backend}), {len(figures)} rounds, {args.running} running calls each "
          f"(target ≤ {TARGET * 1000:.0f} ms):")
    print(_summary("new calls refused", refused))
    print(_summary("running calls returned (denied)", returned))
    print(_summary("their processes gone", gone))
    if max(gone + refused + returned) > TARGET:
        sys.exit(1)


if __name__ == "__main__":
    main()
