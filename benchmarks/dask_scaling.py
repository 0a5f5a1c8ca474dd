"""Dask executor: how mission steps scale on a Dask cluster, and what dispatching a step there costs.

1. Scaling: N CPU-bound steps (default 200 of 0.2 s of CPU each, independent) through the local executor
   (in-process tools share this process's interpreter, so they take turns) and through the Dask executor on a
   real ``distributed.LocalCluster`` of 1 and of 2 worker processes: wall time, speed-up over the local
   executor, and efficiency per worker (speed-up ÷ workers).
2. Dispatch overhead: a chain of M no-op steps (each waits for the one before, so per-step latency is what is
   measured) through the local executor and through the Dask executor on the 2-worker cluster, next to Dask's
   own ``client.submit(f).result()`` round trip of a no-op function measured on the same cluster in the same
   run. Overhead per step = Dask executor's per-step time − local executor's − Dask's round trip.
   Target: ≤ 2 ms.

    python benchmarks/dask_scaling.py [--steps 200] [--seconds 0.2] [--chain 200] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # the workers import bench_tools from here (they inherit sys.path)
    sys.path.insert(0, str(HERE))

TARGET_OVERHEAD_MS = 2.0


def burn_mission(steps: int, seconds: float) -> str:
    lines = [f"  - {{id: s{i}, uses: bench.burn, with: {{seconds: {seconds}}}}}" for i in range(steps)]
    return "mission: burn\nconcurrency: 64\nsteps:\n" + "\n".join(lines) + "\n"


def chain_mission(steps: int) -> str:
    lines = ["  - {id: s0, uses: bench.noop}"]
    lines += [f"  - {{id: s{i}, uses: bench.noop, with: {{after: '${{{{ steps.s{i - 1}.outputs }}}}'}}}}"
              for i in range(1, steps)]
    return "mission: chain\nsteps:\n" + "\n".join(lines) + "\n"


def nexus_for(workspace: str, executor: str) -> Any:
    import bench_tools

    import toolnexus as tn
    from toolnexus.registry import spec_of

    nexus = tn.Nexus(workspace, executor=executor, overrides={"tracking.enabled": False})
    for fn in (bench_tools.noop, bench_tools.burn):
        nexus.registry.register(spec_of(fn))
    return nexus


def timed_run(nexus: Any, mission: str) -> float:
    started = time.perf_counter()
    result = nexus.run(mission)
    elapsed = time.perf_counter() - started
    if result.status.value != "succeeded":
        raise RuntimeError(f"run {result.status.value}: {result.error}")
    return elapsed


def _noop() -> None:
    return None


def submit_round_trip(client: Any, times: int) -> list[float]:
    """Dask's own round trip: submit a no-op function and wait for its result, one at a time."""
    laps = []
    for i in range(times):
        started = time.perf_counter()
        client.submit(_noop, key=f"bench-noop-{os.getpid()}-{i}-{time.monotonic_ns()}", pure=False).result()
        laps.append(time.perf_counter() - started)
    return laps


def scaling(workspace: str, args: argparse.Namespace) -> None:
    from distributed import LocalCluster

    mission = burn_mission(args.steps, args.seconds)
    print(f"scaling: {args.steps} steps of {args.seconds:g} s of CPU each, independent")
    with nexus_for(workspace, "local") as nexus:
        local = timed_run(nexus, mission)
    print(f"  {'local executor':<24} {local:7.1f} s")
    for workers in args.workers:
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster, \
                nexus_for(workspace, f"dask://{cluster.scheduler_address}") as nexus:
            timed_run(nexus, burn_mission(workers * 2, 0.01))  # warm: the workers' runtimes built
            wall = timed_run(nexus, mission)
        speedup = local / wall
        print(f"  {f'dask, {workers} worker' + ('s' if workers > 1 else ''):<24} {wall:7.1f} s   speed-up "
              f"{speedup:4.2f}×   efficiency per worker {speedup / workers:5.1%}")


def overhead(workspace: str, args: argparse.Namespace) -> bool:
    from distributed import Client, LocalCluster

    mission = chain_mission(args.chain)
    print(f"dispatch overhead: a chain of {args.chain} no-op steps, {args.repeat} runs each (median per step)")
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster, \
            Client(cluster, set_as_default=False) as client, \
            nexus_for(workspace, "local") as local, \
            nexus_for(workspace, f"dask://{cluster.scheduler_address}") as remote:
        timed_run(remote, chain_mission(10))
        submit_round_trip(client, 20)
        local_laps, dask_laps, trips = [], [], []
        for _ in range(args.repeat):  # interleaved: drift lands on all three alike
            local_laps.append(timed_run(local, mission) / args.chain)
            dask_laps.append(timed_run(remote, mission) / args.chain)
            trips.extend(submit_round_trip(client, args.chain))
    local_ms = statistics.median(local_laps) * 1e3
    dask_ms = statistics.median(dask_laps) * 1e3
    trip_ms = statistics.median(trips) * 1e3
    extra = dask_ms - local_ms - trip_ms
    print(f"  local executor            {local_ms:7.3f} ms/step")
    print(f"  dask executor             {dask_ms:7.3f} ms/step   (min {min(dask_laps) * 1e3:.3f})")
    print(f"  client.submit round trip  {trip_ms:7.3f} ms        (min {min(trips) * 1e3:.3f})")
    ok = extra <= TARGET_OVERHEAD_MS
    print(f"  overhead over Dask's round trip: {extra:.3f} ms/step (target ≤ {TARGET_OVERHEAD_MS:g} ms): "
          f"{'ok' if ok else 'OVER TARGET'}")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=0.2)
    parser.add_argument("--workers", type=lambda text: [int(w) for w in text.split(",")], default=[1, 2])
    parser.add_argument("--chain", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-scaling", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workspace:
        if not args.skip_scaling:
            scaling(workspace, args)
        ok = overhead(workspace, args)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
