"""WAL growth: how big the state store's write-ahead log gets during a long run, and after ``close()``.

Runs a chain of no-op steps (default 100,000; each step is committed to the state store as it
finishes) with the state store on and MLflow tracking off, while a thread polls the size of
``state.db-wal`` with ``os.stat``. Prints the peak size of the log during the run, its size after
``Nexus.close()``, the database's size and the run's time per step.

    python benchmarks/wal_growth.py [--steps 100000] [--poll-ms 5]

The target (issue 14): the log stays ≤ 64 MB during the run and is truncated at close.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # bench_tools (the no-op tool) and engine_overhead (the DAG builders)
    sys.path.insert(0, str(HERE))

TARGET_PEAK_BYTES = 64 * 2**20


class WalSampler:
    """A thread that records the largest size the file at ``path`` reaches while it runs."""

    def __init__(self, path: Path, interval: float) -> None:
        self.path = path
        self.interval = interval
        self.peak = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="wal-sampler", daemon=True)

    def _poll(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, size_of(self.path))
            self.samples += 1
            self._stop.wait(self.interval)

    def __enter__(self) -> WalSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, size_of(self.path))


def size_of(path: Path) -> int:
    try:
        return os.stat(path).st_size
    except FileNotFoundError:
        return 0


def mib(size: int) -> str:
    return f"{size / 2**20:,.1f} MiB"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=100_000, help="steps in the chain (default 100,000)")
    parser.add_argument("--poll-ms", type=float, default=5.0, help="how often the WAL's size is sampled")
    args = parser.parse_args(argv)

    import anyio
    import bench_tools
    from engine_overhead import chain, mission_yaml

    import toolnexus
    from toolnexus.registry import spec_of

    with tempfile.TemporaryDirectory(prefix="toolnexus-wal-") as tmp:
        workspace = Path(tmp)
        nexus = toolnexus.Nexus(workspace, overrides={"tracking.enabled": False})
        assert nexus.store is not None
        spec = spec_of(bench_tools.noop)
        assert spec is not None
        nexus.registry.register(spec)
        db = nexus.store.path
        wal = db.with_name(db.name + "-wal")
        print(f"compiling a {args.steps:,}-step chain …", flush=True)
        plan = nexus.compile(mission_yaml("wal-growth", chain(args.steps), concurrency=1))
        print("running …", flush=True)
        with WalSampler(wal, args.poll_ms / 1000) as sampler:
            started = time.perf_counter()
            result = anyio.run(nexus.arun, plan)
            elapsed = time.perf_counter() - started
            at_end = size_of(wal)
        nexus.close()
        after_close = size_of(wal)
        database = size_of(db)
    if result.status.value != "succeeded":
        print(f"the run {result.status.value}: {result.error}", file=sys.stderr)
        return 1
    ok = sampler.peak <= TARGET_PEAK_BYTES and after_close == 0
    print(f"steps                       {args.steps:>12,}")
    print(f"run time                    {elapsed:>11.1f} s  ({elapsed / args.steps * 1000:.3f} ms/step)")
    print(f"peak WAL during the run     {mib(sampler.peak):>14}  ({sampler.samples:,} samples)")
    print(f"WAL when the run returned   {mib(at_end):>14}")
    print(f"WAL after close()           {mib(after_close):>14}")
    print(f"database after close()      {mib(database):>14}")
    print(f"target: peak ≤ {mib(TARGET_PEAK_BYTES)}, 0 after close: {'ok' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
